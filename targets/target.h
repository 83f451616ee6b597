/* target — what a target is: the types every module of targets/ (and the
 * engine, the handlers, the fork server) shares, and the readers a target
 * function uses on its canonical arguments.
 *
 * A target is a registered unit of work (multiprocessing's "target function"):
 * a builtin C function from a static table (targets/builtin.h), a function of a
 * plugin loaded at startup (targets/plugin.h), or an exec target declared by
 * the operator in the targets file (targets/exec_load.h). The registry that
 * finds them by name is targets/registry.h.
 *
 * The modules of targets/ and who uses them:
 *   target      these types; target_arg_* readers          (everyone; fork server)
 *   registry    lookup, name rules, plugin set, exec set swap (fork server too)
 *   pattern     whole-value matching of POSIX EREs          (fork server too)
 *   builtin     the builtin table and its functions         (fork server too)
 *   plugin      plugin loading; plugin_args: the run side   (fork server too)
 *   exec_file   a parsed set of exec targets (memory only)  (fork server too: the registry holds one)
 *   exec_load   the targets file → exec_file                (spawnd only)
 *   args        a request's args checked → canonical object (spawnd only)
 *   argv        an exec target's argv from canonical args   (spawnd only)
 *   env         the worker's environment policy             (spawnd only)
 *   describe    targets as JSON for GET /targets            (spawnd only)
 * Includes go one way: target.h includes nothing of targets/; the loaders
 * include the registry; the registry includes builtin and exec_file.
 *
 * Ownership: a struct target and what it points to belong to the table or set
 * it came from (builtins: forever; plugins: the process; exec targets: the
 * registry, until targets_release()).
 */
#ifndef SPAWND_TARGET_H
#define SPAWND_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
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

/* --- exec targets: what to run, as the targets file declared it --- */

/* One argv template word: a literal (text != NULL) or a placeholder for
 * target->args[arg]. group > 0: member of optional group `group`. */
struct exec_word {
	const char *text;
	size_t arg;
	int group;
};

struct exec_env_pair {
	const char *name;
	const char *value;
};

/* Resource limits for the worker; -1 = unset (inherit). */
struct exec_rlimits {
	long long cpu;      /* RLIMIT_CPU, seconds */
	long long as;       /* RLIMIT_AS, bytes */
	long long nofile;   /* RLIMIT_NOFILE */
	long long nproc;    /* RLIMIT_NPROC */
};

#define EXEC_ENV_MAX 128   /* names in env.allow; variables in env.set */

struct exec_spec {
	const char *program;                  /* absolute path; argv[0] */
	const struct exec_word *words;        /* argv template after argv[0] */
	size_t nwords;
	const char *const *env_allow;         /* env.allow, NULL-terminated */
	const struct exec_env_pair *env_set;  /* env.set: fixed environment */
	size_t nenv_set;
	const char *cwd;                      /* NULL: the engine's default */
	struct exec_rlimits rlimits;
	const char *user;                     /* as written in the file, or NULL */
	bool has_user, has_group;             /* uid/gid resolved at load */
	uid_t uid;
	gid_t gid;                            /* group, or the user's primary group */
};

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
	const struct exec_spec *exec; /* exec targets: what to run; else NULL */
	bool returns_json;     /* "returns": "json": a pool task's result is its stdout parsed as JSON */
	const char *source;    /* where it came from: "plugin:<file name>", "file:<targets file>";
				  NULL for builtins ("builtin") */
};

/* Readers for target functions of the canonical args object: the value of
 * `name` when it is there with the right type, else fallback. */
long long target_arg_int(const cJSON *args, const char *name, long long fallback);
double target_arg_number(const cJSON *args, const char *name, double fallback);
const char *target_arg_string(const cJSON *args, const char *name, const char *fallback);

#endif
