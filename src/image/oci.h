/* OCI / Docker schema2 JSON documents: manifests, indexes (manifest lists)
 * and image configs. Pure: bytes in, structs out, no I/O. Every document is
 * size-checked before parsing, every array bounded, unknown media types
 * refused (fail closed). Structs are owned by the caller and released with
 * the matching *_free(). */
#ifndef LCVM_IMAGE_OCI_H
#define LCVM_IMAGE_OCI_H

#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"
#include "util/err.h"

#define IMG_MANIFEST_MAX (4u << 20)   /* bytes of a manifest or index */
#define IMG_CONFIG_MAX (8u << 20)     /* bytes of an image config */
#define IMG_LAYERS_MAX 256            /* layers in one image */
#define IMG_INDEX_MAX 1024            /* entries in one index */
#define IMG_STRV_MAX 4096             /* entries of Env, Cmd, ... */
#define IMG_BLOB_MAX (64ull << 30)    /* any single blob */
#define IMG_MT_MAX 128

#define IMG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMG_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define IMG_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define IMG_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define IMG_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"

/* What a client sends in Accept to get any of the above. */
#define IMG_ACCEPT_MANIFESTS \
	IMG_MT_OCI_INDEX ", " IMG_MT_OCI_MANIFEST ", " IMG_MT_DOCKER_LIST ", " IMG_MT_DOCKER_MANIFEST

struct img_desc {
	char media_type[IMG_MT_MAX + 1];
	char digest[IMG_DIGEST_LEN + 1];
	uint64_t size;
	char os[32], arch[32], variant[32]; /* platform, index entries only */
	char *ref_name; /* org.opencontainers.image.ref.name annotation or NULL (owned) */
};

enum img_doc_kind { IMG_DOC_MANIFEST, IMG_DOC_INDEX };
enum img_comp { IMG_COMP_NONE, IMG_COMP_GZIP, IMG_COMP_ZSTD };

struct img_manifest {
	struct img_desc config;
	size_t nlayers;
	struct img_desc *layers; /* bottom-most first, as in the document */
};

struct img_index {
	size_t n;
	struct img_desc *m;
};

struct img_config {
	char *os, *arch, *created;            /* may be NULL */
	char **entrypoint, **cmd, **env;      /* NULL-terminated or NULL */
	char *working_dir, *user;             /* may be NULL */
	char **exposed_ports;                 /* NULL-terminated or NULL */
	size_t ndiff_ids;
	char (*diff_ids)[IMG_DIGEST_LEN + 1]; /* bottom-most first */
};

/* Kind of a manifest-ish document: from its mediaType field, else from
 * content_type (an HTTP Content-Type, may be NULL), else by shape. */
int img_doc_kind(const void *buf, size_t n, const char *content_type, enum img_doc_kind *out,
		 struct lc_err *e);
int img_manifest_parse(const void *buf, size_t n, struct img_manifest *m, struct lc_err *e);
void img_manifest_free(struct img_manifest *m);
int img_index_parse(const void *buf, size_t n, struct img_index *ix, struct lc_err *e);
void img_index_free(struct img_index *ix);
/* Picks the linux/amd64 entry (os/arch given) from an index. -ENOENT if none. */
int img_index_pick(const struct img_index *ix, const char *os, const char *arch,
		   const struct img_desc **out, struct lc_err *e);
int img_config_parse(const void *buf, size_t n, struct img_config *c, struct lc_err *e);
void img_config_free(struct img_config *c);
/* Compression of a layer media type; -ENOTSUP for anything not a layer. */
int img_layer_comp(const char *media_type, enum img_comp *out);
/* Frees a NULL-terminated string vector. */
void img_strv_free(char **v);
char **img_strv_dup(char *const *v);

#endif
