/* plugin_chapter_queues — the message-passing examples of PyMOTW's
 * "multiprocessing: Communication Between Processes", as spawnd targets that
 * use the shared objects from C (include/spawnd_target.h). Each prints what
 * the Python example prints; README.md ("The chapter's communication
 * examples") runs each with a few curl commands, tests/api_capi_examples.c
 * runs each end to end.
 *
 * A Python example is one parent that starts its workers and talks to them.
 * Here a client (curl) starts the workers, and where the parent also talks to
 * them (puts jobs, reads results, prints), a "main" target plays that part.
 * Every target creates the objects it uses (creating one that exists is
 * fine), so they can start in any order.
 *
 *   fancy_worker        queue          gets one name, prints
 *                                      "Doing something fancy in Process-1 for Fancy Dan!"
 *   consumer            tasks results  a JoinableQueue consumer: "[a, b]" tasks until a
 *                                      null poison pill, "a * b = p" results on the second queue
 *   producer_consumer   tasks results consumers jobs
 *                                      the parent: puts the jobs and a pill per consumer,
 *                                      joins, prints the results
 *   dict_worker         dict key value sets one key of a Manager dict (a namespace)
 *   dict_main           dict count     prints "Results: {0: 0, 1: 2, ...}"
 *   ns_producer         namespace event   sets ns.value, then the event
 *   ns_consumer         namespace event   reads ns.value before and after the event
 *
 * Values travel as JSON text; the few shapes used here ("text", [a, b],
 * integers) are read with sscanf, as a C target without a JSON library would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spawnd_target.h"

#define NAME_PATTERN "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"

/* A failed call ends the target: what failed goes to stderr, exit code 1. */
static int fail(const char *what, const char *name, int r)
{
	fprintf(stderr, "%s(%s): %s\n", what, name, strerror(-r));
	return 1;
}

static int finish(void) { return fflush(stdout) == 0 ? 0 : 1; }

static const char *arg(const struct spawnd_args *args, const char *name, const char *fallback)
{
	return spawnd_arg_string(args, name, fallback);
}

/* The text of a JSON string without escapes ("\"Fancy Dan\"" -> Fancy Dan), in place. */
static char *unquote(char *json)
{
	size_t n = strlen(json);
	if (n >= 2 && json[0] == '"' && json[n - 1] == '"') {
		json[n - 1] = '\0';
		return json + 1;
	}
	return json;
}

/* ---- a queue of jobs handed to a worker (multiprocessing_queue.py) ---- */

static int run_fancy_worker(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *queue = arg(args, "queue", "fancy");
	char *item;
	int r = spawnd_object_create(SPAWND_QUEUE, queue, NULL);
	if (r < 0 || (r = spawnd_queue_get(queue, SPAWND_FOREVER, &item)) < 0)
		return fail("queue get", queue, r);
	printf("Doing something fancy in %s for %s!\n", self->name, unquote(item));
	free(item);
	return finish();
}

/* ---- producer and consumers (multiprocessing_producer_consumer.py) ---- */

static int create_queues(const char *tasks, const char *results)
{
	int r = spawnd_object_create(SPAWND_QUEUE, tasks, NULL);
	if (r < 0)
		return fail("create", tasks, r);
	r = spawnd_object_create(SPAWND_QUEUE, results, NULL);
	return r < 0 ? fail("create", results, r) : 0;
}

/* One task: "a * b", a pretended 0.1 s of work, "a * b = p" on results. */
static int do_task(const struct spawnd_process *self, const char *task, const char *tasks, const char *results)
{
	long long a, b;
	char answer[96];
	int r;
	if (sscanf(task, "[%lld ,%lld]", &a, &b) != 2)
		return fail("task is not [a, b]", tasks, -EINVAL);
	printf("%s: %lld * %lld\n", self->name, a, b);
	fflush(stdout);
	usleep(100 * 1000);
	snprintf(answer, sizeof answer, "\"%lld * %lld = %lld\"", a, b, a * b);
	if ((r = spawnd_queue_task_done(tasks)) < 0)
		return fail("task_done", tasks, r);
	return (r = spawnd_queue_put(results, answer, SPAWND_FOREVER)) < 0 ? fail("put", results, r) : 0;
}

static int run_consumer(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *tasks = arg(args, "tasks", "tasks"), *results = arg(args, "results", "results");
	int r = create_queues(tasks, results);
	while (r == 0) {
		char *task;
		if ((r = spawnd_queue_get(tasks, SPAWND_FOREVER, &task)) < 0)
			return fail("get", tasks, r);
		if (strcmp(task, "null") == 0) {
			/* Poison pill means shutdown */
			printf("%s: Exiting\n", self->name);
			free(task);
			return (r = spawnd_queue_task_done(tasks)) < 0 ? fail("task_done", tasks, r) : finish();
		}
		r = do_task(self, task, tasks, results);
		free(task);
	}
	return r;
}

static int run_producer_consumer(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *tasks = arg(args, "tasks", "tasks"), *results = arg(args, "results", "results");
	long long consumers = spawnd_arg_int(args, "consumers", 2), jobs = spawnd_arg_int(args, "jobs", 10);
	char task[64];
	int r = create_queues(tasks, results);
	if (r)
		return r;
	printf("Creating %lld consumers\n", consumers);
	fflush(stdout);
	for (long long i = 0; i < jobs + consumers && r >= 0; i++) {
		if (i < jobs)
			snprintf(task, sizeof task, "[%lld, %lld]", i, i);
		r = spawnd_queue_put(tasks, i < jobs ? task : "null", SPAWND_FOREVER);
	}
	if (r < 0 || (r = spawnd_queue_join(tasks, SPAWND_FOREVER)) < 0)
		return fail("put and join", tasks, r);
	for (long long i = 0; i < jobs; i++) {
		char *result;
		if ((r = spawnd_queue_get(results, SPAWND_FOREVER, &result)) < 0)
			return fail("get", results, r);
		printf("Result: %s\n", unquote(result));
		free(result);
	}
	return finish();
}

/* ---- a Manager dict written by workers (multiprocessing_manager_dict.py) ---- */

static int run_dict_worker(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *dict = arg(args, "dict", "d");
	char key[32], value[32];
	snprintf(key, sizeof key, "%lld", spawnd_arg_int(args, "key", 0));
	snprintf(value, sizeof value, "%lld", spawnd_arg_int(args, "value", 0));
	int r = spawnd_object_create(SPAWND_NAMESPACE, dict, NULL);
	if (r < 0 || (r = spawnd_namespace_set(dict, key, value)) < 0)
		return fail("set", dict, r);
	return 0;
}

static int run_dict_main(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *dict = arg(args, "dict", "d");
	long long count = spawnd_arg_int(args, "count", 10);
	const char *sep = "";
	printf("Results: {");
	for (long long i = 0; i < count; i++) {
		char key[32], *value;
		snprintf(key, sizeof key, "%lld", i);
		int r = spawnd_namespace_get(dict, key, &value);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return fail("get", dict, r);
		printf("%s%s: %s", sep, key, value);
		sep = ", ";
		free(value);
	}
	printf("}\n");
	return finish();
}

/* ---- a Namespace value after an Event (multiprocessing_namespaces.py) ---- */

static int create_ns(const char *ns, const char *event)
{
	int r = spawnd_object_create(SPAWND_NAMESPACE, ns, NULL);
	if (r < 0)
		return fail("create", ns, r);
	r = spawnd_object_create(SPAWND_EVENT, event, NULL);
	return r < 0 ? fail("create", event, r) : 0;
}

static int run_ns_producer(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *ns = arg(args, "namespace", "ns"), *event = arg(args, "event", "ns_ready");
	int r = create_ns(ns, event);
	if (r)
		return r;
	if ((r = spawnd_namespace_set(ns, "value", "\"This is the value\"")) < 0)
		return fail("set", ns, r);
	return (r = spawnd_event_set(event)) < 0 ? fail("set", event, r) : 0;
}

static int run_ns_consumer(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *ns = arg(args, "namespace", "ns"), *event = arg(args, "event", "ns_ready");
	char *value;
	int r = create_ns(ns, event);
	if (r)
		return r;
	r = spawnd_namespace_get(ns, "value", &value);
	if (r == -ENOENT)
		printf("Before event, error: 'Namespace' object has no attribute 'value'\n");
	else if (r < 0)
		return fail("get", ns, r);
	else {
		printf("Before event: %s\n", unquote(value));
		free(value);
	}
	fflush(stdout);
	if ((r = spawnd_event_wait(event, SPAWND_FOREVER)) < 0)
		return fail("wait", event, r);
	if ((r = spawnd_namespace_get(ns, "value", &value)) < 0)
		return fail("get", ns, r);
	printf("After event: %s\n", unquote(value));
	free(value);
	return finish();
}

/* ---- the table ---- */

#define NAME_ARG(n) { .name = n, .type = SPAWND_ARG_STRING, .pattern = NAME_PATTERN }
#define ARGS(a) .args = a, .nargs = sizeof a / sizeof a[0]

static const struct spawnd_arg_spec fancy_args[] = { NAME_ARG("queue") };
static const struct spawnd_arg_spec consumer_args[] = { NAME_ARG("tasks"), NAME_ARG("results") };
static const struct spawnd_arg_spec producer_args[] = {
	NAME_ARG("tasks"), NAME_ARG("results"),
	{ .name = "consumers", .type = SPAWND_ARG_INTEGER, .has_min = true, .min = 1, .has_max = true, .max = 64 },
	{ .name = "jobs", .type = SPAWND_ARG_INTEGER, .has_min = true, .min = 0, .has_max = true, .max = 10000 },
};
static const struct spawnd_arg_spec dict_worker_args[] = {
	NAME_ARG("dict"),
	{ .name = "key", .type = SPAWND_ARG_INTEGER, .required = true, .has_min = true, .min = 0,
	  .has_max = true, .max = 1e9 },
	{ .name = "value", .type = SPAWND_ARG_INTEGER, .required = true, .has_min = true, .min = -1e15,
	  .has_max = true, .max = 1e15 },
};
static const struct spawnd_arg_spec dict_main_args[] = {
	NAME_ARG("dict"),
	{ .name = "count", .type = SPAWND_ARG_INTEGER, .has_min = true, .min = 0, .has_max = true, .max = 1000 },
};
static const struct spawnd_arg_spec ns_args[] = { NAME_ARG("namespace"), NAME_ARG("event") };

static const struct spawnd_target targets[] = {
	{ .name = "fancy_worker", .run = run_fancy_worker, ARGS(fancy_args),
	  .description = "Gets a name from a queue and does something fancy for it (PyMOTW multiprocessing_queue)." },
	{ .name = "consumer", .run = run_consumer, ARGS(consumer_args),
	  .description = "A JoinableQueue consumer: [a, b] tasks until a null poison pill, results on a second queue." },
	{ .name = "producer_consumer", .run = run_producer_consumer, ARGS(producer_args),
	  .description = "The producer: puts the jobs and a poison pill per consumer, joins, prints the results." },
	{ .name = "dict_worker", .run = run_dict_worker, ARGS(dict_worker_args),
	  .description = "Sets d[key] = value in a shared dict (a namespace)." },
	{ .name = "dict_main", .run = run_dict_main, ARGS(dict_main_args),
	  .description = "Prints the shared dict's keys 0 to count - 1 as Python prints a dict." },
	{ .name = "ns_producer", .run = run_ns_producer, ARGS(ns_args),
	  .description = "Sets the namespace's value, then the event." },
	{ .name = "ns_consumer", .run = run_ns_consumer, ARGS(ns_args),
	  .description = "Reads the namespace's value before and after the event." },
};

static const struct spawnd_plugin plugin = {
	.abi = SPAWND_TARGET_ABI, .name = "chapter_queues", .targets = targets,
	.ntargets = sizeof targets / sizeof targets[0],
};

const struct spawnd_plugin *spawnd_plugin_init(void) { return &plugin; }
