#include "agent/wstatus.h"

#include <sys/wait.h>

int agent_exit_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255; /* stopped/continued are never passed here; be defined anyway */
}
