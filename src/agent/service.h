/* The lcvm.agent.v1.Agent ttrpc service: turns RPCs into container
 * operations and container events into (deferred) replies. */
#ifndef LCVM_AGENT_SERVICE_H
#define LCVM_AGENT_SERVICE_H

#include <stddef.h>

#include "agent/agent.h"
#include "rpc/ttrpc.h"

/* The method table (static, outlives every server). */
const struct ttrpc_method *agent_service_methods(size_t *n);

/* Event hook to install as agent->on_event when serving RPCs. */
void agent_service_on_event(struct agent *a, struct agent_container *c, enum agent_cevent ev);

/* Maps an agent -errno to the gRPC code the client sees. Pure. */
int agent_grpc_code(int err);

#endif
