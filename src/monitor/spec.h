/* What one `lcvm run` asks of its monitor: parsed once by the CLI, shipped
 * to the monitor as spec.json in the container's state directory, and
 * re-validated by the monitor (mon_spec_validate) before use.
 * Every string and array is owned by the struct; mon_spec_free releases it. */
#ifndef LCVM_MONITOR_SPEC_H
#define LCVM_MONITOR_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define MON_MAX_ARGS 4096
#define MON_MAX_ENV 4096
#define MON_MAX_LAYERS 64
#define MON_MAX_MOUNTS 32
#define MON_MAX_PORTS 1024
#define MON_MAX_STR 65536
#define MON_MAX_CPUS 64
#define MON_MIN_MEMORY_MIB 64
#define MON_MAX_MEMORY_MIB (1024 * 1024)

enum mon_accel { MON_ACCEL_AUTO = 0, MON_ACCEL_KVM, MON_ACCEL_TCG };

struct mon_layer {
	char *path;   /* read-only disk image on the host */
	char *fstype; /* squashfs: the only layer fs the guest agent accepts */
};

struct mon_mount {
	char *source; /* host directory, absolute */
	char *target; /* container path, absolute */
	int read_only;
	int mapped;   /* 9P security model: mapped (1) or passthrough (0) */
};

struct mon_spec {
	char *id;          /* 64 hex digits */
	char *name;
	char *image;       /* as the user wrote it */
	char *image_id;    /* config digest, or "builtin:NAME" */
	char **exposed_ports; /* image ExposedPorts ("80/tcp"), NULL-terminated; recorded only */
	char **args;       /* NULL-terminated, at least one */
	char **env;        /* NULL-terminated KEY=VALUE */
	char *cwd;         /* absolute */
	char *user;        /* -u or the image's User as written, NULL if neither */
	char *hostname;
	struct mon_layer *layers; /* top-most first */
	char *scratch;     /* writable scratch disk to create (absolute), NULL = tmpfs upper */
	size_t nlayers;
	struct mon_mount *mounts;
	size_t nmounts;
	char *kernel, *initrd;
	enum mon_accel accel;
	unsigned cpus;
	uint64_t memory_mib;
	int interactive;   /* -i: forward stdin */
	int remove;        /* --rm */
	int read_only;     /* --read-only */
	int debug;
};

void mon_spec_free(struct mon_spec *s);
int mon_spec_validate(const struct mon_spec *s, struct lc_err *e);
/* Serialises to JSON text (malloc'd, caller frees). */
int mon_spec_to_json(const struct mon_spec *s, char **out, struct lc_err *e);
/* Parses and validates; on failure *s is left empty (freed). */
int mon_spec_from_json(const char *text, size_t len, struct mon_spec *s, struct lc_err *e);

/* "512M", "2g", "1024" (MiB when no suffix, like -m of QEMU); -EINVAL on junk. */
int mon_parse_memory(const char *text, uint64_t *mib);
const char *mon_accel_name(enum mon_accel a);
/* The vCPUs a VM gets without --cpus: 2, or 1 on a host with one CPU (or
 * an unknown count), as LCOW gives its utility VMs (hcsshim's
 * DefaultProcessorCountForUVM). Under TCG the second vCPU runs the crun
 * warm-up beside the agent (agent/warm.h): docs/benchmarks.md. */
unsigned mon_default_cpus(long host_cpus);
int mon_accel_parse(const char *text, enum mon_accel *a);

/* Helpers for NULL-terminated string vectors. */
size_t strv_len(char *const *v);
void strv_free(char **v);

#endif
