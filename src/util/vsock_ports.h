/* Every fixed vsock port and the guest-facing constants the host and the
 * agent must agree on. Only the agent listens in the guest; every other
 * connection is opened by the agent towards the host (CID 2), so the host
 * never has to guess when the guest is ready. */
#ifndef LCVM_UTIL_VSOCK_PORTS_H
#define LCVM_UTIL_VSOCK_PORTS_H

#define LCVM_HOST_CID 2u

/* Guest port of the agent's ttrpc service (lcvm.agent.v1.Agent). */
#define LCVM_PORT_AGENT 1024u

/* Host ports the agent connects to. */
/* Agent -> host: one connection at start-up that says "ready" (the agent
 * writes its protocol version as a line), so the monitor knows when to dial
 * LCVM_PORT_AGENT without polling. */
#define LCVM_PORT_READY 1025u
/* stdio of process n (0 = container init): base + 3n + {0 stdin, 1 stdout, 2 stderr} */
#define LCVM_PORT_STDIO_BASE 0x10000u
#define LCVM_PORT_STDIO(n, stream) (LCVM_PORT_STDIO_BASE + 3u * (unsigned)(n) + (unsigned)(stream))
/* 9P share m (order of -v flags): base + m */
#define LCVM_PORT_9P_BASE 0x20000u
#define LCVM_PORT_9P(m) (LCVM_PORT_9P_BASE + (unsigned)(m))

#define LCVM_AGENT_PROTOCOL_VERSION 1u
#define LCVM_AGENT_SERVICE "lcvm.agent.v1.Agent"

#endif
