/* exec_file — exec targets declared by the operator in a targets file (--targets).
 *
 * The file is JSON:
 *   {"version": 1,                                   (optional; 1 is the only one)
 *    "targets": [{
 *      "name": "date",                               required, [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *      "description": "Prints the date.",            optional
 *      "program": "/bin/date",                       required, absolute, executable
 *      "argv": ["-u", "{format}", ["-d", "{when}"]], optional; argv[0] is always the program
 *      "args": [{"name": "format", "type": "string", "required": false,
 *                "enum": [..], "pattern": "ERE", "min": n, "max": n,
 *                "max_length": n, "variadic": false, "allow_dash": false}],
 *      "env": {"allow": ["LANG", "TZ"],              request env keys the caller may set
 *              "set": {"PATH": "/usr/bin:/bin"}},    fixed environment (SPAWND_* is spawnd's)
 *      "cwd": "/tmp",                                absolute existing directory
 *      "timeout": 30, "max_running": 4,              seconds / processes
 *      "rlimits": {"cpu": 10, "as": 268435456, "nofile": 64, "nproc": 64},
 *      "user": "nobody", "group": "nogroup"}]}       applied only when spawnd runs as root
 *
 * argv words: a string that is exactly "{name}" is a placeholder for the
 * declared argument `name` and becomes one argv element per value (none when
 * an optional argument is absent, one per value for a variadic one). Any other
 * string is a literal word. A nested array is an optional group: its words are
 * emitted only when every placeholder in it has a value (["-n", "{count}"]).
 * No shell is ever involved and values are never split or interpolated inside
 * a word. Every declared argument must be used in argv.
 *
 * Unknown or duplicate keys anywhere in the file are errors, so a typo never
 * silently drops a constraint.
 */
#ifndef SPAWND_EXEC_FILE_H
#define SPAWND_EXEC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include "targets/target.h"

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

struct exec_file;

/* Parses and checks the targets file at path. On success returns 0 and stores a
 * new set in *out (free with exec_file_free(), or hand it to targets_set_exec()).
 * On failure returns -errno (-EINVAL for a bad file), stores nothing in *out and
 * writes one message to err naming the file, the target (by name, else as
 * targets[i]) and the field, e.g.
 *   targets.json: target "date": field "program": must be an absolute path
 * Names of builtin and plugin targets are taken: register plugins first. */
int exec_file_load(const char *path, struct exec_file **out, char *err, size_t errlen);
void exec_file_free(struct exec_file *f);

size_t exec_file_count(const struct exec_file *f);
const struct target *exec_file_target(const struct exec_file *f, size_t i);
const struct target *exec_file_find(const struct exec_file *f, const char *name);

/* Builds the argv of an exec target from its canonical arguments (as made by
 * target_validate()): NULL-terminated, argv[0] = the program, each value one
 * element. 0, -EINVAL (not an exec target) or -ENOMEM; *argv_out is set only on
 * success and freed by the caller with target_free_argv(). */
int target_build_argv(const struct target *t, const cJSON *canonical, char ***argv_out);

/* Builds the worker's environment: PATH=/usr/local/bin:/usr/bin:/bin, then the
 * target's fixed env.set (may override PATH), then request_env (a JSON object
 * of strings, or NULL) for the keys in the target's env.allow, then
 * SPAWND_PROCESS_ID / SPAWND_PROCESS_NAME from ctx (which nothing overrides).
 * Builtin and plugin targets allow no request keys. Nothing comes from the
 * server's own environment.
 * 0 and *envp_out ("KEY=value", NULL-terminated; free with target_free_argv());
 * -EINVAL with *details = [{"field": "env.KEY" | "env", "message"}] (caller
 * frees; values never appear in it); or -ENOMEM. */
int target_build_env(const struct target *t, const cJSON *request_env, const struct target_ctx *ctx,
		     char ***envp_out, cJSON **details);

/* Frees a vector from target_build_argv() / target_build_env(); NULL is fine. */
void target_free_argv(char **argv);

#endif
