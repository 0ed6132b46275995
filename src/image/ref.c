#include "image/ref.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
static bool is_word(char c) { return is_alnum(c) || c == '_'; }

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool component_valid(const char *s, size_t n)
{
	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (is_lower_alnum(s[i]))
			continue;
		size_t j = i;
		while (j < n && !is_lower_alnum(s[j]))
			j++;
		size_t len = j - i;
		const char *sep = s + i;
		bool ok = (len == 1 && (*sep == '.' || *sep == '_' || *sep == '-')) ||
			  (len == 2 && sep[0] == '_' && sep[1] == '_');
		if (!ok) {
			ok = true;
			for (size_t k = 0; k < len; k++)
				ok = ok && sep[k] == '-';
		}
		if (!ok)
			return false;
		i = j - 1;
	}
	return true;
}

/* host[:port], host = labels of [A-Za-z0-9-] separated by '.' */
static bool domain_valid(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t hn = colon ? (size_t)(colon - s) : n;
	if (hn == 0 || hn > IMG_REF_DOMAIN_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < hn; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(s[i]) || (s[i] == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	if (label == 0 || s[hn - 1] == '-')
		return false;
	if (colon) {
		size_t pn = n - hn - 1;
		if (pn == 0 || pn > 5)
			return false;
		unsigned port = 0;
		for (size_t i = hn + 1; i < n; i++) {
			if (s[i] < '0' || s[i] > '9')
				return false;
			port = port * 10 + (unsigned)(s[i] - '0');
		}
		if (port == 0 || port > 65535)
			return false;
	}
	return true;
}

static bool tag_valid(const char *s, size_t n)
{
	if (n == 0 || n > IMG_REF_TAG_MAX || !is_word(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

static int bad(struct lc_err *e, const char *s, const char *why)
{
	return lc_err_setx(e, EINVAL, "invalid reference \"%.*s\": %s", 200, s, why);
}

static int parse_path(const char *s, const char *p, size_t n, struct img_ref *r, struct lc_err *e)
{
	size_t off = 0;
	if (r->domain[0] == 0) {
		strcpy(r->domain, IMG_REF_DEFAULT_DOMAIN);
		if (!memchr(p, '/', n)) {
			strcpy(r->path, "library/");
			off = 8;
		}
	}
	if (off + n > IMG_REF_PATH_MAX)
		return bad(e, s, "repository name too long");
	for (size_t i = 0, start = 0; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		if (!component_valid(p + start, i - start)) {
			for (size_t k = start; k < i; k++)
				if (p[k] >= 'A' && p[k] <= 'Z')
					return bad(e, s, "repository name must be lowercase");
			return bad(e, s, "bad repository name");
		}
		start = i + 1;
	}
	memcpy(r->path + off, p, n);
	r->path[off + n] = 0;
	return 0;
}

int img_ref_parse(const char *s, struct img_ref *r, struct lc_err *e)
{
	memset(r, 0, sizeof(*r));
	if (!s || !*s)
		return bad(e, "", "empty");
	size_t len = strnlen(s, IMG_REF_MAX + 1);
	if (len > IMG_REF_MAX)
		return bad(e, s, "too long");
	/* digest part */
	size_t end = len;
	const char *at = memchr(s, '@', len);
	if (at) {
		if (!img_digest_valid(at + 1))
			return bad(e, s, "digest must be sha256:<64 lowercase hex digits>");
		memcpy(r->digest, at + 1, IMG_DIGEST_LEN);
		end = (size_t)(at - s);
	}
	/* domain: text before the first '/' if it looks like a host */
	size_t start = 0;
	const char *slash = memchr(s, '/', end);
	if (slash) {
		size_t dn = (size_t)(slash - s);
		bool host = memchr(s, '.', dn) || memchr(s, ':', dn) || (dn == 9 && !memcmp(s, "localhost", 9));
		if (host) {
			if (dn > IMG_REF_DOMAIN_MAX || !domain_valid(s, dn))
				return bad(e, s, "bad registry host");
			memcpy(r->domain, s, dn);
			r->domain[dn] = 0;
			if (!strcmp(r->domain, "index.docker.io"))
				strcpy(r->domain, IMG_REF_DEFAULT_DOMAIN);
			start = dn + 1;
		}
	}
	/* tag: after the last ':' that follows the last '/' */
	size_t pend = end;
	for (size_t i = end; i > start; i--) {
		if (s[i - 1] == '/')
			break;
		if (s[i - 1] == ':') {
			if (!tag_valid(s + i, end - i))
				return bad(e, s, "bad tag");
			memcpy(r->tag, s + i, end - i);
			r->tag[end - i] = 0;
			pend = i - 1;
			break;
		}
	}
	int ret = parse_path(s, s + start, pend - start, r, e);
	if (ret < 0)
		return ret;
	if (!r->tag[0] && !r->digest[0])
		strcpy(r->tag, IMG_REF_DEFAULT_TAG);
	return 0;
}

static int out_fmt(char *out, size_t n, int w)
{
	return (w < 0 || (size_t)w >= n) ? -ENAMETOOLONG : 0;
}

int img_ref_repo(const struct img_ref *r, char *out, size_t n)
{
	return out_fmt(out, n, snprintf(out, n, "%s/%s", r->domain, r->path));
}

int img_ref_name(const struct img_ref *r, char *out, size_t n)
{
	if (r->tag[0])
		return out_fmt(out, n, snprintf(out, n, "%s/%s:%s", r->domain, r->path, r->tag));
	return out_fmt(out, n, snprintf(out, n, "%s/%s@%s", r->domain, r->path, r->digest));
}

int img_ref_familiar_repo(const struct img_ref *r, char *out, size_t n)
{
	if (strcmp(r->domain, IMG_REF_DEFAULT_DOMAIN))
		return img_ref_repo(r, out, n);
	const char *p = r->path;
	if (!strncmp(p, "library/", 8) && !strchr(p + 8, '/'))
		p += 8;
	return out_fmt(out, n, snprintf(out, n, "%s", p));
}

const char *img_ref_api_host(const struct img_ref *r)
{
	return strcmp(r->domain, IMG_REF_DEFAULT_DOMAIN) ? r->domain : "registry-1.docker.io";
}
