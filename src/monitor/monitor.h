/* The monitor: the only owner of one utility VM. It starts QEMU with lcvm's
 * own vhost-user-vsock device, waits for the agent's "ready" connection,
 * creates and starts the container through the agent service, relays its
 * stdio between vsock streams and the fds it was given, and tears the VM
 * down when the container exits (Shutdown: the agent kills what is left and
 * syncs, then QEMU is stopped without waiting for the guest's power-off), on
 * SIGTERM/SIGINT/SIGHUP, or when the guest fails to come up before the boot
 * deadline (reporting the tail of the guest console). One epoll loop;
 * nothing blocks.
 *
 * The monitor runs as `lcvm monitor STATE_DIR` in its own session; the CLI
 * that started it passes the container's stdin/stdout/stderr as its fds
 * 0/1/2 and waits for it: the monitor's exit status is the container's
 * (0-255, 128+N for a signal) or 125 with one line on stderr. */
#ifndef LCVM_MONITOR_MONITOR_H
#define LCVM_MONITOR_MONITOR_H

#include "monitor/spec.h"
#include "util/err.h"

#define MON_BOOT_TIMEOUT_MS 60000      /* guest agent ready; override: LCVM_BOOT_TIMEOUT_MS */
#define MON_RPC_TIMEOUT_MS 30000       /* any agent call but WaitContainer */
#define MON_SHUTDOWN_TIMEOUT_MS 3000   /* Shutdown answered (or power-off) before SIGKILL */
#define MON_CONSOLE_TAIL 20            /* lines of guest console in boot errors */
#define MON_BOOT_RESTARTS 2            /* new VMs after a known boot failure (monitor/console.h) */
/* 9P msize over vsock (trans=fd): the Linux client allows up to 1 MiB on fd
 * transports; larger messages mean fewer round trips, each of which costs
 * emulated guest time. */
#define MON_9P_MSIZE (1024u * 1024u)
#define MON_GUEST_CID 3u               /* every VM has its own device, so CIDs never collide */

/* File names inside a container's state directory. */
#define MON_SPEC_FILE "spec.json"
#define MON_CONSOLE_FILE "console.log"
#define MON_LOG_FILE "monitor.log"
#define MON_PID_FILE "monitor.pid"
#define MON_STATUS_FILE "exit-status"

/* Runs the container described by state_dir/spec.json to completion.
 * Returns the exit status to exit with; fills e and returns -errno when
 * lcvm itself failed. */
int mon_run(const char *state_dir, struct lc_err *e);

#endif
