/* A stand-in for libsystemd.so.0 in the guest, linked only by crun.
 *
 * Debian's crun links libsystemd for three features lcvm never uses: the
 * systemd cgroup manager (sd_bus_*, the agent passes cgroupfs paths), the
 * journald log driver (sd_journal_*, the agent logs to a file) and
 * NOTIFY_SOCKET (sd_notify*, never set). The real library drags in libgcrypt,
 * liblzma, libzstd, liblz4 and libgpg-error: 3.4 MB of initramfs to unpack
 * and, measured under TCG, most of the ~0.3-0.5 s one `crun --version` takes
 * (docs/guest-image.md). Every function here fails with -ENOSYS (NULL for
 * the pointer-returning unrefs), so a path that did reach systemd would fail
 * loudly instead of misbehaving. Symbol versions match the ones crun binds to
 * (guest/sd-stub.map); mk-initramfs.sh checks crun needs nothing else. */
#include <errno.h>
#include <stddef.h>

#define STUB(name) \
	int name(void); \
	int name(void) { return -ENOSYS; }

STUB(sd_bus_message_close_container)
STUB(sd_bus_wait)
STUB(sd_bus_call)
STUB(sd_bus_message_read)
STUB(sd_bus_default_user)
STUB(sd_notify)
STUB(sd_bus_default_system)
STUB(sd_bus_message_append_strv)
STUB(sd_journal_send_with_location)
STUB(sd_bus_match_signal_async)
STUB(sd_bus_process)
STUB(sd_notify_barrier)
STUB(sd_bus_message_new_method_call)
STUB(sd_bus_message_open_container)
STUB(sd_bus_message_append)

/* Returns the errno an sd_bus_error carries: "not supported" here. */
int sd_bus_error_get_errno(const void *e);
int sd_bus_error_get_errno(const void *e) { (void)e; return ENOSYS; }
void sd_bus_error_free(void *e);
void sd_bus_error_free(void *e) { (void)e; }
void *sd_bus_message_unref(void *m);
void *sd_bus_message_unref(void *m) { (void)m; return NULL; }
void *sd_bus_unref(void *b);
void *sd_bus_unref(void *b) { (void)b; return NULL; }
