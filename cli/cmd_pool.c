/* cmd_pool — `spawnctl pool OP ...`: process pools from a shell (API.md
 * "Pools and map/reduce").
 *
 * Design: `map` and `apply` take a pool's id or a target's name; given a
 * name (no pool has that id), they make a temporary pool of it and remove it
 * after, so a one-off map needs one command. `map` reads its results from
 * the job's follow stream as they complete, so output starts before the last
 * task ends; --unordered asks for completion order (imap_unordered). Each
 * ITEM is one call's args: a JSON array or object as it is (starmap's form),
 * else one word typed by the target's first argument, as `run` types it.
 * A failed task is reported on stderr and the command exits 1 once all are
 * in (0: none failed; 125: spawnctl's own failure, as everywhere); the
 * results are read and printed by pool_results.c.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/http.h"
#include "cli/output.h"
#include "cli/pool_results.h"

#define WAIT_S 60.0

const char help_pool[] =
	"Usage: spawnctl pool OP ... [-o json]\n"
	"\n"
	"  create TARGET [-n N] [--initializer T] [--initargs JSON] [--maxtasksperchild N] [--name NAME]\n"
	"                              start a pool of TARGET's workers; print its id\n"
	"  ls                          list the pools\n"
	"  map POOL|TARGET ITEM... | --items-file FILE [--chunksize N] [--unordered] [-n N]\n"
	"                              run one task per ITEM, print each result as it comes\n"
	"                              (input order; --unordered: as they complete)\n"
	"  apply POOL|TARGET [ARGS...] run one task, print its result\n"
	"  close POOL                  take no more jobs (the queued ones still run)\n"
	"  terminate POOL              end every worker now\n"
	"  join POOL [--timeout S]     wait until a closed pool's workers have ended\n"
	"  rm POOL                     terminate, join and remove the pool\n"
	"\n"
	"With a TARGET instead of a POOL, map and apply use a temporary pool (-n workers),\n"
	"removed after. An ITEM is a JSON array or object (the call's args), or one word\n"
	"typed by the target's first argument; --items-file takes one ITEM a line (- for\n"
	"stdin). A result that is a string prints as it is, others as JSON; -o json prints\n"
	"{\"index\", \"result\"} lines (map) or the answer. Exits 1 if a task failed (each is\n"
	"reported on stderr), 125 if spawnctl failed.\n";

struct pool_opts {
	long long processes, maxtasks, chunksize;
	const char *initializer, *initargs, *name, *items_file;
	double timeout;         /* join: < 0 for ever */
	bool unordered;
};

static int parse_opts(struct cli *cli, int argc, char **argv, struct pool_opts *o)
{
	static const struct option options[] = {
		{ "processes", required_argument, NULL, 'n' }, { "initializer", required_argument, NULL, 'i' },
		{ "initargs", required_argument, NULL, 'a' }, { "maxtasksperchild", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, 'N' }, { "items-file", required_argument, NULL, 'f' },
		{ "chunksize", required_argument, NULL, 'c' }, { "unordered", no_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' }, CLI_COMMON_OPTIONS, { 0 },
	};
	int c;

	*o = (struct pool_opts){ .timeout = -1 };
	while ((c = cli_getopt(cli, argc, argv, "n:o:h", options)) != -1) {
		long long *count = c == 'n' ? &o->processes : c == 'm' ? &o->maxtasks : c == 'c' ? &o->chunksize : NULL;
		if (count && cli_parse_count(optarg, count) && *count > 0)
			continue;
		if (c == 't' && cli_parse_seconds(optarg, &o->timeout))
			continue;
		if (c == 'i' || c == 'a' || c == 'N' || c == 'f') {
			*(c == 'i' ? &o->initializer : c == 'a' ? &o->initargs : c == 'N' ? &o->name : &o->items_file) = optarg;
			continue;
		}
		if (c == 'u') {
			o->unordered = true;
			continue;
		}
		return cli_usage(cli, "bad value or option (%s)", optarg ? optarg : "?");
	}
	return 0;
}

char *pool_path(const char *id, const char *suffix)
{
	char *esc = http_escape(id), *path = NULL;
	if (!esc || asprintf(&path, "/pools/%s%s", esc, suffix ? suffix : "") < 0)
		path = NULL;
	free(esc);
	return path;
}

/* One request; its answer printed (-o json, or text's field), or the failure said. */
static int simple(struct cli *cli, const char *method, const char *id, const char *suffix, const char *field)
{
	struct http_resp r = { 0 };
	char *path = pool_path(id, suffix);
	int rc = 0;

	if (!path)
		return EXIT_CLI;
	http_json(method, path, NULL, &r);
	if (r.status < 200 || r.status >= 300)
		rc = http_fail(&r, id);
	else if (cli->json)
		cli_print_json(r.json);
	else if (field && jstring(r.json, field))
		printf("%s\n", jstring(r.json, field));
	http_resp_release(&r);
	free(path);
	return rc;
}

/* POST /pools for target; the new pool's id in id (malloc'ed), or 125 after saying why. */
static int create_pool(const char *target, const struct pool_opts *o, char **id, cJSON **record)
{
	struct http_resp r = { 0 };
	cJSON *body = cJSON_CreateObject(), *initargs = NULL;
	int rc = 0;

	cJSON_AddStringToObject(body, "target", target);
	if (o->processes)
		cJSON_AddNumberToObject(body, "processes", (double)o->processes);
	if (o->maxtasks)
		cJSON_AddNumberToObject(body, "maxtasksperchild", (double)o->maxtasks);
	if (o->initializer)
		cJSON_AddStringToObject(body, "initializer", o->initializer);
	if (o->name)
		cJSON_AddStringToObject(body, "name", o->name);
	if (o->initargs && !(initargs = cJSON_Parse(o->initargs))) {
		cli_msg("pool create: --initargs must be a JSON array or object");
		cJSON_Delete(body);
		return EXIT_CLI;
	}
	if (initargs)
		cJSON_AddItemToObject(body, "initargs", initargs);
	http_json("POST", "/pools", body, &r);
	if (r.status != 201 || !jstring(r.json, "id")) {
		rc = http_fail(&r, target);
	} else {
		*id = strdup(jstring(r.json, "id"));
		if (record)
			*record = cJSON_Duplicate(r.json, true);
	}
	http_resp_release(&r);
	cJSON_Delete(body);
	return rc;
}

/* The pool (id) and its target's name for word: a pool's id, else a target
 * for which a temporary pool is made (*temporary set). */
static int resolve(const char *word, const struct pool_opts *o, char **id, char **target, bool *temporary)
{
	struct http_resp r = { 0 };
	char *path = pool_path(word, NULL);
	int rc = 0;

	*temporary = false;
	if (!path)
		return EXIT_CLI;
	http_json("GET", path, NULL, &r);
	free(path);
	if (r.status == 200 && jstring(r.json, "target")) {
		*id = strdup(word);
		*target = strdup(jstring(r.json, "target"));
	} else if (r.status == 404) {
		*target = strdup(word);
		rc = create_pool(word, o, id, NULL);
		*temporary = rc == 0;
	} else {
		rc = http_fail(&r, word);
	}
	http_resp_release(&r);
	return rc;
}

static void remove_pool(const char *id)
{
	struct http_resp r = { 0 };
	char *path = pool_path(id, NULL);
	if (path)
		http_json("DELETE", path, NULL, &r);
	http_resp_release(&r);
	free(path);
}

/* ---- items --------------------------------------------------------------- */

/* One ITEM: a JSON array or object as it is, else the word typed as one call's args. */
static cJSON *item_of(char *word, const cJSON *specs, char *why, size_t why_len)
{
	cJSON *v = cJSON_ParseWithOpts(word, NULL, true);
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return v;
	cJSON_Delete(v);
	return args_build(&word, 1, specs, why, why_len);
}

static int add_item(cJSON *items, char *word, const cJSON *specs)
{
	char why[256] = "";
	cJSON *item = item_of(word, specs, why, sizeof why);
	if (!item) {
		cli_msg("pool map: item \"%s\": %s", word, why);
		return EXIT_CLI;
	}
	cJSON_AddItemToArray(items, item);
	return 0;
}

static int read_items_file(const char *file, cJSON *items, const cJSON *specs)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (!f) {
		cli_msg("pool map: %s: %m", file);
		return EXIT_CLI;
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n > 0)
			rc = add_item(items, line, specs);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* ---- operations ------------------------------------------------------------ */

static int do_map(struct cli *cli, const char *pool, const char *target, const struct pool_opts *o,
		  char **words, int nwords)
{
	cJSON *specs = args_target_specs(target), *body = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(body, "items");
	struct http_resp r = { 0 };
	char *path = pool_path(pool, "/map");
	int rc = specs && path ? 0 : EXIT_CLI;

	for (int i = 0; i < nwords && rc == 0; i++)
		rc = add_item(items, words[i], specs);
	if (rc == 0 && o->items_file)
		rc = read_items_file(o->items_file, items, specs);
	if (o->chunksize)
		cJSON_AddNumberToObject(body, "chunksize", (double)o->chunksize);
	cJSON_AddBoolToObject(body, "ordered", !o->unordered);
	if (rc == 0) {
		http_json("POST", path, body, &r);
		if ((r.status == 200 || r.status == 202) && jstring(r.json, "job"))
			rc = follow_results(cli, pool, jstring(r.json, "job"), (int)cJSON_GetArraySize(items));
		else
			rc = http_fail(&r, pool);
	}
	http_resp_release(&r);
	cJSON_Delete(body);
	cJSON_Delete(specs);
	free(path);
	return rc;
}

/* The ended job's record (apply's answer, then GET ...?wait= while it runs) in r. */
static void wait_job(const char *pool, const cJSON *body, struct http_resp *r)
{
	char *path = pool_path(pool, "/apply?wait=60"), *job = NULL, *suffix = NULL;
	if (path)
		http_json("POST", path, body, r);
	while ((r->status == 200 || r->status == 202) && jstring(r->json, "state") &&
	       strcmp(jstring(r->json, "state"), "running") == 0 && jstring(r->json, "job")) {
		free(path);
		free(job);
		free(suffix);
		job = http_escape(jstring(r->json, "job"));
		path = NULL;
		suffix = NULL;
		if (!job || asprintf(&suffix, "/jobs/%s?wait=%.0f", job, WAIT_S) < 0 || !(path = pool_path(pool, suffix)))
			break;
		http_resp_release(r);
		*r = (struct http_resp){ 0 };
		http_json("GET", path, NULL, r);
	}
	free(path);
	free(job);
	free(suffix);
}

static int do_apply(struct cli *cli, const char *pool, const char *target, char **words, int nwords)
{
	char why[256] = "";
	cJSON *specs = args_target_specs(target), *args = specs ? args_build(words, nwords, specs, why, sizeof why) : NULL;
	struct http_resp r = { 0 };
	int rc;

	cJSON_Delete(specs);
	if (!args)
		return specs ? cli_usage(cli, "%s", why) : EXIT_CLI;
	cJSON *body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "args", args);
	wait_job(pool, body, &r);
	const cJSON *result = cJSON_GetObjectItemCaseSensitive(r.json, "result");
	if (!result)
		result = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "results"), 0);
	if (r.status != 200 || !result)
		rc = http_fail(&r, pool);
	else if (cli->json)
		rc = (cli_print_json(r.json), task_error(result) ? EXIT_TASK_FAILED : 0);
	else
		rc = print_result(cli, r.json, result, 0) ? EXIT_TASK_FAILED : 0;
	http_resp_release(&r);
	cJSON_Delete(body);
	return rc;
}

static int do_ls(struct cli *cli)
{
	static const char *const headers[] = { "ID", "NAME", "TARGET", "STATE", "PROCESSES", "WORKERS",
					       "QUEUED", "RUNNING", "DONE", "FAILED" };
	struct http_resp r = { 0 };
	const cJSON *p;
	int rc = 0;

	http_json("GET", "/pools", NULL, &r);
	if (r.status != 200)
		rc = http_fail(&r, "pools");
	else if (cli->json)
		cli_print_json(r.json);
	if (rc || cli->json) {
		http_resp_release(&r);
		return rc;
	}
	struct table *t = table_new(cli, headers, 10);
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r.json, "pools")) {
		const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(p, "tasks");
		char n[5][24], workers[24];
		snprintf(workers, sizeof workers, "%d", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "workers")));
		const char *cells[] = { jstring(p, "id"), jstring(p, "name"), jstring(p, "target"), jstring(p, "state"),
					fmt_int(p, "processes", n[0], 24), workers, fmt_int(tasks, "queued", n[1], 24),
					fmt_int(tasks, "running", n[2], 24), fmt_int(tasks, "done", n[3], 24),
					fmt_int(tasks, "failed", n[4], 24) };
		if (t)
			table_add(t, cells, -1, COLOR_NONE);
	}
	if (t)
		table_print(t);
	table_free(t);
	http_resp_release(&r);
	return t ? 0 : EXIT_CLI;
}

static int do_join(struct cli *cli, const char *id, double timeout)
{
	double left = timeout;
	for (;;) {
		double slice = timeout < 0 || left > WAIT_S ? WAIT_S : left;
		struct http_resp r = { 0 };
		char suffix[64], *path;
		snprintf(suffix, sizeof suffix, "/join?timeout=%.3f", slice);
		if (!(path = pool_path(id, suffix)))
			return EXIT_CLI;
		http_json("POST", path, NULL, &r);
		free(path);
		bool joined = r.status == 200 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "workers")) == 0;
		int rc = r.status != 200 ? http_fail(&r, id) : 0;
		if (rc == 0 && (joined || (timeout >= 0 && (left -= slice) <= 0))) {
			if (cli->json)
				cli_print_json(r.json);
			if (!joined)
				cli_msg("pool join %s: timed out", id);
			rc = joined ? 0 : EXIT_STILL_ALIVE;
		}
		http_resp_release(&r);
		if (rc || joined)
			return rc;
	}
}

/* map or apply, on a pool or a temporary pool of a target. */
static int on_pool(struct cli *cli, const char *op, const struct pool_opts *o, char **words, int nwords)
{
	char *id = NULL, *target = NULL;
	bool temporary;
	int rc = resolve(words[0], o, &id, &target, &temporary);

	if (rc == 0)
		rc = strcmp(op, "map") == 0 ? do_map(cli, id, target, o, words + 1, nwords - 1)
					    : do_apply(cli, id, target, words + 1, nwords - 1);
	if (temporary)
		remove_pool(id);
	free(id);
	free(target);
	return rc;
}

int cmd_pool(struct cli *cli, int argc, char **argv)
{
	static const char *const ops[] = { "create", "ls", "map", "apply", "close", "terminate", "join", "rm", NULL };
	struct pool_opts o;
	int rc, nwords;
	const char *op;
	char **words;

	if ((rc = parse_opts(cli, argc, argv, &o)) != 0)
		return rc;
	if (optind >= argc)
		return cli_usage(cli, "which operation?");
	op = argv[optind];
	words = argv + optind + 1;
	nwords = argc - optind - 1;
	int i = 0;
	while (ops[i] && strcmp(ops[i], op) != 0)
		i++;
	if (!ops[i])
		return cli_usage(cli, "no operation \"%s\"", op);
	if (strcmp(op, "ls") == 0 ? nwords != 0 : nwords < 1)
		return cli_usage(cli, strcmp(op, "ls") == 0 ? "too many arguments" : "%s what?", op);
	if (strcmp(op, "map") != 0 && strcmp(op, "apply") != 0 && strcmp(op, "ls") != 0 && nwords != 1)
		return cli_usage(cli, "too many arguments");
	if (strcmp(op, "map") == 0 && nwords == 1 && !o.items_file)
		return cli_usage(cli, "map which items?");
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	if (strcmp(op, "create") == 0) {
		char *id = NULL;
		cJSON *record = NULL;
		rc = create_pool(words[0], &o, &id, &record);
		if (rc == 0 && cli->json)
			cli_print_json(record);
		else if (rc == 0)
			printf("%s\n", id);
		free(id);
		cJSON_Delete(record);
		return rc;
	}
	if (strcmp(op, "ls") == 0)
		return do_ls(cli);
	if (strcmp(op, "map") == 0 || strcmp(op, "apply") == 0)
		return on_pool(cli, op, &o, words, nwords);
	if (strcmp(op, "join") == 0)
		return do_join(cli, words[0], o.timeout);
	return simple(cli, strcmp(op, "rm") == 0 ? "DELETE" : "POST", words[0],
		      strcmp(op, "close") == 0 ? "/close" : strcmp(op, "terminate") == 0 ? "/terminate" : NULL, NULL);
}
