/* cmd_run — `spawnctl run TARGET [ARGS...]`: POST /processes, then print the
 * id, or wait (-w) or follow (-f) and exit with the process's exit code.
 *
 * Design: the target's schema is read first (GET /targets/NAME) because it
 * types the words (args.c); an unknown target is then a clear 404 before
 * anything is started. Input (--stdin) goes through the process's open stdin
 * by a pump thread started right after the create, so it can be streamed
 * while the output is followed; a detached run still sends all of it before
 * exiting. -f relays the output live and -w prints it once the process has
 * ended; both then take the exit code from the joined record, which also
 * says whether it failed to start or was lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/http.h"
#include "cli/process.h"
#include "cli/stdin_pump.h"
#include "cli/stream.h"

const char help_run[] =
	"Usage: spawnctl run TARGET [ARGS...] [--name N] [--env K=V]... [--stdin FILE|-]\n"
	"                    [--daemon] [--timeout S] [-w|--wait] [-f|--follow] [-o json]\n"
	"\n"
	"Starts a process of TARGET. ARGS are its arguments, typed by the target's schema\n"
	"(spawnctl targets TARGET): positional words, or NAME=VALUE for a named one.\n"
	"Put -- before arguments that start with a dash.\n"
	"\n"
	"  --name N        the process's name (default Process-N)\n"
	"  --env K=V       an environment variable (only those the target allows)\n"
	"  --stdin FILE    send FILE (- for spawnctl's stdin) to the process's stdin, then close it\n"
	"  --daemon        a daemon process (terminated at once when the server stops)\n"
	"  --timeout S     end it after S seconds (SIGTERM, SIGKILL 2 s later)\n"
	"  -w, --wait      wait for the end, print its output (stdout, then stderr)\n"
	"  -f, --follow    print its output live (stdout to stdout, stderr to stderr)\n"
	"  -o json         the server's answer: the record; with -w the final record\n"
	"                  (with up to 64 KiB of output); with -f the NDJSON output lines\n"
	"\n"
	"Without -w or -f it prints the new process's id and exits 0. With them it exits\n"
	"with the process's exit code: 128+N when signal N ended it, 126 when it failed\n"
	"to start, 125 when spawnctl failed (or the process was lost).\n"
	"\n"
	"Examples:\n"
	"  spawnctl run worker 3 -w             # Worker: 3\n"
	"  spawnctl run exit code=3 -w; echo $? # 3\n"
	"  spawnctl run ticker count=5 -f       # tick 1 ... tick 5, as they come\n"
	"  printf 'hi\\n' | spawnctl run cat --stdin - -w\n";

struct run_opts {
	const char *name, *stdin_path;
	bool daemon, wait, follow;
	double timeout;         /* < 0: none */
	cJSON *env;
};

/* KEY=VALUE into env; a key given again takes the later value, as a shell's would. */
static void set_env(cJSON *env, const char *word, const char *eq)
{
	char *key = strndup(word, (size_t)(eq - word));
	if (!key)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(env, key);
	cJSON_AddItemToObject(env, key, cJSON_CreateString(eq + 1));
	free(key);
}

static int parse_run(struct cli *cli, int argc, char **argv, struct run_opts *o)
{
	static const struct option options[] = {
		{ "name", required_argument, NULL, 'n' }, { "env", required_argument, NULL, 'e' },
		{ "stdin", required_argument, NULL, 'i' }, { "daemon", no_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' }, { "wait", no_argument, NULL, 'w' },
		{ "follow", no_argument, NULL, 'f' }, CLI_COMMON_OPTIONS, { 0 },
	};
	int c;

	while ((c = cli_getopt(cli, argc, argv, "wfo:h", options)) != -1) {
		const char *eq = optarg ? strchr(optarg, '=') : NULL;
		switch (c) {
		case 'n': o->name = optarg; break;
		case 'i': o->stdin_path = optarg; break;
		case 'd': o->daemon = true; break;
		case 'w': o->wait = true; break;
		case 'f': o->follow = true; break;
		case 't':
			if (!cli_parse_seconds(optarg, &o->timeout))
				return cli_usage(cli, "--timeout %s: not a number of seconds", optarg);
			break;
		case 'e':
			if (!eq || eq == optarg)
				return cli_usage(cli, "--env %s: not KEY=VALUE", optarg);
			set_env(o->env, optarg, eq);
			break;
		default:
			return cli_usage(cli, "bad usage");
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "which target? (spawnctl targets lists them)");
	return 0;
}

static cJSON *create_body(struct cli *cli, const struct run_opts *o, char **words, int nwords)
{
	char why[256] = "";
	cJSON *specs = args_target_specs(words[0]), *body, *args;

	if (!specs)
		return NULL;
	args = args_build(words + 1, nwords - 1, specs, why, sizeof why);
	cJSON_Delete(specs);
	if (!args) {
		cli_usage(cli, "%s", why);
		return NULL;
	}
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "target", words[0]);
	cJSON_AddItemToObject(body, "args", args);
	if (o->name)
		cJSON_AddStringToObject(body, "name", o->name);
	if (o->daemon)
		cJSON_AddBoolToObject(body, "daemon", true);
	if (cJSON_GetArraySize(o->env) > 0)
		cJSON_AddItemReferenceToObject(body, "env", o->env);
	if (o->timeout >= 0)
		cJSON_AddNumberToObject(body, "timeout", o->timeout);
	if (o->stdin_path)
		cJSON_AddBoolToObject(body, "stdin_open", true);
	return body;
}

/* After the create: wait or follow, then the exit code. */
static int attach(struct cli *cli, const struct run_opts *o, const char *id)
{
	struct output_request out = { .id = id, .want = WANT_STDOUT | WANT_STDERR, .tail = -1,
				      .follow = o->follow, .json = cli->json };
	cJSON *record = NULL, *exit_line = NULL;
	int rc = 0;

	if (o->follow)
		rc = output_show(&out, cli->json ? &exit_line : NULL);
	if (rc == 0 && !exit_line)
		rc = process_join(id, -1, &record);
	if (rc == 0 && !o->follow) {
		if (cli->json)
			cli_print_json(record);
		else
			rc = output_show(&out, NULL);
	}
	if (rc == 0)
		rc = process_exit_code(exit_line ? exit_line : record);
	cJSON_Delete(record);
	cJSON_Delete(exit_line);
	return rc;
}

static int start(struct cli *cli, const struct run_opts *o, const cJSON *body, int stdin_fd)
{
	struct stdin_pump *pump = NULL;
	struct http_resp r;
	int rc = 0;

	http_json("POST", "/processes", body, &r);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r.json, "id"));
	if (r.status != 201 || !id) {
		rc = http_fail(&r, "run");
		http_resp_release(&r);
		return rc;
	}
	if (stdin_fd >= 0 && stdin_pump_start(id, stdin_fd, &pump) != 0) {
		cli_msg("could not start sending stdin");
		rc = EXIT_CLI;
	}
	if (rc == 0 && !o->wait && !o->follow) {
		if (cli->json)
			cli_print_json(r.json);
		else
			printf("%s\n", id);
		fflush(stdout);
		rc = stdin_pump_join(pump) == 0 ? 0 : EXIT_CLI;
		pump = NULL;
	} else if (rc == 0) {
		rc = attach(cli, o, id);
	}
	stdin_pump_stop(pump);
	http_resp_release(&r);
	return rc;
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	struct run_opts o = { .timeout = -1, .env = cJSON_CreateObject() };
	cJSON *body = NULL;
	int stdin_fd = -1, rc;

	if ((rc = parse_run(cli, argc, argv, &o)) != 0 || (rc = cli_connect(cli)) != 0)
		goto out;
	if (o.stdin_path && strcmp(o.stdin_path, "-") == 0) {
		stdin_fd = STDIN_FILENO;
	} else if (o.stdin_path && (stdin_fd = open(o.stdin_path, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_msg("--stdin %s: %s", o.stdin_path, strerror(errno));
		rc = EXIT_CLI;
		goto out;
	}
	rc = EXIT_CLI;
	if ((body = create_body(cli, &o, argv + optind, argc - optind)))
		rc = start(cli, &o, body, stdin_fd);
out:
	if (stdin_fd > STDIN_FILENO)
		close(stdin_fd);
	cJSON_Delete(body);
	cJSON_Delete(o.env);
	return rc;
}
