/* The container init shim (docker's --init, always on). The static agent
 * binary is bound read-only into every container at AGENT_SHIM_TARGET and
 * runs as the container's PID 1 with args `-- <user args...>`:
 *   - forks and execs the user command (PATH search in the container's env);
 *     exec errors exit 127 (not found) or 126 (cannot run) with one line on
 *     stderr: `lcvm-init: exec "foo": executable file not found in $PATH`;
 *   - forwards every catchable signal to that child (a namespace's init gets
 *     no signal it has no handler for, so without the shim SIGTERM from the
 *     host and `kill -9 $$` inside were ignored);
 *   - reaps every zombie of the namespace;
 *   - exits with the child's status, 128+N when signal N killed it.
 *
 * Why /dev/.lcvm-init: /dev in the container is a fresh tmpfs crun mounts
 * before our bind, so no image content can be at that path or replace it
 * (docker's /sbin/docker-init can clash with an image's own /sbin); /proc
 * cannot take a bind on a new file. The dot keeps it out of plain `ls /dev`.
 *
 * The shim owns nothing of the agent: it never touches the agent context
 * and does only what is listed above. */
#ifndef LCVM_AGENT_SHIM_H
#define LCVM_AGENT_SHIM_H

#include <stdbool.h>

#define AGENT_SHIM_SOURCE "/init"          /* the agent binary in the guest */
#define AGENT_SHIM_TARGET "/dev/.lcvm-init" /* inside the container */
#define AGENT_SHIM_NAME ".lcvm-init"       /* basename of argv[0] selecting shim mode */
#define AGENT_SHIM_EXIT_NOTFOUND 127
#define AGENT_SHIM_EXIT_CANNOT_RUN 126
#define AGENT_SHIM_EXIT_USAGE 125          /* shim misuse: no `--` or no command */

/* True when argv[0]'s basename is AGENT_SHIM_NAME (the kernel starts the
 * agent as "/init", crun starts the shim as AGENT_SHIM_TARGET). Pure. */
bool agent_shim_selected(const char *argv0);

/* Checks `argv[0] -- cmd [args...]`; returns the index of cmd in argv, or
 * -EINVAL. Pure. */
int agent_shim_parse(int argc, char *const argv[]);

/* Exit status for an execve errno: 127 for a command not found, else 126. */
int agent_shim_exec_status(int err);

/* Formats the one-line exec error (no newline) for cmd and errno. Pure. */
void agent_shim_exec_message(char *buf, unsigned len, const char *cmd, int err);

/* Runs the shim on cmd (NULL-terminated) and returns the status to exit
 * with. Blocks every catchable signal before forking so none is lost;
 * the child gets an empty mask and default dispositions back. */
int agent_shim_run(char *const cmd[]);

/* main() for shim mode: parse, run, exit status (usage errors: 125). */
int agent_shim_main(int argc, char *argv[]);

#endif
