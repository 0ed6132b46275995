/* Placeholder until the module lands. */
#include "cli/cli.h"

int cmd_guest(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}
