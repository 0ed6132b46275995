/* Exit status as docker reports it. */
#ifndef LCVM_AGENT_WSTATUS_H
#define LCVM_AGENT_WSTATUS_H

/* waitpid() status -> 0..255 for an exit, 128+N for death by signal N. */
int agent_exit_status(int wstatus);

#endif
