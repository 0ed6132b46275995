#include "monitor/spec.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void mon_spec_free(struct mon_spec *s)
{
	free(s->id);
	free(s->name);
	free(s->image);
	free(s->image_id);
	strv_free(s->exposed_ports);
	free(s->user);
	free(s->scratch);
	strv_free(s->args);
	strv_free(s->env);
	free(s->cwd);
	free(s->hostname);
	for (size_t i = 0; i < s->nlayers; i++) {
		free(s->layers[i].path);
		free(s->layers[i].fstype);
	}
	free(s->layers);
	for (size_t i = 0; i < s->nmounts; i++) {
		free(s->mounts[i].source);
		free(s->mounts[i].target);
	}
	free(s->mounts);
	free(s->kernel);
	free(s->initrd);
	memset(s, 0, sizeof(*s));
}

static const char *accel_names[] = { "auto", "kvm", "tcg" };

const char *mon_accel_name(enum mon_accel a)
{
	return (unsigned)a < 3 ? accel_names[a] : "?";
}

int mon_accel_parse(const char *text, enum mon_accel *a)
{
	for (unsigned i = 0; i < 3; i++)
		if (!strcmp(text, accel_names[i])) {
			*a = (enum mon_accel)i;
			return 0;
		}
	return -EINVAL;
}

unsigned mon_default_cpus(long host_cpus)
{
	return host_cpus >= 2 ? 2 : 1;
}

int mon_parse_memory(const char *text, uint64_t *mib)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)text[0]))
		return -EINVAL;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text)
		return -EINVAL;
	unsigned long long div = 1, mul = 1;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'k': div = 1024; end++; break;
	case 'm': end++; break;
	case 'g': mul = 1024; end++; break;
	case 't': mul = 1024 * 1024; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'b' || *end == 'B' || *end == 'i') {
		if (*end == 'i')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
	}
	if (*end)
		return -EINVAL;
	if (v > MON_MAX_MEMORY_MIB * 1024ULL)
		return -ERANGE;
	*mib = v * mul / div;
	return 0;
}

static int valid_str(const char *s)
{
	return s && strnlen(s, MON_MAX_STR + 1) <= MON_MAX_STR;
}

static int valid_abs_path(const char *p)
{
	if (!valid_str(p) || p[0] != '/')
		return 0;
	for (const char *c = p; *c; c++)
		if (c[0] == '/' && c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == '\0'))
			return 0;
	return 1;
}

int mon_spec_validate(const struct mon_spec *s, struct lc_err *e)
{
	if (!s->id || strlen(s->id) != 64 || strspn(s->id, "0123456789abcdef") != 64)
		return lc_err_setx(e, EINVAL, "invalid container id");
	if (!valid_str(s->name) || !valid_str(s->image) || !valid_str(s->hostname))
		return lc_err_setx(e, EINVAL, "invalid name, image or hostname");
	size_t na = strv_len(s->args), ne = strv_len(s->env);
	if (na == 0)
		return lc_err_setx(e, EINVAL, "no command specified");
	if (na > MON_MAX_ARGS || ne > MON_MAX_ENV)
		return lc_err_setx(e, E2BIG, "too many arguments or environment variables");
	for (size_t i = 0; i < na; i++)
		if (!valid_str(s->args[i]))
			return lc_err_setx(e, EINVAL, "argument %zu too long", i);
	for (size_t i = 0; i < ne; i++)
		if (!valid_str(s->env[i]) || !strchr(s->env[i], '=') || s->env[i][0] == '=')
			return lc_err_setx(e, EINVAL, "invalid environment variable '%.40s' (want KEY=VALUE)", s->env[i]);
	if ((s->image_id && !valid_str(s->image_id)) || (s->user && !valid_str(s->user)))
		return lc_err_setx(e, EINVAL, "invalid image id or user");
	if (s->scratch && !valid_abs_path(s->scratch))
		return lc_err_setx(e, EINVAL, "invalid scratch disk path");
	if (strv_len(s->exposed_ports) > MON_MAX_PORTS)
		return lc_err_setx(e, E2BIG, "too many exposed ports");
	for (size_t i = 0; s->exposed_ports && s->exposed_ports[i]; i++)
		if (!valid_str(s->exposed_ports[i]))
			return lc_err_setx(e, EINVAL, "invalid exposed port");
	if (!valid_abs_path(s->cwd))
		return lc_err_setx(e, EINVAL, "working directory must be an absolute path");
	if (s->nlayers == 0 || s->nlayers > MON_MAX_LAYERS)
		return lc_err_setx(e, EINVAL, "image has %zu layers (1..%d supported)", s->nlayers, MON_MAX_LAYERS);
	for (size_t i = 0; i < s->nlayers; i++)
		if (!valid_abs_path(s->layers[i].path) || !valid_str(s->layers[i].fstype) ||
		    strspn(s->layers[i].fstype, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(s->layers[i].fstype))
			return lc_err_setx(e, EINVAL, "invalid layer %zu", i);
	if (s->nmounts > MON_MAX_MOUNTS)
		return lc_err_setx(e, E2BIG, "too many volumes (at most %d)", MON_MAX_MOUNTS);
	for (size_t i = 0; i < s->nmounts; i++)
		if (!valid_abs_path(s->mounts[i].source) || !valid_abs_path(s->mounts[i].target))
			return lc_err_setx(e, EINVAL, "volume paths must be absolute without '..'");
	if (!valid_abs_path(s->kernel) || !valid_abs_path(s->initrd))
		return lc_err_setx(e, EINVAL, "invalid kernel or initrd path");
	if ((unsigned)s->accel > MON_ACCEL_TCG)
		return lc_err_setx(e, EINVAL, "invalid accelerator");
	if (s->cpus < 1 || s->cpus > MON_MAX_CPUS)
		return lc_err_setx(e, EINVAL, "--cpus must be between 1 and %d", MON_MAX_CPUS);
	if (s->memory_mib < MON_MIN_MEMORY_MIB || s->memory_mib > MON_MAX_MEMORY_MIB)
		return lc_err_setx(e, EINVAL, "--memory must be between %dM and %dG", MON_MIN_MEMORY_MIB,
				   MON_MAX_MEMORY_MIB / 1024);
	return 0;
}

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

int mon_spec_to_json(const struct mon_spec *s, char **out, struct lc_err *e)
{
	json_t *layers = json_array(), *mounts = json_array();
	for (size_t i = 0; i < s->nlayers; i++)
		json_array_append_new(layers, json_pack("{s:s, s:s}", "path", s->layers[i].path, "fstype",
							s->layers[i].fstype));
	for (size_t i = 0; i < s->nmounts; i++)
		json_array_append_new(mounts, json_pack("{s:s, s:s, s:b, s:b}", "source", s->mounts[i].source,
							"target", s->mounts[i].target, "read_only",
							s->mounts[i].read_only, "mapped", s->mounts[i].mapped));
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:o, s:o, s:s, s:s, s:s, "
			      "s:i, s:I, s:b, s:b, s:b, s:b}",
			      "id", s->id, "name", s->name, "image", s->image, "args", strv_json(s->args), "env",
			      strv_json(s->env), "cwd", s->cwd,
			      "hostname", s->hostname, "layers", layers, "mounts", mounts, "kernel", s->kernel,
			      "initrd", s->initrd, "accel", mon_accel_name(s->accel), "cpus", (int)s->cpus,
			      "memory_mib", (json_int_t)s->memory_mib, "interactive", s->interactive, "remove",
			      s->remove, "read_only", s->read_only, "debug", s->debug);
	if (o && s->image_id)
		json_object_set_new(o, "image_id", json_string(s->image_id));
	if (o && s->scratch)
		json_object_set_new(o, "scratch", json_string(s->scratch));
	if (o && s->user)
		json_object_set_new(o, "user", json_string(s->user));
	if (o && s->exposed_ports)
		json_object_set_new(o, "exposed_ports", strv_json(s->exposed_ports));
	if (!o)
		return lc_err_setx(e, EINVAL, "cannot encode container spec (missing field)");
	*out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *out ? 0 : lc_err_set(e, ENOMEM, "encoding container spec");
}

static int get_strv(json_t *a, char ***out, size_t max)
{
	if (!json_is_array(a) || json_array_size(a) > max)
		return -EINVAL;
	size_t n = json_array_size(a);
	char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*out = v;
	for (size_t i = 0; i < n; i++) {
		const char *str = json_string_value(json_array_get(a, i));
		if (!str || !(v[i] = strdup(str)))
			return -EINVAL;
	}
	return 0;
}

static int get_str(json_t *o, const char *key, char **out)
{
	const char *v = json_string_value(json_object_get(o, key));
	if (!v)
		return -EINVAL;
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

/* Optional string: absent is fine, present must be a string. */
static int get_opt_str(json_t *o, const char *key, char **out)
{
	return json_object_get(o, key) ? get_str(o, key, out) : 0;
}

static int parse_spec(json_t *o, struct mon_spec *s)
{
	if (!json_is_object(o))
		return -EINVAL;
	if (get_opt_str(o, "image_id", &s->image_id) || get_opt_str(o, "user", &s->user) ||
	    get_opt_str(o, "scratch", &s->scratch))
		return -EINVAL;
	json_t *ports = json_object_get(o, "exposed_ports");
	if (ports && get_strv(ports, &s->exposed_ports, MON_MAX_PORTS))
		return -EINVAL;
	if (get_str(o, "id", &s->id) || get_str(o, "name", &s->name) || get_str(o, "image", &s->image) ||
	    get_str(o, "cwd", &s->cwd) || get_str(o, "hostname", &s->hostname) ||
	    get_str(o, "kernel", &s->kernel) || get_str(o, "initrd", &s->initrd))
		return -EINVAL;
	if (get_strv(json_object_get(o, "args"), &s->args, MON_MAX_ARGS) ||
	    get_strv(json_object_get(o, "env"), &s->env, MON_MAX_ENV))
		return -EINVAL;
	json_int_t cpus = json_integer_value(json_object_get(o, "cpus"));
	json_int_t mem = json_integer_value(json_object_get(o, "memory_mib"));
	if (cpus < 0 || cpus > MON_MAX_CPUS ||
	    mem < 0 || mem > MON_MAX_MEMORY_MIB)
		return -EINVAL;
	s->cpus = (unsigned)cpus;
	s->memory_mib = (uint64_t)mem;
	const char *accel = json_string_value(json_object_get(o, "accel"));
	if (!accel || mon_accel_parse(accel, &s->accel))
		return -EINVAL;
	s->interactive = json_is_true(json_object_get(o, "interactive"));
	s->remove = json_is_true(json_object_get(o, "remove"));
	s->read_only = json_is_true(json_object_get(o, "read_only"));
	s->debug = json_is_true(json_object_get(o, "debug"));

	json_t *layers = json_object_get(o, "layers"), *mounts = json_object_get(o, "mounts");
	if (!json_is_array(layers) || json_array_size(layers) > MON_MAX_LAYERS || !json_is_array(mounts) ||
	    json_array_size(mounts) > MON_MAX_MOUNTS)
		return -EINVAL;
	s->layers = calloc(json_array_size(layers) + 1, sizeof(*s->layers));
	s->mounts = calloc(json_array_size(mounts) + 1, sizeof(*s->mounts));
	if (!s->layers || !s->mounts)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(layers); i++) {
		json_t *l = json_array_get(layers, i);
		s->nlayers++;
		if (get_str(l, "path", &s->layers[i].path) || get_str(l, "fstype", &s->layers[i].fstype))
			return -EINVAL;
	}
	for (size_t i = 0; i < json_array_size(mounts); i++) {
		json_t *m = json_array_get(mounts, i);
		s->nmounts++;
		if (get_str(m, "source", &s->mounts[i].source) || get_str(m, "target", &s->mounts[i].target))
			return -EINVAL;
		s->mounts[i].read_only = json_is_true(json_object_get(m, "read_only"));
		s->mounts[i].mapped = json_is_true(json_object_get(m, "mapped"));
	}
	return 0;
}

int mon_spec_from_json(const char *text, size_t len, struct mon_spec *s, struct lc_err *e)
{
	memset(s, 0, sizeof(*s));
	json_error_t jerr;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return lc_err_setx(e, EINVAL, "container spec: %s (line %d)", jerr.text, jerr.line);
	int r = parse_spec(o, s);
	json_decref(o);
	if (r < 0) {
		mon_spec_free(s);
		return lc_err_setx(e, -r, "container spec: missing or malformed field");
	}
	r = mon_spec_validate(s, e);
	if (r < 0)
		mon_spec_free(s);
	return r;
}
