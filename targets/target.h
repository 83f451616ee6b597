/* targets — the registry of what spawnd may run.
 *
 * A target is a registered unit of work (multiprocessing's "target function"):
 * a builtin C function from a static table, a function of a plugin loaded at
 * startup (targets/plugin.h), or an exec target declared by the operator in the
 * targets file (targets/exec_file.h). Names are looked up in tables,
 * never turned into paths.
 *
 * Ownership: targets returned by target_find() live as long as the registry
 * (builtins: forever). cJSON values returned by the *_json functions belong to
 * the caller, who frees them with cJSON_Delete().
 */
#ifndef SPAWND_TARGET_H
#define SPAWND_TARGET_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

/* ARG_PATH (exec targets): a file or folder that must exist and resolve
 * (symbolic links followed, "." and ".." gone; relative values taken from the
 * root) to root or below it; the resolved path is the canonical value. */
enum arg_type { ARG_STRING, ARG_INTEGER, ARG_NUMBER, ARG_BOOLEAN, ARG_PATH };

/* One declared argument. Constraints not set are NULL / false. */
struct arg_spec {
	const char *name;
	enum arg_type type;
	bool required;
	bool variadic;                   /* last spec only: takes all remaining values */
	const char *const *enum_values;  /* NULL-terminated list of allowed strings, or NULL */
	const char *pattern;             /* POSIX ERE that must match the whole string, or NULL */
	bool has_min, has_max;           /* numbers: value range; strings: unused */
	double min, max;
	long max_length;                 /* strings: max length in bytes; 0 = unlimited */
	bool allow_dash;                 /* exec targets: a value may start with '-' (else refused) */
	const char *root;                /* paths: resolved absolute folder they must stay in */
};

/* The worker's identity (multiprocessing's current_process()). */
struct target_ctx {
	const char *id;
	const char *name;
};

/* A builtin or plugin function. Runs in the worker process (a fresh, single
 * threaded child with fds 0-2 only). `args` is the canonical argument object
 * built by target_validate(): {"name": value, ...}, variadic values as an array,
 * optional absent args omitted. Returns the exit code (0-255). */
typedef int (*target_fn)(const cJSON *args, const struct target_ctx *ctx);

struct exec_spec;
struct exec_file;

enum target_kind { TARGET_BUILTIN, TARGET_PLUGIN, TARGET_EXEC };

struct target {
	const char *name;
	enum target_kind kind;
	const char *description;
	const struct arg_spec *args;
	size_t nargs;
	target_fn fn;          /* builtin and plugin targets */
	double timeout;        /* seconds; 0 = none */
	int max_running;       /* 0 = unlimited */
	const struct exec_spec *exec; /* exec targets: what to run (targets/exec_file.h); else NULL */
	const char *source;    /* where it came from: "plugin:<file name>", "file:<targets file>";
				  NULL for builtins ("builtin") */
};

/* Looks up a target by exact name. NULL when there is none (or the name is
 * not a plausible target name). Never builds a path from the name. */
const struct target *target_find(const char *name);

/* The same for a name of len bytes that may hold NUL bytes (a decoded URL path
 * segment): a NUL anywhere makes it no target. */
const struct target *target_find_len(const char *name, size_t len);

/* Like target_find() but only among builtin and plugin targets (the names an
 * exec target may not take). */
const struct target *target_find_static(const char *name);

/* True when name is a plausible target name: 1-128 bytes of [A-Za-z0-9_.-]. */
bool target_name_valid(const char *name);
/* True when a target may be declared (exec file, plugin) with this name: valid,
 * and not starting with '.' or '-'. TARGET_NAME_RULE says so to the user. */
bool target_name_declarable(const char *name);
#define TARGET_NAME_RULE "must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"
#define TARGET_ARG_NAME_MAX 64  /* longest argument name a declared target may use */
/* True when s is a C identifier ([A-Za-z_][A-Za-z0-9_]*) of at most max bytes:
 * argument names, environment names. */
bool target_identifier(const char *s, size_t max);
/* True when the whole of s matches the compiled ERE re. */
bool target_regex_full_match(const regex_t *re, const char *s);

/* Registers the plugin targets (searched after the builtins, before the exec
 * targets). Call once at startup, before any thread starts; the array must
 * live as long as the process. */
void targets_set_plugins(const struct target *targets, size_t count);

/* Installs f (from exec_file_load(), may be NULL for none) as the current set
 * of exec targets; safe while other threads call target_find(). The registry
 * takes ownership of f. The previous set is NOT freed: callers hold target
 * pointers (requests, running processes) without reference counts, so every
 * set ever installed stays valid until targets_release(). A reload thus costs
 * the memory of one parsed file. */
void targets_set_exec(struct exec_file *f);

/* Frees every exec set installed (at exit, when no thread uses a target). */
void targets_release(void);

/* Validates a request's "args" (a JSON array of positional values, an object of
 * named values, or NULL/absent) against t's argument specs.
 * On success returns 0 and stores the canonical argument object in *canonical
 * (caller frees). On failure returns -EINVAL and stores in *details a JSON
 * array with one {"field": "args.<name>" | "args[<i>]" | "args", "message": "..."}
 * per bad argument (caller frees); nothing is stored in *canonical.
 * Rules: integers must be integral JSON numbers within the int64 range (and the
 * spec's min/max); numbers finite; booleans JSON true/false; strings JSON strings
 * (enum, full-match pattern, max_length); paths as ARG_PATH says, the
 * canonical value being the resolved path; unknown names, too many positional
 * values and missing required args are errors.
 * Positional values map to the specs in order, a variadic last spec taking the
 * rest; in the object form a variadic arg's value is an array. A null value is
 * the same as an absent one (so positional [null, 5] skips an optional first
 * arg). A variadic arg with no values is absent. For exec targets, a value whose
 * text would start with '-' is refused unless its spec sets allow_dash.
 * Fields: "args[<i>]" for positional values, "args.<name>" for named or
 * missing ones, "args.<name>[<j>]" for elements of a named variadic array. */
int target_validate(const struct target *t, const cJSON *args, cJSON **canonical, cJSON **details);

/* {"name","kind","description","args":[{"name","type","required",...}],"timeout","max_running",
 *  "source"} where source is "builtin", "plugin:<file name>" or "file:<targets file path>"
 *  (absent for a non-builtin target that does not say). */
cJSON *target_to_json(const struct target *t);

/* {"targets": [...]} in registry order (builtins, plugins, then exec targets). */
cJSON *targets_list_json(void);

/* Helpers for target functions reading the canonical args object. */
long long target_arg_int(const cJSON *args, const char *name, long long fallback);
double target_arg_number(const cJSON *args, const char *name, double fallback);
const char *target_arg_string(const cJSON *args, const char *name, const char *fallback);

#endif
