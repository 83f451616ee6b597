/* spawnctl — the command-line client of spawnd.
 *
 * Design: a static table of commands, looked up by exact name; main() takes
 * the common options that come before the command (`spawnctl --url X ps`),
 * then hands the rest of argv to the command, whose own getopt table also
 * takes them (`spawnctl ps --url X`). `help`, `--help` and `--version` need
 * no server.
 *
 * Data goes to stdout and messages to stderr, so `spawnctl ps | cut -f1`
 * sees only data; whether stdout is a terminal is decided once, here.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/http.h"

static const struct command commands[] = {
	{ "run", cmd_run, "start a process of a target; -w waits, -f follows its output", help_run },
	{ "ps", cmd_ps, "list processes (alive ones unless -a)", help_ps },
	{ "logs", cmd_logs, "print or follow a process's output", help_logs },
	{ "wait", cmd_wait, "wait for a process to end; exit with its code", help_wait },
	{ "terminate", cmd_stop, "send SIGTERM to processes (their whole group)", help_terminate },
	{ "kill", cmd_stop, "send SIGKILL to processes (their whole group)", help_kill },
	{ "rm", cmd_stop, "terminate if alive, then remove records and output", help_rm },
	{ "signal", cmd_signal, "send a signal to processes", help_signal },
	{ "targets", cmd_targets, "list the targets, or describe one", help_targets },
	{ "events", cmd_events, "print lifecycle events; -f follows them", help_events },
	{ "objects", cmd_objects, "list the shared objects, or describe one", help_objects },
	{ "queue", cmd_queue, "create, put to, get from, join or remove a queue", help_queue },
	{ "event", cmd_event, "create, set, clear, wait for or remove an event", help_event },
	{ "lock", cmd_lock, "create, acquire, release, renew or remove a lock", help_lock },
	{ "ns", cmd_ns, "list, get, set or delete the keys of a namespace", help_ns },
	{ "pool", cmd_pool, "create pools, map or apply a target over them, list, close, remove", help_pool },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char usage_head[] =
	"Usage: spawnctl [--url URL] [--token-file FILE] [-o json|text] COMMAND [ARGS...]\n"
	"\n"
	"The command-line client of spawnd (SPAWND_URL, default " DEFAULT_URL ").\n"
	"\n"
	"Commands:\n";
static const char usage_tail[] =
	"\n"
	"Environment: SPAWND_URL, SPAWND_TOKEN, SPAWND_TOKEN_FILE, NO_COLOR.\n"
	"Exit codes: the process's own for run -w/-f and wait (128+N for signal N),\n"
	"125 when spawnctl itself fails. 'spawnctl help COMMAND' tells more; see spawnctl(1).\n";

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_usage(FILE *out)
{
	fputs(usage_head, out);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs(usage_tail, out);
}

static int help(int argc, char **argv)
{
	const struct command *cmd;
	if (argc < 2) {
		print_usage(stdout);
		return 0;
	}
	if (!(cmd = find_command(argv[1]))) {
		fprintf(stderr, "spawnctl help: no command \"%s\"\n", argv[1]);
		print_usage(stderr);
		return EXIT_CLI;
	}
	fputs(cmd->help, stdout);
	return 0;
}

/* The common options before the command; returns the command's index in argv. */
static int leading_options(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = { CLI_COMMON_OPTIONS, { "version", no_argument, NULL, 'V' }, { 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "+o:h", options, NULL)) != -1) {
		if (c == 'h') {
			print_usage(stdout);
			exit(0);
		}
		if (c == 'V') {
			printf("spawnctl %s\n", SPAWNCTL_VERSION);
			exit(0);
		}
		if (!cli_common_option(cli, c, optarg))
			exit(cli_usage(cli, "bad usage"));
	}
	return optind;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	const char *no_color = getenv("NO_COLOR");
	int first, rc;

	cli.tty = isatty(STDOUT_FILENO) == 1;
	cli.color = cli.tty && !(no_color && no_color[0]);
	first = leading_options(&cli, argc, argv);
	if (first >= argc) {
		print_usage(stderr);
		return EXIT_CLI;
	}
	if (strcmp(argv[first], "help") == 0)
		return help(argc - first, argv + first);
	if (!(cli.cmd = find_command(argv[first]))) {
		fprintf(stderr, "spawnctl: no command \"%s\"\n", argv[first]);
		print_usage(stderr);
		return EXIT_CLI;
	}
	optind = 0;             /* a fresh getopt scan over the command's argv */
	rc = cli.cmd->run(&cli, argc - first, argv + first);
	http_cleanup();
	fflush(stdout);
	return rc;
}
