/* cmd_sync — `spawnctl queue|event|lock OP NAME ...`: the shared objects'
 * operations from a shell (API.md "Shared objects").
 *
 * Design: each command is a table of {op, method, suffix, what it waits
 * for}, one request each, so a new operation is one row. A waiting op loops
 * over the server's cap on ?timeout= (as the Python client does) until its
 * own --timeout, for ever without one; the outcome the server gives at a
 * timeout ("empty", "full", "set": false, "acquired": false) exits 124, the
 * code `wait --timeout` and timeout(1) use, so a script can tell it from a
 * failure (125). An outside caller's lock is leased (--lease, default 60 s)
 * and known by the owner that `acquire` prints; inside a worker its
 * SPAWND_TOKEN owns it and no owner is needed.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/http.h"
#include "cli/objects.h"

#define SLICE_S 60.0            /* seconds per waiting request; longer waits loop */
#define DEFAULT_LEASE_S 60.0

const char help_queue[] =
	"Usage: spawnctl queue OP NAME [ARGS...] [--timeout S] [-o json]\n"
	"\n"
	"  create NAME [--maxsize N]   make the queue (0: unbounded)\n"
	"  put NAME VALUE...           put the values (JSON; a word that is not JSON goes\n"
	"                              as a string), all or none; exits 124 if still full\n"
	"  get NAME                    print the oldest item (a string bare, others as JSON);\n"
	"                              exits 124 if none came\n"
	"  task_done NAME              finish an item got (JoinableQueue.task_done())\n"
	"  join NAME                   wait until nothing is unfinished; 124 at the timeout\n"
	"  rm NAME                     remove the queue\n"
	"Without --timeout, put, get and join wait for ever. -o json prints the answer.\n";
const char help_event[] =
	"Usage: spawnctl event OP NAME [--timeout S] [-o json]\n"
	"\n"
	"  create NAME   make the event (not set)\n"
	"  set NAME      set it: every waiter returns\n"
	"  clear NAME    clear it\n"
	"  wait NAME     wait until it is set (exit 0); exits 124 at the timeout\n"
	"  rm NAME       remove it\n"
	"Without --timeout, wait waits for ever. -o json prints the answer.\n";
const char help_lock[] =
	"Usage: spawnctl lock OP NAME [--timeout S] [--lease S] [--owner OWNER] [-o json]\n"
	"\n"
	"  create NAME [--reentrant]   make the lock (an RLock with --reentrant)\n"
	"  acquire NAME                take it and print its owner; exits 124 if it was\n"
	"                              not free in time (no --timeout: wait for ever)\n"
	"  release NAME --owner OWNER  give it back\n"
	"  renew NAME --owner OWNER    extend the lease\n"
	"  rm NAME                     remove it\n"
	"Outside a worker a grant is leased (--lease, default 60 s) and lapses unless\n"
	"renewed; inside one (its SPAWND_TOKEN) it is the worker's, released when it ends,\n"
	"and --owner is not needed. -o json prints the answer.\n";

struct sync_opts {
	double timeout;         /* < 0: for ever */
	double lease;
	long long maxsize;
	const char *owner;
	int reentrant;
};

enum body { BODY_NONE, BODY_CREATE, BODY_ITEMS, BODY_LEASE, BODY_OWNER };

struct sync_op {
	const char *op;
	const char *method;
	const char *suffix;     /* after PATH/NAME */
	enum body body;
	const char *done;       /* the answer's key that says a wait succeeded, or NULL */
	bool done_when_true;    /* done: key is true (else: key is absent / 0) */
	const char *print;      /* text mode: the answer's field to print, or NULL */
};

static const struct sync_op queue_ops[] = {
	{ "create", "PUT", "", BODY_CREATE, NULL, false, NULL },
	{ "put", "POST", "/put", BODY_ITEMS, "full", false, NULL },
	{ "get", "POST", "/get", BODY_NONE, "item", true, "item" },
	{ "task_done", "POST", "/task_done", BODY_NONE, NULL, false, NULL },
	{ "join", "POST", "/join", BODY_NONE, "unfinished", false, NULL },
	{ "rm", "DELETE", "", BODY_NONE, NULL, false, NULL },
	{ NULL, NULL, NULL, 0, NULL, false, NULL },
};
static const struct sync_op event_ops[] = {
	{ "create", "PUT", "", BODY_NONE, NULL, false, NULL },
	{ "set", "POST", "/set", BODY_NONE, NULL, false, NULL },
	{ "clear", "POST", "/clear", BODY_NONE, NULL, false, NULL },
	{ "wait", "POST", "/wait", BODY_NONE, "set", true, NULL },
	{ "rm", "DELETE", "", BODY_NONE, NULL, false, NULL },
	{ NULL, NULL, NULL, 0, NULL, false, NULL },
};
static const struct sync_op lock_ops[] = {
	{ "create", "PUT", "", BODY_CREATE, NULL, false, NULL },
	{ "acquire", "POST", "/acquire", BODY_LEASE, "acquired", true, "owner" },
	{ "release", "POST", "/release", BODY_OWNER, NULL, false, NULL },
	{ "renew", "POST", "/renew", BODY_LEASE, NULL, false, NULL },
	{ "rm", "DELETE", "", BODY_NONE, NULL, false, NULL },
	{ NULL, NULL, NULL, 0, NULL, false, NULL },
};

static int parse_opts(struct cli *cli, int argc, char **argv, struct sync_opts *o)
{
	static const struct option options[] = {
		{ "timeout", required_argument, NULL, 't' }, { "lease", required_argument, NULL, 'l' },
		{ "maxsize", required_argument, NULL, 'm' }, { "owner", required_argument, NULL, 'O' },
		{ "reentrant", no_argument, NULL, 'r' }, CLI_COMMON_OPTIONS, { 0 },
	};
	int c;

	*o = (struct sync_opts){ .timeout = -1, .lease = DEFAULT_LEASE_S };
	while ((c = cli_getopt(cli, argc, argv, "o:h", options)) != -1) {
		if (c == 't' && cli_parse_seconds(optarg, &o->timeout))
			continue;
		if (c == 'l' && cli_parse_seconds(optarg, &o->lease) && o->lease > 0)
			continue;
		if (c == 'm' && cli_parse_count(optarg, &o->maxsize))
			continue;
		if (c == 'O' || c == 'r') {
			o->owner = c == 'O' ? optarg : o->owner;
			o->reentrant |= c == 'r';
			continue;
		}
		return cli_usage(cli, "bad value or option (%s)", optarg ? optarg : "?");
	}
	return 0;
}

/* A shell word as a JSON value: JSON when it parses as exactly that, else a string. */
static cJSON *word_value(const char *word)
{
	cJSON *v = cJSON_ParseWithOpts(word, NULL, true);
	return v ? v : cJSON_CreateString(word);
}

static cJSON *make_body(const struct cli *cli, const struct sync_op *op, const struct sync_opts *o,
			char **values, int nvalues)
{
	cJSON *body = cJSON_CreateObject(), *items;

	if (!body)
		return NULL;
	if (op->body == BODY_CREATE && strcmp(cli->cmd->name, "queue") == 0)
		cJSON_AddNumberToObject(body, "maxsize", (double)o->maxsize);
	if (op->body == BODY_CREATE && strcmp(cli->cmd->name, "lock") == 0)
		cJSON_AddBoolToObject(body, "reentrant", o->reentrant);
	if (op->body == BODY_LEASE)
		cJSON_AddNumberToObject(body, "lease", o->lease);
	if ((op->body == BODY_LEASE || op->body == BODY_OWNER) && o->owner)
		cJSON_AddStringToObject(body, "owner", o->owner);
	if (op->body == BODY_ITEMS && (items = cJSON_AddArrayToObject(body, "items")))
		for (int i = 0; i < nvalues; i++)
			cJSON_AddItemToArray(items, word_value(values[i]));
	return body;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool succeeded(const struct sync_op *op, const cJSON *answer)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(answer, op->done);
	if (op->done_when_true)
		return v && !cJSON_IsFalse(v);
	return !v || cJSON_IsFalse(v) || (cJSON_IsNumber(v) && v->valuedouble == 0);
}

/* The request, again in slices while it waits; r holds the last answer. */
static void call(const struct sync_op *op, const char *path, const cJSON *body, double timeout,
		 struct http_resp *r)
{
	double deadline = timeout < 0 ? INFINITY : now_s() + timeout;
	for (;;) {
		double slice = op->done ? fmin(SLICE_S, fmax(0.0, deadline - now_s())) : 0;
		char *full = NULL;
		if (op->done && asprintf(&full, "%s?timeout=%.3f", path, slice) < 0)
			full = NULL;
		http_json(op->method, full ? full : path, strcmp(op->method, "DELETE") ? body : NULL, r);
		free(full);
		if (!op->done || r->status != 200 || succeeded(op, r->json) || now_s() >= deadline || slice == 0)
			return;
		http_resp_release(r);
		*r = (struct http_resp){ 0 };
	}
}

static void print_field(const cJSON *answer, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(answer, key);
	char *text = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
	if (cJSON_IsString(v))
		printf("%s\n", v->valuestring);
	else if (text)
		printf("%s\n", text);
	free(text);
}

static int run_op(struct cli *cli, const struct sync_op *op, const struct obj_kind *kind, const char *name,
		  const struct sync_opts *o, char **values, int nvalues)
{
	struct http_resp r = { 0 };
	char *path = obj_path(kind, name, op->suffix);
	cJSON *body = path ? make_body(cli, op, o, values, nvalues) : NULL;
	int rc = 0;

	if (!body) {
		free(path);
		return EXIT_CLI;
	}
	call(op, path, body, o->timeout, &r);
	if (r.status < 200 || r.status >= 300) {
		rc = http_fail(&r, name);
	} else {
		if (cli->json && r.json)
			cli_print_json(r.json);
		if (op->done && !succeeded(op, r.json)) {
			cli_msg("%s %s: %s timed out", cli->cmd->name, name, op->op);
			rc = EXIT_STILL_ALIVE;
		} else if (!cli->json && op->print) {
			print_field(r.json, op->print);
		}
	}
	http_resp_release(&r);
	cJSON_Delete(body);
	free(path);
	return rc;
}

static int sync_command(struct cli *cli, int argc, char **argv, const struct sync_op *ops, const char *kind_word)
{
	struct sync_opts o;
	const struct sync_op *op = ops;
	int rc;

	if ((rc = parse_opts(cli, argc, argv, &o)) != 0)
		return rc;
	if (argc - optind < 2)
		return cli_usage(cli, "an operation and a name, please");
	while (op->op && strcmp(op->op, argv[optind]) != 0)
		op++;
	if (!op->op)
		return cli_usage(cli, "no operation \"%s\"", argv[optind]);
	if ((op->body == BODY_ITEMS) != (argc - optind > 2))
		return cli_usage(cli, op->body == BODY_ITEMS ? "put what?" : "too many arguments");
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	return run_op(cli, op, obj_kind_find(kind_word), argv[optind + 1], &o, argv + optind + 2,
		      argc - optind - 2);
}

int cmd_queue(struct cli *cli, int argc, char **argv)
{
	return sync_command(cli, argc, argv, queue_ops, "queues");
}

int cmd_event(struct cli *cli, int argc, char **argv)
{
	return sync_command(cli, argc, argv, event_ops, "events");
}

int cmd_lock(struct cli *cli, int argc, char **argv)
{
	return sync_command(cli, argc, argv, lock_ops, "locks");
}
