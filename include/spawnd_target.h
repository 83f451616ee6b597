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
 *   spawnd), a clean environment (PATH, SPAWND_PROCESS_ID, SPAWND_PROCESS_NAME),
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
 * whatever the function printed; in a run of POST /processes it is printed on
 * stdout as one line. Call it at most once per run (a later call replaces
 * the value). Returns 0, -EINVAL (json is NULL or not JSON) or -ENOMEM. */
int spawnd_return_json(const char *json);

#ifdef __cplusplus
}
#endif

#endif
