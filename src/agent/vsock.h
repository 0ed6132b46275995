/* AF_VSOCK helpers for the agent. The agent listens only on LCVM_PORT_AGENT;
 * every other connection goes from the guest to the host (CID 2). */
#ifndef LCVM_AGENT_VSOCK_H
#define LCVM_AGENT_VSOCK_H

#define AGENT_VSOCK_CONNECT_TIMEOUT_S 5

/* Connects to host port; *fd is a blocking, close-on-exec stream socket.
 * Bounded by AGENT_VSOCK_CONNECT_TIMEOUT_S. Returns 0 or -errno. */
int agent_vsock_connect(unsigned port, int *fd);
/* The same in two halves, so that the round trip to the host overlaps other
 * work: _start begins it (*fd non-blocking, close-on-exec); _finish waits
 * for it within the same timeout and makes fd blocking. Each returns 0 or
 * -errno; on a _finish error the caller still owns and closes fd. */
int agent_vsock_connect_start(unsigned port, int *fd);
int agent_vsock_connect_finish(int fd);
/* Listening socket on any CID, given port (non-blocking, close-on-exec). */
int agent_vsock_listen(unsigned port, int *fd);

#endif
