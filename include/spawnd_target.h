/* spawnd_target.h — the public interface of spawnd plugin targets, ABI 1.
 *
 * A plugin is a C shared library that spawnd loads at startup from the folder
 * given by --plugins DIR (every *.so there, in name order). It exports one
 * function, spawnd_plugin_init(), which returns a description of the targets
 * it provides: their names, argument schemas and run functions. A client then
 * runs one by name (POST /processes {"target": "...", "args": ...}) like any
 * builtin target.
 *
 *     #include "spawnd_target.h"
 *
 *     static int run_hello(const struct spawnd_args *args, const struct spawnd_process *self)
 *     {
 *         printf("Hello, %s\n", spawnd_arg_string(args, "who", "world"));
 *         return 0;
 *     }
 *     static const struct spawnd_arg_spec hello_args[] = {
 *         { .name = "who", .type = SPAWND_ARG_STRING, .max_length = 64 },
 *     };
 *     static const struct spawnd_target targets[] = {
 *         { .name = "hello", .description = "Greets someone.",
 *           .args = hello_args, .nargs = 1, .run = run_hello },
 *     };
 *     static const struct spawnd_plugin plugin = {
 *         .abi = SPAWND_TARGET_ABI, .name = "hello", .targets = targets, .ntargets = 1,
 *     };
 *     const struct spawnd_plugin *spawnd_plugin_init(void) { return &plugin; }
 *
 * Build it with `cc -shared -fPIC -I include -o hello.so hello.c`. Link it
 * against nothing: the spawnd_arg_* functions are exported by the spawnd
 * executable and bound when spawnd loads the plugin.
 *
 * This header depends on the C standard library only (no spawnd internals, no
 * JSON library). Any change to a struct or a function here bumps
 * SPAWND_TARGET_ABI; spawnd refuses to start with a plugin built for another ABI.
 * Adding a function changes none that exists, so it keeps the ABI: a plugin
 * that calls one fails to load on a spawnd without it (an unresolved symbol
 * at dlopen()), which names the function.
 *
 * Lifecycle and threading.
 * - spawnd_plugin_init() is called once, in spawnd's main thread, at startup,
 *   before spawnd starts any thread or forks its fork server. It must not start
 *   threads (they would not exist in the processes that run targets) and should
 *   do little else than return its description.
 * - The description (the struct spawnd_plugin, its targets, their arg specs and
 *   every string they point to) must stay valid and unchanged for the life of
 *   the process; static const tables are the natural way. spawnd never unloads
 *   a plugin that loaded, and never frees or writes to what it points to.
 * - A run function is called in the worker: a fresh process forked for that
 *   one run from spawnd's single-threaded fork server; or, in a pool worker
 *   (POST /pools), once per task in a process that runs one task after
 *   another (its stdout per task is captured for the task's result, its
 *   stdin is /dev/null, its memory carries over from task to task). It has fds 0-2 only
 *   (stdin: the request's "stdin" or /dev/null; stdout and stderr: captured by
 *   spawnd), a clean environment (PATH, SPAWND_PROCESS_ID, SPAWND_PROCESS_NAME,
 *   and SPAWND_URL, SPAWND_TOKEN, SPAWND_SOCKET for the shared objects below),
 *   default signal dispositions and an empty signal mask. It may use any C
 *   code, threads and children included; the process group is signalled on
 *   terminate/kill. It returns the exit code (0-255, only the low 8 bits are
 *   kept); stdio buffers are flushed after it returns. Calling exit() is fine too.
 * - The run function never runs inside the spawnd server process.
 *
 * Arguments. spawnd validates a request's arguments against the target's arg
 * specs before anything runs (400 with one detail per bad argument otherwise),
 * so a run function only reads values that have the declared type and meet
 * every constraint. The struct spawnd_args and everything read from it belong
 * to spawnd and stay valid until the run function returns; do not free them.
 */
#ifndef SPAWND_PUBLIC_SPAWND_TARGET_H
#define SPAWND_PUBLIC_SPAWND_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of everything declared in this header. */
#define SPAWND_TARGET_ABI 1

#if defined(__GNUC__) || defined(__clang__)
#define SPAWND_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SPAWND_PLUGIN_EXPORT
#endif

enum spawnd_arg_type {
	SPAWND_ARG_STRING,   /* a JSON string (UTF-8, no NUL byte) */
	SPAWND_ARG_INTEGER,  /* a JSON number with no fraction, within int64 */
	SPAWND_ARG_NUMBER,   /* any finite JSON number */
	SPAWND_ARG_BOOLEAN,  /* true or false */
};

/* One declared argument (API.md: "Argument constraints"). Zero means "not set"
 * for every constraint, so a designated initializer names only what it uses. */
struct spawnd_arg_spec {
	const char *name;                /* 1-64 characters of [A-Za-z0-9_], not starting with a digit */
	enum spawnd_arg_type type;
	bool required;                   /* a request without it gets 400 */
	bool variadic;                   /* last spec only: takes all remaining positional values */
	const char *const *enum_values;  /* strings: NULL-terminated list of the allowed values */
	const char *pattern;             /* strings: POSIX extended regex the whole value must match */
	bool has_min, has_max;           /* integers and numbers: inclusive range */
	double min, max;
	long max_length;                 /* strings: at most this many bytes; 0 = no limit */
};

/* The worker's identity: multiprocessing's current_process(). The strings are
 * spawnd's, valid until the run function returns. */
struct spawnd_process {
	const char *id;     /* the process id of the API ("GET /processes/{id}") */
	const char *name;   /* its name ("Process-N" unless the request gave one) */
	pid_t pid;          /* the worker's OS pid (getpid()) */
};

/* The validated arguments of one run (opaque; read with spawnd_arg_*). */
struct spawnd_args;

/* Runs the target in the worker; returns its exit code. */
typedef int (*spawnd_run_fn)(const struct spawnd_args *args, const struct spawnd_process *self);

struct spawnd_target {
	const char *name;         /* 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-';
				     unique among every builtin and plugin target */
	const char *description;  /* one sentence for GET /targets; may be NULL */
	const struct spawnd_arg_spec *args;  /* nargs specs, in positional order (NULL when 0) */
	size_t nargs;             /* at most 64 */
	spawnd_run_fn run;
	double timeout;           /* seconds after which a run is terminated; 0 = none */
	int max_running;          /* runs of this target at once; 0 = no limit of its own */
};

/* What spawnd_plugin_init() returns. abi comes first and must be SPAWND_TARGET_ABI. */
struct spawnd_plugin {
	int abi;
	const char *name;                     /* the plugin's name (informational; may be NULL) */
	const struct spawnd_target *targets;  /* ntargets descriptors */
	size_t ntargets;
};

/* The one entry point each plugin exports (see "Lifecycle" above). Returning
 * NULL refuses to load: spawnd then does not start. */
SPAWND_PLUGIN_EXPORT const struct spawnd_plugin *spawnd_plugin_init(void);

/* ---- reading arguments (implemented by spawnd) -------------------------------
 * `name` is a declared argument's name. An argument the request left out has
 * no value: the scalar readers then return `fallback`. A reader whose type
 * does not match the declared type also returns `fallback`, except that
 * spawnd_arg_number() reads integers too. For a variadic argument the scalar
 * readers read its first value; use spawnd_arg_count() and spawnd_arg_at() for
 * all of them. */

/* True when the request gave the argument (at least one value if variadic). */
bool spawnd_arg_has(const struct spawnd_args *args, const char *name);

long long spawnd_arg_int(const struct spawnd_args *args, const char *name, long long fallback);
double spawnd_arg_number(const struct spawnd_args *args, const char *name, double fallback);
bool spawnd_arg_bool(const struct spawnd_args *args, const char *name, bool fallback);
/* The string belongs to spawnd (valid until the run function returns). */
const char *spawnd_arg_string(const struct spawnd_args *args, const char *name, const char *fallback);

/* One value of an argument; only the member(s) of its type are meaningful. */
struct spawnd_value {
	enum spawnd_arg_type type;
	long long integer;   /* SPAWND_ARG_INTEGER */
	double number;       /* SPAWND_ARG_INTEGER and SPAWND_ARG_NUMBER */
	const char *string;  /* SPAWND_ARG_STRING */
	bool boolean;        /* SPAWND_ARG_BOOLEAN */
};

/* Number of values of the argument: 0 when absent, 1 for a scalar given,
 * n for a variadic one given n values. */
size_t spawnd_arg_count(const struct spawnd_args *args, const char *name);

/* Value `index` (0 <= index < count) of the argument, or NULL when there is
 * none. The value belongs to spawnd (valid until the run function returns). */
const struct spawnd_value *spawnd_arg_at(const struct spawnd_args *args, const char *name, size_t index);

/* ---- returning a value (implemented by spawnd) -------------------------------
 * Sets the run's result to the JSON text json (any JSON value; checked and
 * stored compact). In a pool (POST /pools) that value is the task's result,
 * and what the function printed goes to its worker's stdout; in a run of
 * POST /processes it is printed on stdout as one line. Call it at most once per run (a later call replaces
 * the value). Returns 0, -EINVAL (json is NULL or not JSON) or -ENOMEM. */
int spawnd_return_json(const char *json);

/* ---- shared objects, from inside a worker (implemented by spawnd) -----------
 * multiprocessing's Queue, JoinableQueue, Event, Lock, Semaphore, Condition,
 * Barrier and Manager namespaces, as the server's /queues, /sync/... and
 * /namespaces (API.md "Shared objects"), one function per operation. Only a run
 * function (in a worker) may call them: they reach the server that started the
 * worker through its SPAWND_SOCKET (a unix socket in the state folder) or else
 * its SPAWND_URL, connecting on the first call, and present its SPAWND_TOKEN,
 * so every grant belongs to this worker and is released when it ends.
 *
 * Conventions:
 * - Names are object names (the target name rule); a name never created is
 *   -ENOENT. spawnd_object_create() creates one (or finds it).
 * - Values and items are JSON text ("42", "\"job 1\"", "{\"a\": [1, 2]}"),
 *   checked before anything is sent (-EINVAL when not one JSON value). What
 *   comes back is JSON text in a string malloc'd by spawnd: free() it.
 *   Numbers come back in their shortest exact form ("1e3" reads as "1000").
 * - timeout is in seconds. A wait that times out is not an error: the blocking
 *   calls return 1 when done and 0 when the timeout passed first (where
 *   multiprocessing returns False or raises Empty/Full). SPAWND_FOREVER (any
 *   negative timeout) waits until done. The server caps one wait at its
 *   --object-timeout (300 s by default); a longer timeout returns 0 at the
 *   cap, except with SPAWND_FOREVER, which waits again. A barrier's wait is
 *   the exception: a waiter that times out breaks the barrier, so
 *   SPAWND_FOREVER there means the cap.
 * - Errors are negative errno values: -ENOENT (no such object or key),
 *   -EINVAL (a bad name, value or option), -EPERM (not the holder: a release,
 *   or a condition's wait or notify without its lock), -EEXIST (created
 *   before with other options), -EOVERFLOW (task_done more often than items
 *   were got, a bounded semaphore released past its bound), -ENOTCONN (not in
 *   a worker of a server: no SPAWND_SOCKET or http:// SPAWND_URL),
 *   -ECONNREFUSED / -ECONNRESET (the server is gone), -EACCES (the token was
 *   refused), -ESHUTDOWN (the server is shutting down), -EAGAIN (the server
 *   is busy), -EIO (anything else the server answered), -ENOMEM.
 * - Threads: any thread of the worker; each has its own connection. A child
 *   the worker forks connects anew (its grants are still the worker's).
 */

#define SPAWND_FOREVER (-1.0)

enum spawnd_object_kind {
	SPAWND_QUEUE,        /* /queues: options {"maxsize": n} */
	SPAWND_EVENT,        /* /sync/events */
	SPAWND_LOCK,         /* /sync/locks: {"reentrant": bool} */
	SPAWND_SEMAPHORE,    /* /sync/semaphores: {"value": n, "bounded": bool} */
	SPAWND_CONDITION,    /* /sync/conditions: {"lock": "lockname"} */
	SPAWND_BARRIER,      /* /sync/barriers: {"parties": n} */
	SPAWND_NAMESPACE,    /* /namespaces */
};

/* What an acquire was granted (API.md): the fence grows with every grant of
 * the object; abandoned tells that the previous holder died holding it. */
struct spawnd_grant {
	long long fence;
	bool abandoned;
};

/* Creates the object with options (a JSON object's text; NULL: {}). 1 created,
 * 0 it existed with the same options, -EEXIST it exists with others. */
int spawnd_object_create(enum spawnd_object_kind kind, const char *name, const char *options_json);
/* Removes it (its waiters get -ENOENT). 0 or -errno. */
int spawnd_object_delete(enum spawnd_object_kind kind, const char *name);

/* Queue.put(): 1 put, 0 still full at the timeout. */
int spawnd_queue_put(const char *queue, const char *item_json, double timeout);
/* Queue.get(): 1 and *item_json (malloc'd, caller frees), 0 still empty at the
 * timeout (*item_json NULL). The get is final, as in multiprocessing. */
int spawnd_queue_get(const char *queue, double timeout, char **item_json);
/* A batch get (an extension): up to max (1 to 1000) head items at once, in
 * order, waiting for the first only. 1 and *items_json, a JSON array's text
 * (malloc'd, caller frees); 0 still empty at the timeout; -EINVAL for max. */
int spawnd_queue_get_many(const char *queue, int max, double timeout, char **items_json);
/* JoinableQueue.task_done(): 0 or -EOVERFLOW. */
int spawnd_queue_task_done(const char *queue);
/* JoinableQueue.join(): 1 every item got was task_done, 0 not at the timeout. */
int spawnd_queue_join(const char *queue, double timeout);

/* Event.set(), Event.clear(): 0. Event.wait(): 1 set, 0 not at the timeout. */
int spawnd_event_set(const char *event);
int spawnd_event_clear(const char *event);
int spawnd_event_wait(const char *event, double timeout);

/* Lock.acquire(): 1 acquired (and *grant, when not NULL), 0 not at the
 * timeout. Lock.release(): 0, or -EPERM when this worker does not hold it. */
int spawnd_lock_acquire(const char *lock, double timeout, struct spawnd_grant *grant);
int spawnd_lock_release(const char *lock);

/* Semaphore.acquire() and release(), as for locks; a release past a bounded
 * semaphore's initial value is -EOVERFLOW. */
int spawnd_semaphore_acquire(const char *semaphore, double timeout, struct spawnd_grant *grant);
int spawnd_semaphore_release(const char *semaphore);

/* Condition: acquire and release its lock as for locks. wait() (holding the
 * lock: released while waiting, held again on return): 1 notified, 0 timed
 * out. notify(n) and notify_all(): how many waiters were woken. */
int spawnd_condition_acquire(const char *condition, double timeout, struct spawnd_grant *grant);
int spawnd_condition_release(const char *condition);
int spawnd_condition_wait(const char *condition, double timeout);
int spawnd_condition_notify(const char *condition, int n);
int spawnd_condition_notify_all(const char *condition);

/* Barrier.wait(): this waiter's index (0 to parties - 1), or -EPIPE when the
 * barrier is broken (a waiter timed out, this one included, or it was aborted). */
int spawnd_barrier_wait(const char *barrier, double timeout);

/* A namespace's key (Manager().Namespace() attributes, a Manager dict's keys).
 * get: 0 and *value_json (malloc'd, caller frees), -ENOENT when the key (or
 * the namespace) does not exist. set: 0; every set bumps the key's version. */
int spawnd_namespace_get(const char *ns, const char *key, char **value_json);
int spawnd_namespace_set(const char *ns, const char *key, const char *value_json);

#ifdef __cplusplus
}
#endif

#endif
