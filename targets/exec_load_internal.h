/* exec_load internals — shared by the files of the targets file loader
 * (exec_load.c: the file, a target and its small fields; exec_load_args.c:
 * argument specs and the argv template; exec_load_env.c: the env section;
 * exec_load_python.c: the "python" form instead of program and argv).
 *
 * A struct loader lives for one exec_load_file() call, on its stack. Every
 * function returns 0 (or, for the read_* readers, 1 when the key was read)
 * or a negative errno after writing the one message into l->err.
 */
#ifndef SPAWND_EXEC_LOAD_INTERNAL_H
#define SPAWND_EXEC_LOAD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "targets/exec_file.h"
#include "targets/target.h"

#define EXEC_ARGS_MAX 64
#define EXEC_WORDS_MAX 256

struct loader {
	const char *path;
	struct exec_file *f;
	char *err;
	size_t errlen;
	char label[200];   /* "target \"date\"" or "targets[2]" */
};

/* "<path>: <label>: field \"<field>\": <message>"; returns -EINVAL. field may be NULL. */
int exec_load_fail(struct loader *l, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "<path>: out of memory"; returns -ENOMEM. */
int exec_load_nomem(struct loader *l);

/* Every key of obj is one of allowed (NULL-terminated) and appears once.
 * Fields are named prefix + key. */
int exec_load_check_keys(struct loader *l, const cJSON *obj, const char *const *allowed, const char *prefix);

/* Readers of obj[key]: 0 when absent or null (out untouched), 1 when read. */
int exec_load_string(struct loader *l, const cJSON *obj, const char *key, const char *field, const char **out);
int exec_load_bool(struct loader *l, const cJSON *obj, const char *key, const char *field, bool *out);
/* A number within [min, max]; integral too when integral is set. */
int exec_load_number(struct loader *l, const cJSON *obj, const char *key, const char *field,
		     bool integral, double min, double max, double *out);

/* The sections of one target (obj), filling t / spec. */
int exec_load_args(struct loader *l, const cJSON *obj, struct target *t);
int exec_load_argv(struct loader *l, const cJSON *obj, struct target *t, struct exec_spec *spec);
int exec_load_env(struct loader *l, const cJSON *obj, struct exec_spec *spec);
/* The "python" form (exec_load_python.c): program and argv of a Python function
 * target, after exec_load_args() has read t's args. */
int exec_load_python(struct loader *l, const cJSON *obj, struct target *t, struct exec_spec *spec);

#endif
