/* Placeholder until the image store lands. */
#include "cli/cli.h"

int cmd_pull(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}

int cmd_load(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}

int cmd_save(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}

int cmd_images(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}

int cmd_rmi(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}

int cmd_tag(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}

int cmd_image(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}

int cmd_login(const struct cli_globals *g, int argc, char **argv)
{
	return cli_error("%s: not implemented yet", argv[0]);
}
