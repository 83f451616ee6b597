/* plugin_chapter_sync — the synchronisation examples of PyMOTW's
 * "multiprocessing: Communication Between Processes" (signaling between
 * processes, controlling access to resources, synchronizing operations,
 * controlling concurrent access), as spawnd targets that use the shared
 * objects from C (include/spawnd_target.h). Each prints what the Python
 * example prints; README.md ("The chapter's communication examples") runs
 * each with a few curl commands, tests/api_capi_examples.c end to end.
 *
 * As in plugin_chapter_queues.c, a client starts the workers and a "main"
 * target plays the Python parent where it takes part; every target creates
 * the objects it uses.
 *
 *   wait_for_event          event          waits without a timeout
 *   wait_for_event_timeout  event timeout  waits at most timeout seconds (2)
 *   event_main              event delay    sets the event after delay seconds (3)
 *   worker_with             lock           "Lock acquired via with"
 *   worker_no_with          lock           "Lock acquired directly"
 *   stage_1                 condition      notifies every stage 2 worker
 *   stage_2                 condition      waits for stage 1, then runs
 *   semaphore_worker        semaphore pool lock
 *                                          one of 10 workers, at most 3 active at once: the
 *                                          active names are a list in namespace pool
 *   semaphore_main          pool lock workers
 *                                          prints the active list every 0.1 s until all ended
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spawnd_target.h"

#define NAME_PATTERN "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
#define LIST_MAX 4096

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

static void sleep_s(double s)
{
	struct timespec t = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

/* ---- signaling between processes (multiprocessing_event.py) ---- */

static int run_wait_for_event(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *event = arg(args, "event", "e");
	int r = spawnd_object_create(SPAWND_EVENT, event, NULL);
	printf("wait_for_event: starting\n");
	fflush(stdout);
	if (r < 0 || (r = spawnd_event_wait(event, SPAWND_FOREVER)) < 0)
		return fail("wait", event, r);
	printf("wait_for_event: e.is_set()-> %s\n", r ? "True" : "False");
	return finish();
}

static int run_wait_for_event_timeout(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *event = arg(args, "event", "e");
	int r = spawnd_object_create(SPAWND_EVENT, event, NULL);
	printf("wait_for_event_timeout: starting\n");
	fflush(stdout);
	if (r < 0 || (r = spawnd_event_wait(event, spawnd_arg_number(args, "timeout", 2))) < 0)
		return fail("wait", event, r);
	printf("wait_for_event_timeout: e.is_set()-> %s\n", r ? "True" : "False");
	return finish();
}

static int run_event_main(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *event = arg(args, "event", "e");
	int r = spawnd_object_create(SPAWND_EVENT, event, NULL);
	if (r < 0)
		return fail("create", event, r);
	printf("main: waiting before calling Event.set()\n");
	fflush(stdout);
	sleep_s(spawnd_arg_number(args, "delay", 3));
	if ((r = spawnd_event_set(event)) < 0)
		return fail("set", event, r);
	printf("main: event is set\n");
	return finish();
}

/* ---- controlling access to resources (multiprocessing_lock.py) ---- */

static int locked_print(const struct spawnd_args *args, const char *text)
{
	const char *lock = arg(args, "lock", "lock");
	int r = spawnd_object_create(SPAWND_LOCK, lock, NULL);
	if (r < 0 || (r = spawnd_lock_acquire(lock, SPAWND_FOREVER, NULL)) < 0)
		return fail("acquire", lock, r);
	printf("%s\n", text);
	fflush(stdout);
	return (r = spawnd_lock_release(lock)) < 0 ? fail("release", lock, r) : finish();
}

static int run_worker_with(const struct spawnd_args *args, const struct spawnd_process *self)
{
	return locked_print(args, "Lock acquired via with");
}

static int run_worker_no_with(const struct spawnd_args *args, const struct spawnd_process *self)
{
	return locked_print(args, "Lock acquired directly");
}

/* ---- synchronizing operations (multiprocessing_condition.py) ---- */

static int run_stage_1(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *cond = arg(args, "condition", "cond");
	int r = spawnd_object_create(SPAWND_CONDITION, cond, NULL);
	printf("Starting %s\n", self->name);
	fflush(stdout);
	if (r < 0 || (r = spawnd_condition_acquire(cond, SPAWND_FOREVER, NULL)) < 0)
		return fail("acquire", cond, r);
	printf("%s done and ready for stage 2\n", self->name);
	fflush(stdout);
	if ((r = spawnd_condition_notify_all(cond)) < 0 || (r = spawnd_condition_release(cond)) < 0)
		return fail("notify_all and release", cond, r);
	return finish();
}

static int run_stage_2(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *cond = arg(args, "condition", "cond");
	int r = spawnd_object_create(SPAWND_CONDITION, cond, NULL);
	printf("Starting %s\n", self->name);
	fflush(stdout);
	if (r < 0 || (r = spawnd_condition_acquire(cond, SPAWND_FOREVER, NULL)) < 0)
		return fail("acquire", cond, r);
	if ((r = spawnd_condition_wait(cond, SPAWND_FOREVER)) < 0)
		return fail("wait", cond, r);
	printf("%s running\n", self->name);
	fflush(stdout);
	return (r = spawnd_condition_release(cond)) < 0 ? fail("release", cond, r) : finish();
}

/* ---- controlling concurrent access (multiprocessing_semaphore.py) ----
 *
 * The ActivePool: a list of the active names as JSON text (["0","1"]) in key
 * "active" of namespace pool, and how many workers have ended in key "done"
 * (for semaphore_main, which cannot see processes), both changed under the
 * pool's lock, as the Python class does with its Manager list and Lock. */

struct pool {
	const char *ns, *lock;
	char active[LIST_MAX];
	long long done;
};

/* Takes the pool's lock and reads both keys (absent: [] and 0). */
static int pool_lock(struct pool *p)
{
	char *text;
	int r = spawnd_lock_acquire(p->lock, SPAWND_FOREVER, NULL);
	if (r < 0)
		return r;
	r = spawnd_namespace_get(p->ns, "active", &text);
	snprintf(p->active, sizeof p->active, "%s", r == 0 ? text : "[]");
	if (r == 0)
		free(text);
	r = spawnd_namespace_get(p->ns, "done", &text);
	p->done = r == 0 ? atoll(text) : 0;
	if (r == 0)
		free(text);
	return r == 0 || r == -ENOENT ? 0 : r;
}

/* Writes both keys back and releases the lock. */
static int pool_unlock(struct pool *p, bool write)
{
	char done[32];
	int r = 0;
	snprintf(done, sizeof done, "%lld", p->done);
	if (write && ((r = spawnd_namespace_set(p->ns, "active", p->active)) < 0 ||
		      (r = spawnd_namespace_set(p->ns, "done", done)) < 0))
		spawnd_lock_release(p->lock);
	else
		r = spawnd_lock_release(p->lock);
	return r;
}

static void list_add(char *list, const char *name)
{
	size_t n = strlen(list);
	if (n < 2 || n + strlen(name) + 4 >= LIST_MAX)
		return;
	char *at = list + n - 1;             /* the closing ']' */
	if (n > 2)
		*at++ = ',';
	*at++ = '"';
	memcpy(at, name, strlen(name));
	at += strlen(name);
	memcpy(at, "\"]", 3);
}

static void list_remove(char *list, const char *name)
{
	char quoted[160];
	snprintf(quoted, sizeof quoted, "\"%s\"", name);
	char *at = strstr(list, quoted);
	if (!at)
		return;
	char *end = at + strlen(quoted);
	if (*end == ',')
		end++;
	else if (at[-1] == ',')
		at--;
	memmove(at, end, strlen(end) + 1);
}

/* ["0","1"] as Python prints a list of str: ['0', '1']. */
static void print_list(const char *list)
{
	for (const char *c = list; *c; c++) {
		if (*c == '"')
			putchar('\'');
		else if (*c == ',')
			fputs(", ", stdout);
		else
			putchar(*c);
	}
}

static int pool_objects(const struct spawnd_args *args, struct pool *p)
{
	p->ns = arg(args, "pool", "pool");
	p->lock = arg(args, "lock", "pool_lock");
	int r = spawnd_object_create(SPAWND_NAMESPACE, p->ns, NULL);
	if (r >= 0)
		r = spawnd_object_create(SPAWND_LOCK, p->lock, NULL);
	return r < 0 ? r : 0;
}

static int run_semaphore_worker(const struct spawnd_args *args, const struct spawnd_process *self)
{
	const char *sem = arg(args, "semaphore", "sem");
	struct pool p;
	int r = pool_objects(args, &p);
	if (strpbrk(self->name, "\"\\") || strlen(self->name) > 128)
		return fail("a name the list can hold", self->name, -EINVAL);
	if (r < 0 || (r = spawnd_object_create(SPAWND_SEMAPHORE, sem, "{\"value\": 3}")) < 0 ||
	    (r = spawnd_semaphore_acquire(sem, SPAWND_FOREVER, NULL)) < 0)
		return fail("acquire", sem, r);
	if ((r = pool_lock(&p)) < 0)
		return fail("make active", p.ns, r);
	list_add(p.active, self->name);
	printf("Activating %s now running ", self->name);
	print_list(p.active);
	printf("\n");
	fflush(stdout);
	if ((r = pool_unlock(&p, true)) < 0)
		return fail("make active", p.ns, r);
	srandom((unsigned)getpid());
	sleep_s((double)random() / RAND_MAX);
	if ((r = pool_lock(&p)) < 0)
		return fail("make inactive", p.ns, r);
	list_remove(p.active, self->name);
	p.done++;
	if ((r = pool_unlock(&p, true)) < 0 || (r = spawnd_semaphore_release(sem)) < 0)
		return fail("make inactive and release", sem, r);
	return finish();
}

static int run_semaphore_main(const struct spawnd_args *args, const struct spawnd_process *self)
{
	long long workers = spawnd_arg_int(args, "workers", 10);
	struct pool p;
	int r = pool_objects(args, &p);
	for (bool all_done = false; r == 0 && !all_done; ) {
		if ((r = pool_lock(&p)) < 0 || (r = pool_unlock(&p, false)) < 0)
			break;
		printf("Now running ");
		print_list(p.active);
		printf("\n");
		fflush(stdout);
		all_done = p.done >= workers;
		if (!all_done)
			sleep_s(0.1);
	}
	return r < 0 ? fail("read", p.ns, r) : finish();
}

/* ---- the table ---- */

#define NAME_ARG(n) { .name = n, .type = SPAWND_ARG_STRING, .pattern = NAME_PATTERN }
#define ARGS(a) .args = a, .nargs = sizeof a / sizeof a[0]

static const struct spawnd_arg_spec event_args[] = { NAME_ARG("event") };
static const struct spawnd_arg_spec event_timeout_args[] = {
	NAME_ARG("event"),
	{ .name = "timeout", .type = SPAWND_ARG_NUMBER, .has_min = true, .min = 0, .has_max = true, .max = 3600 },
};
static const struct spawnd_arg_spec event_main_args[] = {
	NAME_ARG("event"),
	{ .name = "delay", .type = SPAWND_ARG_NUMBER, .has_min = true, .min = 0, .has_max = true, .max = 3600 },
};
static const struct spawnd_arg_spec lock_args[] = { NAME_ARG("lock") };
static const struct spawnd_arg_spec condition_args[] = { NAME_ARG("condition") };
static const struct spawnd_arg_spec sem_worker_args[] = { NAME_ARG("semaphore"), NAME_ARG("pool"), NAME_ARG("lock") };
static const struct spawnd_arg_spec sem_main_args[] = {
	NAME_ARG("pool"), NAME_ARG("lock"),
	{ .name = "workers", .type = SPAWND_ARG_INTEGER, .has_min = true, .min = 0, .has_max = true, .max = 1000 },
};

static const struct spawnd_target targets[] = {
	{ .name = "wait_for_event", .run = run_wait_for_event, ARGS(event_args),
	  .description = "Waits for the event to be set before doing anything (PyMOTW multiprocessing_event)." },
	{ .name = "wait_for_event_timeout", .run = run_wait_for_event_timeout, ARGS(event_timeout_args),
	  .description = "Waits timeout seconds for the event, then times out." },
	{ .name = "event_main", .run = run_event_main, ARGS(event_main_args),
	  .description = "The parent: sets the event after delay seconds." },
	{ .name = "worker_with", .run = run_worker_with, ARGS(lock_args),
	  .description = "Prints while holding the lock (PyMOTW multiprocessing_lock)." },
	{ .name = "worker_no_with", .run = run_worker_no_with, ARGS(lock_args),
	  .description = "Prints while holding the lock, acquired and released directly." },
	{ .name = "stage_1", .run = run_stage_1, ARGS(condition_args),
	  .description = "Does the first stage of work, then notifies the stage 2 workers (PyMOTW multiprocessing_condition)." },
	{ .name = "stage_2", .run = run_stage_2, ARGS(condition_args),
	  .description = "Waits for the condition telling it stage 1 is done." },
	{ .name = "semaphore_worker", .run = run_semaphore_worker, ARGS(sem_worker_args),
	  .description = "Active while it holds one of the semaphore's 3 permits (PyMOTW multiprocessing_semaphore)." },
	{ .name = "semaphore_main", .run = run_semaphore_main, ARGS(sem_main_args),
	  .description = "Prints the pool's active names every 0.1 s until every worker has ended." },
};

static const struct spawnd_plugin plugin = {
	.abi = SPAWND_TARGET_ABI, .name = "chapter_sync", .targets = targets,
	.ntargets = sizeof targets / sizeof targets[0],
};

const struct spawnd_plugin *spawnd_plugin_init(void) { return &plugin; }
