/* cmd_ps — `spawnctl ps`: GET /processes as a table.
 *
 * Design: without -a only alive processes (?alive=true, multiprocessing's
 * active_children()); a --state filter names ended states too, so it implies
 * -a. Without --limit every page is read (the server's cursor, 1000 at a
 * time), so a script never sees a silently cut list; -o json then prints one
 * ProcessList holding them all (its "next" null), and with --limit the
 * server's one answer as it is.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/http.h"
#include "cli/output.h"

const char help_ps[] =
	"Usage: spawnctl ps [-a] [--state S] [--target T] [--name N] [--limit N] [-o json]\n"
	"\n"
	"Lists processes, newest first: the alive ones (queued or running), or with -a all.\n"
	"\n"
	"  -a, --all       ended processes too\n"
	"  --state S       only in state S: queued, running, exited, failed, lost (implies -a)\n"
	"  --target T      only processes of target T\n"
	"  --name N        only processes named N\n"
	"  --limit N       at most N (1-1000; default: all)\n"
	"  -o json         the server's answer ({\"processes\": [...], \"next\": ...})\n"
	"\n"
	"On a terminal: a table (ID, NAME, TARGET, STATE, PID, EXIT, STARTED, DURATION),\n"
	"states in colour unless NO_COLOR is set. Piped: one tab-separated line per\n"
	"process, the same columns, no header; times RFC 3339, durations in seconds,\n"
	"\"-\" for none. EXIT is multiprocessing's exitcode (-N: signal N).\n";

struct ps_opts {
	bool all;
	const char *state, *target, *name;
	long long limit;        /* 0: every page */
};

static int parse_ps(struct cli *cli, int argc, char **argv, struct ps_opts *o)
{
	static const struct option options[] = {
		{ "all", no_argument, NULL, 'a' }, { "state", required_argument, NULL, 's' },
		{ "target", required_argument, NULL, 't' }, { "name", required_argument, NULL, 'n' },
		{ "limit", required_argument, NULL, 'l' }, CLI_COMMON_OPTIONS, { 0 },
	};
	int c;

	while ((c = cli_getopt(cli, argc, argv, "ao:h", options)) != -1) {
		switch (c) {
		case 'a': o->all = true; break;
		case 's': o->state = optarg; o->all = true; break;
		case 't': o->target = optarg; break;
		case 'n': o->name = optarg; break;
		case 'l':
			if (!cli_parse_count(optarg, &o->limit) || o->limit < 1 || o->limit > 1000)
				return cli_usage(cli, "--limit %s: a number from 1 to 1000", optarg);
			break;
		default:
			return cli_usage(cli, "bad usage");
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected \"%s\"", argv[optind]);
	return 0;
}

/* Appends "&key=escaped value" to *query. */
static void add_query(char **query, const char *key, const char *value)
{
	char *esc, *joined;
	if (!value || !*query || !(esc = http_escape(value)))
		return;
	if (asprintf(&joined, "%s&%s=%s", *query, key, esc) < 0)
		joined = NULL;
	free(esc);
	free(*query);
	*query = joined;
}

static char *list_path(const struct ps_opts *o, const char *after)
{
	char *query = NULL;
	if (asprintf(&query, "/processes?limit=%lld", o->limit ? o->limit : 1000) < 0)
		return NULL;
	if (!o->all)
		add_query(&query, "alive", "true");
	add_query(&query, "state", o->state);
	add_query(&query, "target", o->target);
	add_query(&query, "name", o->name);
	add_query(&query, "after", after);
	return query;
}

/* Every page (or one, with --limit) moved into all; 0 or 125. */
static int fetch(const struct ps_opts *o, cJSON *all, cJSON **first)
{
	char *after = NULL;
	int rc = 0;

	do {
		struct http_resp r;
		char *path = list_path(o, after);
		free(after);
		after = NULL;
		if (!path)
			return EXIT_CLI;
		http_json("GET", path, NULL, &r);
		free(path);
		cJSON *list = cJSON_GetObjectItemCaseSensitive(r.json, "processes");
		if (r.status != 200 || !cJSON_IsArray(list)) {
			rc = http_fail(&r, "ps");
			http_resp_release(&r);
			break;
		}
		const char *next = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r.json, "next"));
		if (next && !o->limit)
			after = strdup(next);
		for (cJSON *p = list->child; p; p = list->child)
			cJSON_AddItemToArray(all, cJSON_DetachItemViaPointer(list, p));
		if (!*first)
			*first = cJSON_Duplicate(r.json, true);
		http_resp_release(&r);
	} while (after);
	return rc;
}

static void print_table(const struct cli *cli, const cJSON *all)
{
	static const char *const headers[] = { "ID", "NAME", "TARGET", "STATE", "PID", "EXIT", "STARTED", "DURATION" };
	struct table *t = table_new(cli, headers, 8);
	const cJSON *p;

	cJSON_ArrayForEach(p, all) {
		char pid[32], code[32], started[64], duration[32];
		const char *state = jstring(p, "state");
		const char *cells[] = {
			jstring(p, "id"), jstring(p, "name"), jstring(p, "target"), state,
			fmt_int(p, "pid", pid, sizeof pid), fmt_int(p, "exitcode", code, sizeof code),
			fmt_time(cli, jstring(p, "started_at"), started, sizeof started),
			fmt_duration(cli, cJSON_GetObjectItemCaseSensitive(p, "duration"), duration, sizeof duration),
		};
		if (t && table_add(t, cells, 3, state_color(state, cJSON_GetObjectItemCaseSensitive(p, "exitcode"))) != 0)
			break;
	}
	if (t)
		table_print(t);
	table_free(t);
}

int cmd_ps(struct cli *cli, int argc, char **argv)
{
	struct ps_opts o = { 0 };
	cJSON *all = cJSON_CreateArray(), *first = NULL;
	int rc;

	if ((rc = parse_ps(cli, argc, argv, &o)) == 0 && (rc = cli_connect(cli)) == 0 &&
	    (rc = fetch(&o, all, &first)) == 0) {
		if (cli->json && o.limit) {
			cJSON_ReplaceItemInObjectCaseSensitive(first, "processes", all);
			all = NULL;
			cli_print_json(first);
		} else if (cli->json) {
			cJSON *list = cJSON_CreateObject();
			cJSON_AddItemToObject(list, "processes", all);
			cJSON_AddNullToObject(list, "next");
			all = NULL;
			cli_print_json(list);
			cJSON_Delete(list);
		} else {
			print_table(cli, all);
		}
	}
	cJSON_Delete(all);
	cJSON_Delete(first);
	return rc;
}
