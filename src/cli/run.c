/* Placeholder until the monitor lands. */
#include "cli/cli.h"

int cmd_run(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}

int cmd_monitor(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}
