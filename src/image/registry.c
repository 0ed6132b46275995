#include "image/registry.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "image/layer.h"
#include "image/oci.h"
#include "image/ref.h"
#include "util/cleanup.h"

/* --- WWW-Authenticate ---------------------------------------------------- */

static int set_param(struct img_challenge *c, const char *k, size_t kn, const char *v, size_t vn)
{
	char *dst = NULL;
	size_t cap = 0;
	if (kn == 5 && !strncasecmp(k, "realm", 5))
		dst = c->realm, cap = sizeof(c->realm);
	else if (kn == 7 && !strncasecmp(k, "service", 7))
		dst = c->service, cap = sizeof(c->service);
	else if (kn == 5 && !strncasecmp(k, "scope", 5))
		dst = c->scope, cap = sizeof(c->scope);
	if (!dst)
		return 0; /* unknown parameters are ignored */
	if (vn >= cap)
		return -EINVAL;
	memcpy(dst, v, vn);
	dst[vn] = 0;
	return 0;
}

int img_parse_challenge(const char *h, size_t n, struct img_challenge *c)
{
	memset(c, 0, sizeof(*c));
	if (n > IMG_CHALLENGE_MAX)
		return -EINVAL;
	size_t i = 0;
	while (i < n && h[i] == ' ')
		i++;
	size_t s = i;
	while (i < n && isalpha((unsigned char)h[i]))
		i++;
	if (i - s == 6 && !strncasecmp(h + s, "bearer", 6))
		strcpy(c->scheme, "bearer");
	else if (i - s == 5 && !strncasecmp(h + s, "basic", 5))
		strcpy(c->scheme, "basic");
	else
		return -EINVAL;
	while (i < n) {
		while (i < n && (h[i] == ' ' || h[i] == ','))
			i++;
		if (i >= n || h[i] == '\r' || h[i] == '\n')
			break;
		size_t ks = i;
		while (i < n && (isalnum((unsigned char)h[i]) || h[i] == '_' || h[i] == '-'))
			i++;
		size_t kn = i - ks;
		if (kn == 0 || i >= n || h[i] != '=')
			return -EINVAL;
		i++;
		char v[1024];
		size_t vn = 0;
		if (i < n && h[i] == '"') {
			for (i++; i < n && h[i] != '"'; i++) {
				if (h[i] == '\\' && i + 1 < n)
					i++;
				if (vn + 1 >= sizeof(v))
					return -EINVAL;
				v[vn++] = h[i];
			}
			if (i >= n)
				return -EINVAL; /* unterminated quote */
			i++;
		} else {
			for (; i < n && h[i] != ',' && h[i] != ' ' && h[i] != '\r' && h[i] != '\n'; i++) {
				if (vn + 1 >= sizeof(v))
					return -EINVAL;
				v[vn++] = h[i];
			}
		}
		if (set_param(c, h + ks, kn, v, vn) < 0)
			return -EINVAL;
	}
	if (!strcmp(c->scheme, "bearer") && strncmp(c->realm, "https://", 8) && strncmp(c->realm, "http://", 7))
		return -EINVAL;
	return 0;
}

/* --- HTTP ---------------------------------------------------------------- */

struct reg {
	const struct img_pull_opts *o;
	char host[IMG_REF_DOMAIN_MAX + 32];
	char base[1024]; /* scheme://host/v2/path */
	char scope_path[IMG_REF_PATH_MAX + 1];
	struct img_cred cred;
	bool have_cred;
	char authz[IMG_TOKEN_MAX + 64]; /* "Authorization: ..." or "" */
};

struct membuf {
	char *p;
	size_t n, max;
	bool overflow;
};

struct resp {
	long status;
	char content_type[IMG_MT_MAX + 1];
	char challenge[IMG_CHALLENGE_MAX + 1];
};

static size_t mem_write(char *ptr, size_t sz, size_t nm, void *arg)
{
	struct membuf *m = arg;
	size_t n = sz * nm;
	if (m->n + n > m->max) {
		m->overflow = true;
		return 0;
	}
	char *p = realloc(m->p, m->n + n + 1);
	if (!p)
		return 0;
	memcpy(p + m->n, ptr, n);
	m->p = p;
	m->n += n;
	p[m->n] = 0;
	return n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	if (n <= nl || strncasecmp(line, name, nl))
		return;
	line += nl;
	n -= nl;
	while (n && *line == ' ')
		line++, n--;
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	if (n >= cap)
		return;
	memcpy(out, line, n);
	out[n] = 0;
}

static size_t header_cb(char *line, size_t sz, size_t nm, void *arg)
{
	struct resp *r = arg;
	size_t n = sz * nm;
	header_value(line, n, "content-type:", r->content_type, sizeof(r->content_type));
	header_value(line, n, "www-authenticate:", r->challenge, sizeof(r->challenge));
	return n;
}

static void setup(const struct reg *g, CURL *h, const char *url, struct curl_slist *hdrs)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, g->o->insecure ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L); /* stalled for 60 s = failed */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "lcvm/0.1");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (g->o->ca_cert)
		curl_easy_setopt(h, CURLOPT_CAINFO, g->o->ca_cert);
	if (hdrs)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
}

static struct curl_slist *headers(const struct reg *g, const char *accept)
{
	struct curl_slist *l = NULL;
	if (accept) {
		char a[600];
		snprintf(a, sizeof(a), "Accept: %s", accept);
		l = curl_slist_append(l, a);
	}
	if (g->authz[0])
		l = curl_slist_append(l, g->authz);
	return l;
}

/* One GET into memory. */
static int get_once(const struct reg *g, const char *url, const char *accept, size_t max, struct membuf *body,
		    struct resp *r, struct lc_err *e)
{
	CURL *h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	struct curl_slist *hd = headers(g, accept);
	memset(r, 0, sizeof(*r));
	free(body->p);
	*body = (struct membuf){ .max = max };
	setup(g, h, url, hd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mem_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	CURLcode cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hd);
	if (body->overflow)
		return lc_err_setx(e, EFBIG, "%s: response larger than %zu bytes", url, max);
	if (cc != CURLE_OK)
		return lc_err_setx(e, EIO, "%s: %s", url, curl_easy_strerror(cc));
	return 0;
}

static int fetch_token(struct reg *g, const struct img_challenge *ch, struct lc_err *e)
{
	CURL *h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	char *svc = curl_easy_escape(h, ch->service, 0), *scope = curl_easy_escape(h, ch->scope, 0);
	char url[2048];
	snprintf(url, sizeof(url), "%s%sservice=%s%s%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?", svc ? svc : "",
		 ch->scope[0] ? "&scope=" : "", ch->scope[0] && scope ? scope : "");
	curl_free(svc);
	curl_free(scope);
	curl_easy_cleanup(h);
	struct membuf body = { .max = IMG_TOKEN_MAX };
	struct resp r = { 0 }, tr = { 0 };
	g->authz[0] = 0;
	CURL *th = curl_easy_init();
	if (!th)
		return -ENOMEM;
	setup(g, th, url, NULL);
	if (g->have_cred) { /* credentials go to the token server as basic auth */
		curl_easy_setopt(th, CURLOPT_USERNAME, g->cred.user);
		curl_easy_setopt(th, CURLOPT_PASSWORD, g->cred.pass);
		curl_easy_setopt(th, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	}
	curl_easy_setopt(th, CURLOPT_WRITEFUNCTION, mem_write);
	curl_easy_setopt(th, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(th, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(th, CURLOPT_HEADERDATA, &tr);
	CURLcode cc = curl_easy_perform(th);
	curl_easy_getinfo(th, CURLINFO_RESPONSE_CODE, &r.status);
	curl_easy_cleanup(th);
	int ret = 0;
	if (cc != CURLE_OK)
		ret = lc_err_setx(e, EIO, "token server %s: %s", ch->realm, curl_easy_strerror(cc));
	else if (r.status == 401 || r.status == 403)
		ret = lc_err_setx(e, EACCES, "token server %s refused %s (run 'lcvm login %s')", ch->realm,
				  g->have_cred ? "the stored credentials" : "anonymous access", g->host);
	else if (r.status != 200)
		ret = lc_err_setx(e, EIO, "token server %s answered HTTP %ld", ch->realm, r.status);
	json_t *j = ret == 0 ? json_loadb(body.p, body.n, 0, NULL) : NULL;
	const char *tok = json_string_value(json_object_get(j, "token"));
	if (!tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (ret == 0 && (!tok || strlen(tok) > IMG_TOKEN_MAX || strpbrk(tok, "\r\n")))
		ret = lc_err_setx(e, EPROTO, "token server %s sent no usable token", ch->realm);
	if (ret == 0)
		snprintf(g->authz, sizeof(g->authz), "Authorization: Bearer %s", tok);
	json_decref(j);
	free(body.p);
	return ret;
}

static int basic_authz(struct reg *g, struct lc_err *e)
{
	if (!g->have_cred)
		return lc_err_setx(e, EACCES, "%s requires authentication: run 'lcvm login %s'", g->host, g->host);
	char plain[2 * IMG_AUTH_FIELD_MAX + 2];
	int n = snprintf(plain, sizeof(plain), "%s:%s", g->cred.user, g->cred.pass);
	char b64[4 * sizeof(plain) / 3 + 8];
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)plain, n);
	explicit_bzero(plain, sizeof(plain));
	snprintf(g->authz, sizeof(g->authz), "Authorization: Basic %s", b64);
	return 0;
}

/* GET with the auth dance and retries on transport errors and 5xx. */
static int get(struct reg *g, const char *url, const char *accept, size_t max, struct membuf *body, struct resp *r,
	       struct lc_err *e)
{
	bool authed = false;
	int ret = 0;
	for (int attempt = 0; attempt < IMG_PULL_RETRIES; attempt++) {
		ret = get_once(g, url, accept, max, body, r, e);
		if (ret == -EFBIG)
			return ret;
		if (ret == 0 && r->status == 401 && !authed) {
			struct img_challenge ch;
			if (img_parse_challenge(r->challenge, strlen(r->challenge), &ch) < 0)
				return lc_err_setx(e, EACCES, "%s: unauthorized, and the challenge is unusable", url);
			ret = !strcmp(ch.scheme, "bearer") ? fetch_token(g, &ch, e) : basic_authz(g, e);
			if (ret < 0)
				return ret;
			authed = true;
			attempt--;
			continue;
		}
		if (ret == 0 && r->status < 500)
			break;
	}
	if (ret < 0)
		return ret;
	if (r->status == 401 || r->status == 403)
		return lc_err_setx(e, EACCES, "%s: access denied (HTTP %ld)", url, r->status);
	if (r->status == 404)
		return lc_err_setx(e, ENOENT, "%s: not found", url);
	if (r->status != 200)
		return lc_err_setx(e, EIO, "%s: HTTP %ld", url, r->status);
	return 0;
}

static int reg_init(struct reg *g, const char *host, const char *path, const char *data_dir,
		    const struct img_pull_opts *o)
{
	memset(g, 0, sizeof(*g));
	g->o = o;
	snprintf(g->host, sizeof(g->host), "%s", host);
	snprintf(g->scope_path, sizeof(g->scope_path), "%s", path ? path : "");
	const char *api = !strcmp(host, IMG_REF_DEFAULT_DOMAIN) ? "registry-1.docker.io" : host;
	int w = snprintf(g->base, sizeof(g->base), "%s://%s/v2/%s", o->insecure ? "http" : "https", api, path ? path : "");
	if (w < 0 || (size_t)w >= sizeof(g->base))
		return -ENAMETOOLONG;
	if (data_dir)
		g->have_cred = img_auth_get(data_dir, host, &g->cred) == 0;
	return 0;
}

/* --- pull ---------------------------------------------------------------- */

static int get_manifest(struct reg *g, const char *reference, const char *expect, struct membuf *body,
			struct resp *r, char digest[IMG_DIGEST_LEN + 1], struct lc_err *e)
{
	char url[1400];
	snprintf(url, sizeof(url), "%s/manifests/%s", g->base, reference);
	int ret = get(g, url, IMG_ACCEPT_MANIFESTS, IMG_MANIFEST_MAX, body, r, e);
	if (ret < 0)
		return ret;
	if ((ret = img_sha_buf(body->p, body->n, digest)) < 0)
		return ret;
	if (expect && strcmp(expect, digest))
		return lc_err_setx(e, EILSEQ, "manifest digest mismatch: expected %s, got %s", expect, digest);
	return 0;
}

struct dl {
	CURL *h;
	const struct img_desc *d;
	struct img_blob_writer w;
	int attempts;
	bool failed;
	struct lc_err err;
};

static size_t dl_write(char *p, size_t sz, size_t nm, void *arg)
{
	struct dl *d = arg;
	long status = 0;
	curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return sz * nm; /* error bodies and redirects are not the blob */
	if (img_blob_write(&d->w, p, sz * nm, &d->err) < 0) {
		d->failed = true;
		return 0;
	}
	return sz * nm;
}

static int dl_start(struct reg *g, struct img_txn *t, CURLM *m, struct dl *d, struct curl_slist *hd,
		    struct lc_err *e)
{
	char url[1400];
	snprintf(url, sizeof(url), "%s/blobs/%s", g->base, d->d->digest);
	int ret = img_blob_open(t, &d->w, d->d->size, e);
	if (ret < 0)
		return ret;
	d->failed = false;
	d->h = curl_easy_init();
	if (!d->h)
		return -ENOMEM;
	setup(g, d->h, url, hd);
	curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(d->h, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(d->h, CURLOPT_PRIVATE, d);
	curl_multi_add_handle(m, d->h);
	d->attempts++;
	return 0;
}

static void progress(const struct reg *g, struct dl *dls, size_t n, bool final)
{
	FILE *f = g->o->progress;
	if (!f || !g->o->tty)
		return;
	uint64_t got = 0, total = 0;
	size_t done = 0;
	for (size_t i = 0; i < n; i++) {
		got += dls[i].w.size;
		total += dls[i].d->size;
		done += dls[i].h == NULL && dls[i].attempts > 0;
	}
	fprintf(f, "\r\033[Kdownloading %zu/%zu layers: %.1f / %.1f MB", done, n, got / 1e6, total / 1e6);
	if (final)
		fputc('\n', f);
	fflush(f);
}

/* Downloads the missing blobs in parallel, each verified and staged. */
static int download(struct reg *g, struct img_txn *t, const struct img_desc *ds, size_t n, struct lc_err *e)
{
	struct dl *dls = calloc(n + 1, sizeof(*dls));
	CURLM *m = curl_multi_init();
	struct curl_slist *hd = headers(g, NULL);
	int ret = (!dls || !m) ? -ENOMEM : 0;
	size_t next = 0, running_n = 0, nd = 0;
	for (size_t i = 0; dls && i < n; i++)
		if (!img_txn_has_blob(t, ds[i].digest))
			dls[nd++].d = &ds[i];
	if (m)
		curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)IMG_PULL_PARALLEL);
	while (ret == 0 && (next < nd || running_n)) {
		while (ret == 0 && next < nd && running_n < IMG_PULL_PARALLEL) {
			ret = dl_start(g, t, m, &dls[next++], hd, e);
			running_n++;
		}
		int still;
		curl_multi_perform(m, &still);
		CURLMsg *msg;
		int left;
		while (ret == 0 && (msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct dl *d;
			long status = 0;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&d);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			CURLcode cc = msg->data.result;
			curl_multi_remove_handle(m, d->h);
			curl_easy_cleanup(d->h);
			d->h = NULL;
			running_n--;
			int r = 0;
			if (d->failed)
				r = lc_err_wrap(&d->err, -EILSEQ, "blob %.19s", d->d->digest);
			else if (cc != CURLE_OK)
				r = lc_err_setx(&d->err, EIO, "blob %.19s: %s", d->d->digest, curl_easy_strerror(cc));
			else if (status != 200)
				r = lc_err_setx(&d->err, EIO, "blob %.19s: HTTP %ld", d->d->digest, status);
			else if (d->w.size != d->d->size)
				r = lc_err_setx(&d->err, EILSEQ, "blob %.19s: got %llu bytes, expected %llu", d->d->digest,
						(unsigned long long)d->w.size, (unsigned long long)d->d->size);
			if (r == 0) {
				uint64_t sz = d->w.size;
				r = img_blob_close(t, &d->w, d->d->digest, NULL, &d->err);
				d->w.size = sz;
				if (r == 0 && g->o->progress && !g->o->tty)
					fprintf(g->o->progress, "%s: downloaded %llu bytes\n", d->d->digest,
						(unsigned long long)sz);
			} else {
				img_blob_discard(&d->w);
			}
			if (r < 0 && d->attempts < IMG_PULL_RETRIES && status < 400) {
				ret = dl_start(g, t, m, d, hd, e); /* retry from scratch */
				running_n++;
			} else if (r < 0) {
				*e = d->err;
				ret = r;
			}
		}
		progress(g, dls, nd, false);
		if (ret == 0 && (next < nd || running_n))
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	if (nd)
		progress(g, dls, nd, true);
	for (size_t i = 0; dls && i < nd; i++) {
		if (dls[i].h) {
			curl_multi_remove_handle(m, dls[i].h);
			curl_easy_cleanup(dls[i].h);
			img_blob_discard(&dls[i].w);
		}
	}
	curl_slist_free_all(hd);
	if (m)
		curl_multi_cleanup(m);
	free(dls);
	return ret;
}

static int pull_manifest(struct reg *g, struct img_txn *t, const struct img_ref *ref, char md[IMG_DIGEST_LEN + 1],
			 struct lc_err *e)
{
	struct membuf body = { 0 };
	struct resp r;
	enum img_doc_kind kind;
	int ret = get_manifest(g, ref->digest[0] ? ref->digest : ref->tag, ref->digest[0] ? ref->digest : NULL, &body,
			       &r, md, e);
	if (ret == 0)
		ret = img_doc_kind(body.p, body.n, r.content_type, &kind, e);
	if (ret == 0 && kind == IMG_DOC_INDEX) {
		struct img_index ix;
		const struct img_desc *pick;
		if ((ret = img_index_parse(body.p, body.n, &ix, e)) < 0)
			goto out;
		if ((ret = img_index_pick(&ix, "linux", "amd64", &pick, e)) == 0) {
			char want[IMG_DIGEST_LEN + 1];
			strcpy(want, pick->digest);
			ret = get_manifest(g, want, want, &body, &r, md, e);
		}
		img_index_free(&ix);
		if (ret == 0 && (ret = img_doc_kind(body.p, body.n, r.content_type, &kind, e)) == 0 && kind != IMG_DOC_MANIFEST)
			ret = lc_err_setx(e, EPROTO, "manifest list entry is not a manifest");
	}
	if (ret == 0)
		ret = img_txn_put(t, body.p, body.n, NULL, e);
out:
	free(body.p);
	return ret;
}

static int pull_config(struct reg *g, struct img_txn *t, const struct img_desc *d, struct lc_err *e)
{
	if (img_txn_has_blob(t, d->digest))
		return 0;
	if (d->size > IMG_CONFIG_MAX)
		return lc_err_setx(e, EFBIG, "image config too large");
	char url[1400], got[IMG_DIGEST_LEN + 1];
	snprintf(url, sizeof(url), "%s/blobs/%s", g->base, d->digest);
	struct membuf body = { 0 };
	struct resp r;
	int ret = get(g, url, NULL, IMG_CONFIG_MAX, &body, &r, e);
	if (ret == 0 && (ret = img_txn_put(t, body.p, body.n, got, e)) == 0 && strcmp(got, d->digest))
		ret = lc_err_setx(e, EILSEQ, "image config digest mismatch: expected %s, got %s", d->digest, got);
	free(body.p);
	return ret;
}

static int convert_layers(const struct img_store *s, const char *md, const struct img_pull_opts *o, struct lc_err *e)
{
	cleanup_free char *buf = NULL, *cbuf = NULL;
	size_t n, cn;
	struct img_manifest m;
	struct img_config c;
	int ret = img_store_read_blob(s, md, IMG_MANIFEST_MAX, &buf, &n, e);
	if (ret < 0 || (ret = img_manifest_parse(buf, n, &m, e)) < 0)
		return ret;
	if ((ret = img_store_read_blob(s, m.config.digest, IMG_CONFIG_MAX, &cbuf, &cn, e)) == 0 &&
	    (ret = img_config_parse(cbuf, cn, &c, e)) == 0) {
		for (size_t i = 0; i < m.nlayers && i < c.ndiff_ids && ret == 0; i++) {
			char p[PATH_MAX];
			ret = img_layer_ensure(s, c.diff_ids[i], m.layers[i].digest, p, sizeof(p), e);
			if (ret == 0 && o->progress)
				fprintf(o->progress, "%s: layer disk ready\n", c.diff_ids[i]);
		}
		img_config_free(&c);
	}
	img_manifest_free(&m);
	return ret;
}

int img_pull(const struct img_store *s, const char *refstr, const struct img_pull_opts *o,
	     char id_out[IMG_DIGEST_LEN + 1], struct lc_err *e)
{
	struct img_ref ref;
	struct reg *g = malloc(sizeof(*g));
	int ret = img_ref_parse(refstr, &ref, e);
	if (!g)
		return -ENOMEM;
	if (ret < 0 || (ret = reg_init(g, ref.domain, ref.path, s->data, o)) < 0) {
		free(g);
		return ret;
	}
	struct img_txn t;
	if ((ret = img_txn_begin(s, &t, e)) < 0) {
		free(g);
		return ret;
	}
	char md[IMG_DIGEST_LEN + 1], name[IMG_REF_MAX + 16];
	cleanup_free char *buf = NULL;
	size_t n;
	struct img_manifest m = { 0 };
	img_ref_name(&ref, name, sizeof(name));
	if ((ret = pull_manifest(g, &t, &ref, md, e)) < 0 || (ret = img_txn_read_blob(&t, md, IMG_MANIFEST_MAX, &buf, &n, e)) < 0 ||
	    (ret = img_manifest_parse(buf, n, &m, e)) < 0 || (ret = pull_config(g, &t, &m.config, e)) < 0 ||
	    (ret = download(g, &t, m.layers, m.nlayers, e)) < 0 || (ret = img_txn_name(&t, name, md, e)) < 0) {
		img_txn_abort(&t);
		goto out;
	}
	if (id_out)
		strcpy(id_out, m.config.digest);
	if ((ret = img_txn_commit(&t, e)) < 0)
		goto out;
	if (o->progress)
		fprintf(o->progress, "Digest: %s\n", md);
	if (!o->no_convert)
		ret = convert_layers(s, md, o, e);
out:
	img_manifest_free(&m);
	explicit_bzero(g, sizeof(*g));
	free(g);
	return ret < 0 ? lc_err_wrap(e, ret, "pull %s", refstr) : 0;
}

int img_login_check(const char *host, const struct img_cred *c, const struct img_pull_opts *o, struct lc_err *e)
{
	struct reg *g = malloc(sizeof(*g));
	if (!g)
		return -ENOMEM;
	int ret = reg_init(g, host, NULL, NULL, o);
	if (ret == 0) {
		g->cred = *c;
		g->have_cred = true;
		struct membuf body = { 0 };
		struct resp r;
		/* /v2/ challenges without a scope; the token server checks the password */
		ret = get(g, g->base, NULL, IMG_MANIFEST_MAX, &body, &r, e);
		free(body.p);
	}
	explicit_bzero(g, sizeof(*g));
	free(g);
	return ret;
}
