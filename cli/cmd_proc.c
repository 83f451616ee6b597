/* cmd_proc — the commands that act on processes by id: wait, terminate,
 * kill, rm and signal.
 *
 * Design: terminate, kill and rm are one table of {command, method, path}
 * since they differ only in the request; each id is tried even when an
 * earlier one failed (as `kill 1 2 3` does), and the exit code says whether
 * all went through. `wait` exits like the process (`run -w` does too) and
 * 124 when its --timeout runs out first, the code timeout(1) uses, so a
 * script can tell "still running" from any exit status a process may have
 * (except a process that itself exits 124).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/http.h"
#include "cli/process.h"

const char help_wait[] =
	"Usage: spawnctl wait ID [--timeout S] [-o json]\n"
	"\n"
	"Waits for process ID to end (POST /processes/ID/join) and exits with its exit\n"
	"code: 128+N when signal N ended it, 126 when it failed to start. With --timeout,\n"
	"exits 124 if it is still alive after S seconds (it keeps running).\n"
	"  -o json      print the joined record\n";
const char help_terminate[] =
	"Usage: spawnctl terminate ID...\n"
	"\n"
	"Sends SIGTERM to each process's whole process group (Process.terminate()) and\n"
	"prints each id. Ended processes are left as they are. -o json prints each answer.\n";
const char help_kill[] =
	"Usage: spawnctl kill ID...\n"
	"\n"
	"Sends SIGKILL to each process's whole process group (Process.kill()) and prints\n"
	"each id. Ended processes are left as they are. -o json prints each answer.\n";
const char help_rm[] =
	"Usage: spawnctl rm [--grace S] ID...\n"
	"\n"
	"Removes each process: terminates it if alive (SIGTERM, then SIGKILL after the\n"
	"grace, default 5 s), waits for its end, deletes its record and output, and\n"
	"prints its id. -o json prints each final record (with its output).\n";
const char help_signal[] =
	"Usage: spawnctl signal SIGNAL ID...\n"
	"\n"
	"Sends SIGNAL (a name, SIGUSR1 or USR1, or a number) to each process's group.\n"
	"A process that has ended is an error (409 not_running). -o json prints each answer.\n";

static int parse_ids(struct cli *cli, int argc, char **argv, const char **grace)
{
	static const struct option options[] = {
		{ "grace", required_argument, NULL, 'g' }, CLI_COMMON_OPTIONS, { 0 },
	};
	double seconds;
	int c;

	while ((c = cli_getopt(cli, argc, argv, "o:h", options)) != -1) {
		if (c != 'g' || !grace)
			return cli_usage(cli, "bad usage");
		if (!cli_parse_seconds(optarg, &seconds))
			return cli_usage(cli, "--grace %s: not a number of seconds", optarg);
		*grace = optarg;
	}
	if (optind >= argc)
		return cli_usage(cli, "which process? (an id from spawnctl ps)");
	return 0;
}

int cmd_wait(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "timeout", required_argument, NULL, 't' }, CLI_COMMON_OPTIONS, { 0 },
	};
	double timeout = -1;
	cJSON *record;
	int c, rc;

	while ((c = cli_getopt(cli, argc, argv, "o:h", options)) != -1)
		if (c != 't' || !cli_parse_seconds(optarg, &timeout))
			return cli_usage(cli, c == 't' ? "--timeout: not a number of seconds" : "bad usage");
	if (optind + 1 != argc)
		return cli_usage(cli, "one process id, please");
	if ((rc = cli_connect(cli)) != 0 || (rc = process_join(argv[optind], timeout, &record)) != 0)
		return rc;
	if (cli->json)
		cli_print_json(record);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(record, "alive"))) {
		cli_msg("process %s is still alive after %g s", argv[optind], timeout);
		rc = EXIT_STILL_ALIVE;
	} else {
		rc = process_exit_code(record);
	}
	cJSON_Delete(record);
	return rc;
}

/* Sends one request about id; prints the id (or the answer); 0 or 125. */
static int act(struct cli *cli, const char *method, const char *suffix, const cJSON *body, const char *id)
{
	char *path = process_path(id, suffix);
	struct http_resp r;
	int rc = 0;

	if (!path)
		return EXIT_CLI;
	http_json(method, path, body, &r);
	free(path);
	if (r.status < 200 || r.status > 299)
		rc = http_fail(&r, id);
	else if (cli->json)
		cli_print_json(r.json);
	else
		printf("%s\n", id);
	fflush(stdout);
	http_resp_release(&r);
	return rc;
}

int cmd_stop(struct cli *cli, int argc, char **argv)
{
	bool rm = strcmp(argv[0], "rm") == 0;
	const char *grace = NULL;
	char suffix[80] = "";
	int rc;

	if ((rc = parse_ids(cli, argc, argv, rm ? &grace : NULL)) != 0 || (rc = cli_connect(cli)) != 0)
		return rc;
	if (!rm)
		snprintf(suffix, sizeof suffix, "/%s", argv[0]);
	else if (grace)
		snprintf(suffix, sizeof suffix, "?grace=%.60s", grace);
	for (int i = optind; i < argc; i++)
		if (act(cli, rm ? "DELETE" : "POST", suffix, NULL, argv[i]) != 0)
			rc = EXIT_CLI;
	return rc;
}

int cmd_signal(struct cli *cli, int argc, char **argv)
{
	cJSON *body;
	const char *sig;
	int rc;

	if ((rc = parse_ids(cli, argc, argv, NULL)) != 0)
		return rc;
	if (optind + 2 > argc)
		return cli_usage(cli, "a signal and at least one process id, please");
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	sig = argv[optind++];
	body = cJSON_CreateObject();
	if (sig[0] && strspn(sig, "0123456789") == strlen(sig))
		cJSON_AddNumberToObject(body, "signal", atof(sig));
	else
		cJSON_AddStringToObject(body, "signal", sig);
	for (int i = optind; i < argc; i++)
		if (act(cli, "POST", "/signal", body, argv[i]) != 0)
			rc = EXIT_CLI;
	cJSON_Delete(body);
	return rc;
}
