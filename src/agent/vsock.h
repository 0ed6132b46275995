/* AF_VSOCK helpers for the agent. The agent listens only on LCVM_PORT_AGENT;
 * every other connection goes from the guest to the host (CID 2). */
#ifndef LCVM_AGENT_VSOCK_H
#define LCVM_AGENT_VSOCK_H

#define AGENT_VSOCK_CONNECT_TIMEOUT_S 5

/* Connects to host port; *fd is a blocking, close-on-exec stream socket.
 * Bounded by AGENT_VSOCK_CONNECT_TIMEOUT_S. Returns 0 or -errno. */
int agent_vsock_connect(unsigned port, int *fd);
/* Listening socket on any CID, given port (non-blocking, close-on-exec). */
int agent_vsock_listen(unsigned port, int *fd);

#endif
