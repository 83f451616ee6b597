/* exec_load — the targets file: read it, parse it, check everything at load.
 *
 * Everything an exec target needs is checked when the file is loaded (program
 * absolute and executable, placeholders declared, constraints that fit their
 * type, patterns that compile, users that exist), so an operator's mistake
 * stops the server at startup (or keeps the old set on reload) with one
 * message naming file, target and field, instead of failing a request later.
 * Unknown and duplicate keys are errors too: a misspelt "max_lenght" must not
 * silently drop a limit.
 *
 * This file holds the file and target level and the small fields; argument
 * specs and the argv template are in exec_load_args.c, the env section in
 * exec_load_env.c. Every allocation goes into the set (exec_file_calloc()),
 * so a half-parsed set is freed with one exec_file_free().
 */
#include "targets/exec_load.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/number.h"
#include "targets/exec_load_internal.h"
#include "targets/registry.h"

#define FILE_MAX_BYTES (4 << 20)
#define TIMEOUT_MAX 1e7              /* seconds, about 115 days */
#define MAX_RUNNING_MAX 100000
#define LIMIT_MAX 4611686018427387904.0 /* 2^62 */

/* --- errors --- */

int exec_load_fail(struct loader *l, const char *field, const char *fmt, ...)
{
	char message[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	snprintf(l->err, l->errlen, "%s: %s%s%s%s%s%s", l->path, l->label, l->label[0] ? ": " : "",
		 field ? "field \"" : "", field ? field : "", field ? "\": " : "", message);
	return -EINVAL;
}

int exec_load_nomem(struct loader *l)
{
	snprintf(l->err, l->errlen, "%s: out of memory", l->path);
	return -ENOMEM;
}

/* Every key of obj is one of allowed (NULL-terminated) and appears once.
 * Fields are named prefix + key. */
int exec_load_check_keys(struct loader *l, const cJSON *obj, const char *const *allowed, const char *prefix)
{
	const cJSON *item, *other;
	char field[200];

	cJSON_ArrayForEach(item, obj) {
		const char *const *a;
		snprintf(field, sizeof field, "%s%.100s", prefix, item->string);
		for (a = allowed; *a && strcmp(*a, item->string) != 0; a++)
			;
		if (!*a)
			return exec_load_fail(l, field, "is not a known field");
		for (other = obj->child; other != item; other = other->next)
			if (strcmp(other->string, item->string) == 0)
				return exec_load_fail(l, field, "is given more than once");
	}
	return 0;
}

/* --- small readers: 0 when absent (out untouched), 1 when read, <0 on error --- */

int exec_load_string(struct loader *l, const cJSON *obj, const char *key, const char *field,
		       const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return exec_load_fail(l, field, "must be a string");
	*out = exec_file_strdup(l->f, v->valuestring);
	return *out ? 1 : exec_load_nomem(l);
}

int exec_load_bool(struct loader *l, const cJSON *obj, const char *key, const char *field, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return exec_load_fail(l, field, "must be true or false");
	*out = cJSON_IsTrue(v);
	return 1;
}

/* A number within [min, max]; integral too when integral is set. */
int exec_load_number(struct loader *l, const cJSON *obj, const char *key, const char *field,
		       bool integral, double min, double max, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return exec_load_fail(l, field, "must be a number");
	d = v->valuedouble;
	int64_t integer;
	if (integral && !number_int64(d, &integer))
		return exec_load_fail(l, field, "must be an integer");
	if (d < min || d > max)
		return exec_load_fail(l, field, "must be between %.15g and %.15g", min, max);
	*out = d;
	return 1;
}

/* --- program, cwd, env, limits, identity --- */

static int load_program(struct loader *l, const cJSON *obj, struct exec_spec *spec)
{
	struct stat st;
	int rc = exec_load_string(l, obj, "program", "program", &spec->program);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return exec_load_fail(l, "program", "is required");
	if (spec->program[0] != '/')
		return exec_load_fail(l, "program", "must be an absolute path");
	if (stat(spec->program, &st) != 0)
		return exec_load_fail(l, "program", "%s: %s", spec->program, strerror(errno));
	if (!S_ISREG(st.st_mode) || access(spec->program, X_OK) != 0)
		return exec_load_fail(l, "program", "%s: is not an executable file", spec->program);
	return 0;
}

static int load_cwd(struct loader *l, const cJSON *obj, struct exec_spec *spec)
{
	struct stat st;
	int rc = exec_load_string(l, obj, "cwd", "cwd", &spec->cwd);

	if (rc <= 0)
		return rc;
	if (spec->cwd[0] != '/')
		return exec_load_fail(l, "cwd", "must be an absolute path");
	if (stat(spec->cwd, &st) != 0)
		return exec_load_fail(l, "cwd", "%s: %s", spec->cwd, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return exec_load_fail(l, "cwd", "%s: is not a directory", spec->cwd);
	return 0;
}


static int load_rlimits(struct loader *l, const cJSON *obj, struct exec_rlimits *limits)
{
	static const char *const keys[] = { "cpu", "as", "nofile", "nproc", NULL };
	static const double minimum[] = { 1, 1 << 20, 4, 1 };
	const cJSON *set = cJSON_GetObjectItemCaseSensitive(obj, "rlimits");
	long long *out[] = { &limits->cpu, &limits->as, &limits->nofile, &limits->nproc };
	char field[40];
	double d;
	int rc;

	limits->cpu = limits->as = limits->nofile = limits->nproc = -1;
	if (!set || cJSON_IsNull(set))
		return 0;
	if (!cJSON_IsObject(set))
		return exec_load_fail(l, "rlimits", "must be an object (cpu, as, nofile, nproc)");
	if ((rc = exec_load_check_keys(l, set, keys, "rlimits.")) < 0)
		return rc;
	for (int i = 0; keys[i]; i++) {
		snprintf(field, sizeof field, "rlimits.%s", keys[i]);
		if ((rc = exec_load_number(l, set, keys[i], field, true, minimum[i], LIMIT_MAX, &d)) < 0)
			return rc;
		if (rc > 0)
			*out[i] = (long long)d;
	}
	return 0;
}

/* A user or group: a name from the system databases, or a number. */
static bool parse_id(const char *s, unsigned long *id)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*id = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && *id < (1UL << 31);
}

static int load_identity(struct loader *l, const cJSON *obj, struct exec_spec *spec)
{
	const char *group = NULL;
	char buf[16384];
	unsigned long id;
	int rc;

	if ((rc = exec_load_string(l, obj, "user", "user", &spec->user)) < 0)
		return rc;
	if (rc > 0) {
		struct passwd pw, *found = NULL;
		if (getpwnam_r(spec->user, &pw, buf, sizeof buf, &found) == 0 && found) {
			spec->uid = found->pw_uid;
			spec->gid = found->pw_gid;
			spec->has_group = true;
		} else if (parse_id(spec->user, &id)) {
			spec->uid = (uid_t)id;
		} else {
			return exec_load_fail(l, "user", "no such user: %.64s", spec->user);
		}
		spec->has_user = true;
	}
	if ((rc = exec_load_string(l, obj, "group", "group", &group)) < 0)
		return rc;
	if (rc > 0) {
		struct group gr, *found = NULL;
		if (getgrnam_r(group, &gr, buf, sizeof buf, &found) == 0 && found)
			spec->gid = found->gr_gid;
		else if (parse_id(group, &id))
			spec->gid = (gid_t)id;
		else
			return exec_load_fail(l, "group", "no such group: %.64s", group);
		spec->has_group = true;
	}
	return 0;
}

/* What to run: program and argv, or the "python" form (exec_load_python.c). */
static int load_command(struct loader *l, const cJSON *obj, struct target *t, struct exec_spec *spec)
{
	int rc;

	if (cJSON_GetObjectItemCaseSensitive(obj, "python")) {
		if ((rc = exec_load_args(l, obj, t)) < 0)
			return rc;
		return exec_load_python(l, obj, t, spec);
	}
	if ((rc = load_program(l, obj, spec)) < 0 || (rc = exec_load_args(l, obj, t)) < 0)
		return rc;
	return exec_load_argv(l, obj, t, spec);
}

/* --- one target, the file --- */

static const char *const target_keys[] = {
	"name", "description", "program", "argv", "args", "env", "cwd",
	"timeout", "max_running", "rlimits", "user", "group", "python", "returns", NULL
};

/* "returns": "json" or "text" (the default): what a pool task's result is. */
static int load_returns(struct loader *l, const cJSON *obj, struct target *t)
{
	const char *returns = NULL;
	int rc = exec_load_string(l, obj, "returns", "returns", &returns);
	if (rc <= 0)
		return rc;
	if (strcmp(returns, "json") != 0 && strcmp(returns, "text") != 0)
		return exec_load_fail(l, "returns", "must be \"json\" or \"text\"");
	t->returns_json = strcmp(returns, "json") == 0;
	return 0;
}

static int load_name(struct loader *l, const cJSON *obj, struct target *t, size_t index)
{
	int rc = exec_load_string(l, obj, "name", "name", &t->name);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return exec_load_fail(l, "name", "is required");
	if (!target_name_declarable(t->name))
		return exec_load_fail(l, "name", TARGET_NAME_RULE);
	if (target_find_static(t->name))
		return exec_load_fail(l, "name", "\"%s\" is already a builtin or plugin target", t->name);
	for (size_t i = 0; i < index; i++)
		if (strcmp(exec_file_at(l->f, i)->name, t->name) == 0)
			return exec_load_fail(l, "name", "\"%s\" is declared twice", t->name);
	snprintf(l->label, sizeof l->label, "target \"%s\"", t->name);
	return 0;
}

static int load_target(struct loader *l, const cJSON *obj, size_t index)
{
	struct target *t = exec_file_at(l->f, index);
	struct exec_spec *spec = exec_file_calloc(l->f, 1, sizeof *spec);
	size_t source_len = strlen("file:") + strlen(l->path) + 1;
	char *source = exec_file_calloc(l->f, source_len, 1);
	double d;
	int rc;

	snprintf(l->label, sizeof l->label, "targets[%zu]", index);
	if (!spec || !source)
		return exec_load_nomem(l);
	snprintf(source, source_len, "file:%s", l->path);
	t->source = source;
	if (!cJSON_IsObject(obj))
		return exec_load_fail(l, NULL, "must be an object");
	t->kind = TARGET_EXEC;
	t->exec = spec;
	t->description = "";
	if ((rc = load_name(l, obj, t, index)) < 0 ||
	    (rc = exec_load_check_keys(l, obj, target_keys, "")) < 0 ||
	    (rc = exec_load_string(l, obj, "description", "description", &t->description)) < 0 ||
	    (rc = load_command(l, obj, t, spec)) < 0 ||
	    (rc = exec_load_env(l, obj, spec)) < 0 ||
	    (rc = load_cwd(l, obj, spec)) < 0 ||
	    (rc = load_rlimits(l, obj, &spec->rlimits)) < 0 ||
	    (rc = load_identity(l, obj, spec)) < 0 ||
	    (rc = load_returns(l, obj, t)) < 0)
		return rc;
	if ((rc = exec_load_number(l, obj, "timeout", "timeout", false, 0.001, TIMEOUT_MAX, &d)) < 0)
		return rc;
	t->timeout = rc > 0 ? d : 0;
	if ((rc = exec_load_number(l, obj, "max_running", "max_running", true, 1, MAX_RUNNING_MAX, &d)) < 0)
		return rc;
	t->max_running = rc > 0 ? (int)d : 0;
	return 0;
}

/* Reads the whole file (a regular file of at most FILE_MAX_BYTES). */
static int read_file(struct loader *l, char **text)
{
	struct stat st;
	char *buf = NULL;
	size_t used = 0;
	int fd = open(l->path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		goto fail_errno;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > FILE_MAX_BYTES) {
		close(fd);
		snprintf(l->err, l->errlen, "%s: must be a regular file of at most %d bytes", l->path, FILE_MAX_BYTES);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return exec_load_nomem(l);
	}
	while (used < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + used, (size_t)st.st_size - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			free(buf);
			goto fail_errno;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	if (strlen(buf) != used) {
		free(buf);
		snprintf(l->err, l->errlen, "%s: contains a NUL byte", l->path);
		return -EINVAL;
	}
	*text = buf;
	return 0;
fail_errno:
	if (fd >= 0)
		close(fd);
	snprintf(l->err, l->errlen, "%s: %s", l->path, strerror(-rc));
	return rc;
}

static int parse_json(struct loader *l, const char *text, cJSON **root)
{
	const char *end = NULL;
	int line = 1;

	*root = cJSON_ParseWithOpts(text, &end, true);
	if (*root)
		return 0;
	for (const char *p = text; end && p < end; p++)
		line += *p == '\n';
	snprintf(l->err, l->errlen, "%s: line %d: not valid JSON", l->path, line);
	return -EINVAL;
}

/* The top level: {"version": 1, "targets": [...]}; *list gets the targets. */
static int load_top(struct loader *l, const cJSON *root, const cJSON **list)
{
	static const char *const top_keys[] = { "version", "targets", NULL };
	double version;
	int rc;

	if (!cJSON_IsObject(root))
		return exec_load_fail(l, NULL, "must be a JSON object {\"targets\": [...]}");
	if ((rc = exec_load_check_keys(l, root, top_keys, "")) < 0)
		return rc;
	if ((rc = exec_load_number(l, root, "version", "version", true, 1, 1, &version)) < 0)
		return rc;
	*list = cJSON_GetObjectItemCaseSensitive(root, "targets");
	if (!cJSON_IsArray(*list))
		return exec_load_fail(l, "targets", *list ? "must be an array" : "is required");
	return 0;
}

int exec_load_file(const char *path, struct exec_file **out, char *err, size_t errlen)
{
	struct loader l = { .path = path, .err = err, .errlen = errlen };
	cJSON *root = NULL;
	const cJSON *list = NULL, *item;
	char *text = NULL;
	size_t i = 0;
	int rc;

	if (errlen)
		err[0] = '\0';
	if ((rc = read_file(&l, &text)) < 0)
		return rc;
	rc = parse_json(&l, text, &root);
	free(text);
	if (rc < 0)
		return rc;
	if ((rc = load_top(&l, root, &list)) < 0)
		goto out;
	l.f = exec_file_new((size_t)cJSON_GetArraySize(list));
	if (!l.f) {
		rc = exec_load_nomem(&l);
		goto out;
	}
	cJSON_ArrayForEach(item, list) {
		if ((rc = load_target(&l, item, i++)) < 0)
			goto out;
	}
	*out = l.f;
	l.f = NULL;
	rc = 0;
out:
	exec_file_free(l.f);
	cJSON_Delete(root);
	return rc;
}
