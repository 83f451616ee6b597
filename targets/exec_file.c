/* exec_file — the targets file: parse, check everything at load, then build
 * argv and env per run.
 *
 * Everything an exec target needs is checked when the file is loaded (program
 * absolute and executable, placeholders declared, constraints that fit their
 * type, patterns that compile, users that exist), so an operator's mistake
 * stops the server at startup (or keeps the old set on reload) with one
 * message naming file, target and field, instead of failing a request later.
 * Unknown and duplicate keys are errors too: a misspelt "max_lenght" must not
 * silently drop a limit.
 *
 * Every allocation of a set goes into its `owned` list, so exec_file_free()
 * is one loop whatever the shape of the file, and a half-parsed set is freed
 * the same way.
 */
#include "targets/exec_file.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/number.h"

#define FILE_MAX_BYTES (4 << 20)
#define ARGS_MAX 64
#define WORDS_MAX 256
#define MAX_LENGTH_MAX (1 << 20)
#define TIMEOUT_MAX 1e7              /* seconds, about 115 days */
#define MAX_RUNNING_MAX 100000
#define ENV_MAX 128                  /* names in env_allow; variables in env */
#define LIMIT_MAX 4611686018427387904.0 /* 2^62 */

struct exec_file {
	struct target *targets;
	size_t count;
	void **owned;
	size_t nowned, owned_cap;
};

struct loader {
	const char *path;
	struct exec_file *f;
	char *err;
	size_t errlen;
	char label[200];   /* "target \"date\"" or "targets[2]" */
};

/* --- ownership --- */

static void *own(struct exec_file *f, void *p)
{
	if (!p)
		return NULL;
	if (f->nowned == f->owned_cap) {
		size_t cap = f->owned_cap ? f->owned_cap * 2 : 64;
		void **grown = realloc(f->owned, cap * sizeof *grown);
		if (!grown) {
			free(p);
			return NULL;
		}
		f->owned = grown;
		f->owned_cap = cap;
	}
	f->owned[f->nowned++] = p;
	return p;
}

static void *own_calloc(struct exec_file *f, size_t n, size_t size)
{
	return own(f, calloc(n ? n : 1, size));
}

static char *own_strdup(struct exec_file *f, const char *s)
{
	return own(f, strdup(s));
}

void exec_file_free(struct exec_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nowned; i++)
		free(f->owned[i]);
	free(f->owned);
	free(f);
}

size_t exec_file_count(const struct exec_file *f)
{
	return f ? f->count : 0;
}

const struct target *exec_file_target(const struct exec_file *f, size_t i)
{
	return f && i < f->count ? &f->targets[i] : NULL;
}

const struct target *exec_file_find(const struct exec_file *f, const char *name)
{
	for (size_t i = 0; f && name && i < f->count; i++)
		if (strcmp(f->targets[i].name, name) == 0)
			return &f->targets[i];
	return NULL;
}

/* --- errors --- */

static int fail(struct loader *l, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct loader *l, const char *field, const char *fmt, ...)
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

static int fail_nomem(struct loader *l)
{
	snprintf(l->err, l->errlen, "%s: out of memory", l->path);
	return -ENOMEM;
}

/* Every key of obj is one of allowed (NULL-terminated) and appears once.
 * Fields are named prefix + key. */
static int check_keys(struct loader *l, const cJSON *obj, const char *const *allowed, const char *prefix)
{
	const cJSON *item, *other;
	char field[200];

	cJSON_ArrayForEach(item, obj) {
		const char *const *a;
		snprintf(field, sizeof field, "%s%.100s", prefix, item->string);
		for (a = allowed; *a && strcmp(*a, item->string) != 0; a++)
			;
		if (!*a)
			return fail(l, field, "is not a known field");
		for (other = obj->child; other != item; other = other->next)
			if (strcmp(other->string, item->string) == 0)
				return fail(l, field, "is given more than once");
	}
	return 0;
}

/* --- small readers: 0 when absent (out untouched), 1 when read, <0 on error --- */

static int read_string(struct loader *l, const cJSON *obj, const char *key, const char *field,
		       const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return fail(l, field, "must be a string");
	*out = own_strdup(l->f, v->valuestring);
	return *out ? 1 : fail_nomem(l);
}

static int read_bool(struct loader *l, const cJSON *obj, const char *key, const char *field, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return fail(l, field, "must be true or false");
	*out = cJSON_IsTrue(v);
	return 1;
}

/* A number within [min, max]; integral too when integral is set. */
static int read_number(struct loader *l, const cJSON *obj, const char *key, const char *field,
		       bool integral, double min, double max, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return fail(l, field, "must be a number");
	d = v->valuedouble;
	int64_t integer;
	if (integral && !number_int64(d, &integer))
		return fail(l, field, "must be an integer");
	if (d < min || d > max)
		return fail(l, field, "must be between %.15g and %.15g", min, max);
	*out = d;
	return 1;
}

/* --- args --- */

static const char *const arg_keys[] = {
	"name", "type", "required", "variadic", "enum", "pattern", "min", "max", "max_length", "allow_dash", "root", NULL
};
static const char *const type_keys[] = { "string", "integer", "number", "boolean", "path", NULL };

static int load_enum(struct loader *l, const cJSON *list, struct arg_spec *spec, const char *prefix)
{
	char field[200];
	size_t n = (size_t)cJSON_GetArraySize(list), i = 0;
	char **values;
	const cJSON *v;

	snprintf(field, sizeof field, "%senum", prefix);
	if (spec->type != ARG_STRING)
		return fail(l, field, "applies to string arguments only");
	if (!cJSON_IsArray(list) || n == 0)
		return fail(l, field, "must be a non-empty array of strings");
	values = own_calloc(l->f, n + 1, sizeof *values);
	if (!values)
		return fail_nomem(l);
	cJSON_ArrayForEach(v, list) {
		snprintf(field, sizeof field, "%senum[%zu]", prefix, i);
		if (!cJSON_IsString(v))
			return fail(l, field, "must be a string");
		for (size_t j = 0; j < i; j++)
			if (strcmp(values[j], v->valuestring) == 0)
				return fail(l, field, "is listed twice");
		if (!(values[i++] = own_strdup(l->f, v->valuestring)))
			return fail_nomem(l);
	}
	spec->enum_values = (const char *const *)values;
	return 0;
}

/* Enum values must themselves pass the arg's other constraints, or they
 * could never be used. */
static int check_enum_values(struct loader *l, const struct arg_spec *spec, const char *prefix)
{
	char field[200];
	regex_t re;
	bool have_re = spec->pattern && regcomp(&re, spec->pattern, REG_EXTENDED) == 0;
	int rc = 0;

	for (size_t i = 0; spec->enum_values && spec->enum_values[i] && rc == 0; i++) {
		const char *v = spec->enum_values[i];
		snprintf(field, sizeof field, "%senum[%zu]", prefix, i);
		if (spec->max_length > 0 && strlen(v) > (size_t)spec->max_length)
			rc = fail(l, field, "is longer than max_length");
		else if (v[0] == '-' && !spec->allow_dash)
			rc = fail(l, field, "starts with \"-\", which is refused unless allow_dash is true");
		else if (have_re && !target_regex_full_match(&re, v))
			rc = fail(l, field, "does not match pattern");
	}
	if (have_re)
		regfree(&re);
	return rc;
}

/* A path argument's root: required for it, refused for other types. Kept
 * resolved, since requests' paths are compared once resolved. */
static int load_root(struct loader *l, const cJSON *obj, struct arg_spec *spec, const char *prefix)
{
	char field[200], resolved[PATH_MAX];
	const char *root = NULL;
	struct stat st;
	int rc;

	snprintf(field, sizeof field, "%sroot", prefix);
	if ((rc = read_string(l, obj, "root", field, &root)) < 0)
		return rc;
	if (spec->type != ARG_PATH)
		return rc > 0 ? fail(l, field, "applies to path arguments only") : 0;
	if (rc == 0)
		return fail(l, field, "is required for a path argument: the folder its values must stay in");
	if (root[0] != '/')
		return fail(l, field, "must be an absolute path");
	if (!realpath(root, resolved) || stat(resolved, &st) != 0)
		return fail(l, field, "%s: %s", root, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(l, field, "%s: is not a directory", root);
	spec->root = own_strdup(l->f, resolved);
	return spec->root ? 0 : fail_nomem(l);
}

static int load_arg(struct loader *l, const cJSON *obj, size_t index, bool last, struct arg_spec *spec,
		    const struct arg_spec *earlier)
{
	char prefix[100], field[200];
	const char *type = NULL;
	double d;
	int rc;

	snprintf(prefix, sizeof prefix, "args[%zu]", index);
	if (!cJSON_IsObject(obj))
		return fail(l, prefix, "must be an object");
	snprintf(field, sizeof field, "%s.name", prefix);
	if ((rc = read_string(l, obj, "name", field, &spec->name)) < 0)
		return rc;
	if (rc == 0)
		return fail(l, field, "is required");
	if (!target_identifier(spec->name, TARGET_ARG_NAME_MAX))
		return fail(l, field, "must be 1-%d characters of [A-Za-z0-9_], not starting with a digit", TARGET_ARG_NAME_MAX);
	for (size_t i = 0; i < index; i++)
		if (strcmp(earlier[i].name, spec->name) == 0)
			return fail(l, field, "\"%s\" is declared twice", spec->name);
	snprintf(prefix, sizeof prefix, "args.%s.", spec->name);
	if ((rc = check_keys(l, obj, arg_keys, prefix)) < 0)
		return rc;

	snprintf(field, sizeof field, "%stype", prefix);
	if ((rc = read_string(l, obj, "type", field, &type)) < 0)
		return rc;
	if (rc == 0)
		return fail(l, field, "is required");
	for (spec->type = 0; type_keys[spec->type] && strcmp(type_keys[spec->type], type) != 0; spec->type++)
		;
	if (!type_keys[spec->type])
		return fail(l, field, "must be one of: string, integer, number, boolean, path");

	snprintf(field, sizeof field, "%srequired", prefix);
	if ((rc = read_bool(l, obj, "required", field, &spec->required)) < 0)
		return rc;
	snprintf(field, sizeof field, "%svariadic", prefix);
	if ((rc = read_bool(l, obj, "variadic", field, &spec->variadic)) < 0)
		return rc;
	if (spec->variadic && !last)
		return fail(l, field, "only the last argument may be variadic");
	snprintf(field, sizeof field, "%sallow_dash", prefix);
	if ((rc = read_bool(l, obj, "allow_dash", field, &spec->allow_dash)) < 0)
		return rc;
	if (rc > 0 && (spec->type == ARG_BOOLEAN || spec->type == ARG_PATH))
		return fail(l, field, "applies to string, integer and number arguments only");

	snprintf(field, sizeof field, "%spattern", prefix);
	if ((rc = read_string(l, obj, "pattern", field, &spec->pattern)) < 0)
		return rc;
	if (rc > 0) {
		regex_t re;
		int code;
		if (spec->type != ARG_STRING)
			return fail(l, field, "applies to string arguments only");
		if ((code = regcomp(&re, spec->pattern, REG_EXTENDED)) != 0) {
			char why[120];
			regerror(code, &re, why, sizeof why);
			return fail(l, field, "does not compile as a POSIX extended regular expression: %s", why);
		}
		regfree(&re);
	}

	snprintf(field, sizeof field, "%smax_length", prefix);
	if ((rc = read_number(l, obj, "max_length", field, true, 1, MAX_LENGTH_MAX, &d)) < 0)
		return rc;
	if (rc > 0 && spec->type != ARG_STRING)
		return fail(l, field, "applies to string arguments only");
	spec->max_length = rc > 0 ? (long)d : 0;

	bool integral = spec->type == ARG_INTEGER;
	double lowest = integral ? -9223372036854775808.0 : -1.7976931348623157e308;
	double highest = integral ? 9223372036854774784.0 : 1.7976931348623157e308;
	static const char *const bound_keys[] = { "min", "max" };
	for (int b = 0; b < 2; b++) {
		snprintf(field, sizeof field, "%s%s", prefix, bound_keys[b]);
		if ((rc = read_number(l, obj, bound_keys[b], field, integral, lowest, highest, &d)) < 0)
			return rc;
		if (rc > 0 && spec->type != ARG_INTEGER && spec->type != ARG_NUMBER)
			return fail(l, field, "applies to integer and number arguments only");
		if (rc > 0 && b == 0) {
			spec->has_min = true;
			spec->min = d;
		} else if (rc > 0) {
			spec->has_max = true;
			spec->max = d;
		}
	}
	if (spec->has_min && spec->has_max && spec->min > spec->max)
		return fail(l, field, "must not be less than min");

	const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "enum");
	if (list && !cJSON_IsNull(list) && (rc = load_enum(l, list, spec, prefix)) < 0)
		return rc;
	if ((rc = load_root(l, obj, spec, prefix)) < 0)
		return rc;
	return check_enum_values(l, spec, prefix);
}

static int load_args(struct loader *l, const cJSON *obj, struct target *t)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "args"), *item;
	struct arg_spec *specs;
	size_t n, i = 0;
	int rc;

	if (!list || cJSON_IsNull(list))
		return 0;
	n = (size_t)cJSON_GetArraySize(list);
	if (!cJSON_IsArray(list))
		return fail(l, "args", "must be an array of argument specs");
	if (n > ARGS_MAX)
		return fail(l, "args", "must declare at most %d arguments", ARGS_MAX);
	specs = own_calloc(l->f, n, sizeof *specs);
	if (!specs)
		return fail_nomem(l);
	cJSON_ArrayForEach(item, list) {
		if ((rc = load_arg(l, item, i, i + 1 == n, &specs[i], specs)) < 0)
			return rc;
		i++;
	}
	t->args = specs;
	t->nargs = n;
	return 0;
}

/* --- argv template --- */

/* 1 and *arg when word is a placeholder of a declared arg, 0 for a literal,
 * <0 for a word that looks like a placeholder but names no argument. */
static int parse_word(struct loader *l, const struct target *t, const char *word, const char *field, size_t *arg)
{
	size_t len = strlen(word);
	char name[TARGET_ARG_NAME_MAX + 1];

	if (len < 2 || word[0] != '{' || word[len - 1] != '}')
		return 0;
	if (len - 2 > TARGET_ARG_NAME_MAX)
		return fail(l, field, "placeholder %.80s names no declared argument", word);
	memcpy(name, word + 1, len - 2);
	name[len - 2] = '\0';
	for (*arg = 0; *arg < t->nargs; (*arg)++)
		if (strcmp(t->args[*arg].name, name) == 0)
			return 1;
	return fail(l, field, "placeholder %.80s names no declared argument", word);
}

static int add_word(struct loader *l, struct target *t, struct exec_word *w, const cJSON *item,
		    const char *field, int group, bool *used)
{
	int rc;

	if (!cJSON_IsString(item))
		return fail(l, field, group ? "must be a string" : "must be a string or an array of strings (an optional group)");
	rc = parse_word(l, t, item->valuestring, field, &w->arg);
	if (rc < 0)
		return rc;
	w->group = group;
	if (rc > 0) {
		used[w->arg] = true;
		return 1;
	}
	w->text = own_strdup(l->f, item->valuestring);
	return w->text ? 0 : fail_nomem(l);
}

static int load_argv(struct loader *l, const cJSON *obj, struct target *t, struct exec_spec *spec)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "argv"), *item;
	struct exec_word *words;
	bool used[ARGS_MAX] = { false };
	size_t n = 0, i = 0;
	int group = 0, rc;
	char field[100];

	if (list && !cJSON_IsNull(list) && !cJSON_IsArray(list))
		return fail(l, "argv", "must be an array of words");
	cJSON_ArrayForEach(item, list)
		n += cJSON_IsArray(item) ? (size_t)cJSON_GetArraySize(item) : 1;
	if (n > WORDS_MAX)
		return fail(l, "argv", "must have at most %d words", WORDS_MAX);
	words = own_calloc(l->f, n, sizeof *words);
	if (!words)
		return fail_nomem(l);
	cJSON_ArrayForEach(item, list) {
		const cJSON *member;
		size_t k = 0;
		int placeholders = 0;

		snprintf(field, sizeof field, "argv[%zu]", i++);
		if (!cJSON_IsArray(item)) {
			if ((rc = add_word(l, t, &words[spec->nwords++], item, field, 0, used)) < 0)
				return rc;
			continue;
		}
		group++;
		if (cJSON_GetArraySize(item) == 0)
			return fail(l, field, "an optional group must not be empty");
		cJSON_ArrayForEach(member, item) {
			char member_field[140];
			snprintf(member_field, sizeof member_field, "%s[%zu]", field, k++);
			if ((rc = add_word(l, t, &words[spec->nwords++], member, member_field, group, used)) < 0)
				return rc;
			placeholders += rc;
		}
		if (placeholders == 0)
			return fail(l, field, "an optional group needs a placeholder to depend on");
	}
	spec->words = words;
	for (size_t a = 0; a < t->nargs; a++) {
		if (!used[a]) {
			snprintf(field, sizeof field, "args.%s", t->args[a].name);
			return fail(l, field, "is not used in argv (add \"{%s}\")", t->args[a].name);
		}
	}
	return 0;
}

/* --- program, cwd, env, limits, identity --- */

static int load_program(struct loader *l, const cJSON *obj, struct exec_spec *spec)
{
	struct stat st;
	int rc = read_string(l, obj, "program", "program", &spec->program);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return fail(l, "program", "is required");
	if (spec->program[0] != '/')
		return fail(l, "program", "must be an absolute path");
	if (stat(spec->program, &st) != 0)
		return fail(l, "program", "%s: %s", spec->program, strerror(errno));
	if (!S_ISREG(st.st_mode) || access(spec->program, X_OK) != 0)
		return fail(l, "program", "%s: is not an executable file", spec->program);
	return 0;
}

static int load_cwd(struct loader *l, const cJSON *obj, struct exec_spec *spec)
{
	struct stat st;
	int rc = read_string(l, obj, "cwd", "cwd", &spec->cwd);

	if (rc <= 0)
		return rc;
	if (spec->cwd[0] != '/')
		return fail(l, "cwd", "must be an absolute path");
	if (stat(spec->cwd, &st) != 0)
		return fail(l, "cwd", "%s: %s", spec->cwd, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(l, "cwd", "%s: is not a directory", spec->cwd);
	return 0;
}

/* An environment name a target may set or allow: SPAWND_* is the identity. */
static int check_env_name(struct loader *l, const char *name, const char *field)
{
	if (!target_identifier(name, 128))
		return fail(l, field, "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)");
	if (strncmp(name, "SPAWND_", 7) == 0)
		return fail(l, field, "SPAWND_* variables are set by spawnd itself");
	return 0;
}

/* "env": {"allow": [names the request may set], "set": {fixed name: value}} */
static int load_env(struct loader *l, const cJSON *obj, struct exec_spec *spec)
{
	static const char *const env_keys[] = { "allow", "set", NULL };
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(obj, "env");
	const cJSON *allow = cJSON_GetObjectItemCaseSensitive(env, "allow");
	const cJSON *set = cJSON_GetObjectItemCaseSensitive(env, "set"), *item;
	char field[200];
	size_t i = 0;
	char **names;
	struct exec_env_pair *pairs;
	int rc;

	if (env && !cJSON_IsNull(env) && !cJSON_IsObject(env))
		return fail(l, "env", "must be an object {\"allow\": [...], \"set\": {...}}");
	if ((rc = check_keys(l, env, env_keys, "env.")) < 0)
		return rc;
	if (allow && !cJSON_IsNull(allow) && !cJSON_IsArray(allow))
		return fail(l, "env.allow", "must be an array of variable names");
	if (cJSON_GetArraySize(allow) > ENV_MAX)
		return fail(l, "env.allow", "must list at most %d names", ENV_MAX);
	names = own_calloc(l->f, (size_t)cJSON_GetArraySize(allow) + 1, sizeof *names);
	if (!names)
		return fail_nomem(l);
	cJSON_ArrayForEach(item, allow) {
		snprintf(field, sizeof field, "env.allow[%zu]", i);
		if (!cJSON_IsString(item))
			return fail(l, field, "must be a string");
		if ((rc = check_env_name(l, item->valuestring, field)) < 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[j], item->valuestring) == 0)
				return fail(l, field, "is listed twice");
		if (!(names[i++] = own_strdup(l->f, item->valuestring)))
			return fail_nomem(l);
	}
	spec->env_allow = (const char *const *)names;

	if (set && !cJSON_IsNull(set) && !cJSON_IsObject(set))
		return fail(l, "env.set", "must be an object of strings");
	if (cJSON_GetArraySize(set) > ENV_MAX)
		return fail(l, "env.set", "must set at most %d variables", ENV_MAX);
	pairs = own_calloc(l->f, (size_t)cJSON_GetArraySize(set), sizeof *pairs);
	if (!pairs)
		return fail_nomem(l);
	cJSON_ArrayForEach(item, set) {
		snprintf(field, sizeof field, "env.set.%.100s", item->string);
		if ((rc = check_env_name(l, item->string, field)) < 0)
			return rc;
		if (!cJSON_IsString(item))
			return fail(l, field, "must be a string");
		for (size_t j = 0; j < spec->nenv_set; j++)
			if (strcmp(pairs[j].name, item->string) == 0)
				return fail(l, field, "is given more than once");
		pairs[spec->nenv_set].name = own_strdup(l->f, item->string);
		pairs[spec->nenv_set].value = own_strdup(l->f, item->valuestring);
		if (!pairs[spec->nenv_set].name || !pairs[spec->nenv_set++].value)
			return fail_nomem(l);
	}
	spec->env_set = pairs;
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
		return fail(l, "rlimits", "must be an object (cpu, as, nofile, nproc)");
	if ((rc = check_keys(l, set, keys, "rlimits.")) < 0)
		return rc;
	for (int i = 0; keys[i]; i++) {
		snprintf(field, sizeof field, "rlimits.%s", keys[i]);
		if ((rc = read_number(l, set, keys[i], field, true, minimum[i], LIMIT_MAX, &d)) < 0)
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

	if ((rc = read_string(l, obj, "user", "user", &spec->user)) < 0)
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
			return fail(l, "user", "no such user: %.64s", spec->user);
		}
		spec->has_user = true;
	}
	if ((rc = read_string(l, obj, "group", "group", &group)) < 0)
		return rc;
	if (rc > 0) {
		struct group gr, *found = NULL;
		if (getgrnam_r(group, &gr, buf, sizeof buf, &found) == 0 && found)
			spec->gid = found->gr_gid;
		else if (parse_id(group, &id))
			spec->gid = (gid_t)id;
		else
			return fail(l, "group", "no such group: %.64s", group);
		spec->has_group = true;
	}
	return 0;
}

/* --- one target, the file --- */

static const char *const target_keys[] = {
	"name", "description", "program", "argv", "args", "env", "cwd",
	"timeout", "max_running", "rlimits", "user", "group", NULL
};

static int load_name(struct loader *l, const cJSON *obj, struct target *t, size_t index)
{
	int rc = read_string(l, obj, "name", "name", &t->name);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return fail(l, "name", "is required");
	if (!target_name_declarable(t->name))
		return fail(l, "name", TARGET_NAME_RULE);
	if (target_find_static(t->name))
		return fail(l, "name", "\"%s\" is already a builtin or plugin target", t->name);
	for (size_t i = 0; i < index; i++)
		if (strcmp(l->f->targets[i].name, t->name) == 0)
			return fail(l, "name", "\"%s\" is declared twice", t->name);
	snprintf(l->label, sizeof l->label, "target \"%s\"", t->name);
	return 0;
}

static int load_target(struct loader *l, const cJSON *obj, size_t index)
{
	struct target *t = &l->f->targets[index];
	struct exec_spec *spec = own_calloc(l->f, 1, sizeof *spec);
	size_t source_len = strlen("file:") + strlen(l->path) + 1;
	char *source = own_calloc(l->f, source_len, 1);
	double d;
	int rc;

	snprintf(l->label, sizeof l->label, "targets[%zu]", index);
	if (!spec || !source)
		return fail_nomem(l);
	snprintf(source, source_len, "file:%s", l->path);
	t->source = source;
	if (!cJSON_IsObject(obj))
		return fail(l, NULL, "must be an object");
	t->kind = TARGET_EXEC;
	t->exec = spec;
	t->description = "";
	if ((rc = load_name(l, obj, t, index)) < 0 ||
	    (rc = check_keys(l, obj, target_keys, "")) < 0 ||
	    (rc = read_string(l, obj, "description", "description", &t->description)) < 0 ||
	    (rc = load_program(l, obj, spec)) < 0 ||
	    (rc = load_args(l, obj, t)) < 0 ||
	    (rc = load_argv(l, obj, t, spec)) < 0 ||
	    (rc = load_env(l, obj, spec)) < 0 ||
	    (rc = load_cwd(l, obj, spec)) < 0 ||
	    (rc = load_rlimits(l, obj, &spec->rlimits)) < 0 ||
	    (rc = load_identity(l, obj, spec)) < 0)
		return rc;
	if ((rc = read_number(l, obj, "timeout", "timeout", false, 0.001, TIMEOUT_MAX, &d)) < 0)
		return rc;
	t->timeout = rc > 0 ? d : 0;
	if ((rc = read_number(l, obj, "max_running", "max_running", true, 1, MAX_RUNNING_MAX, &d)) < 0)
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
		return fail_nomem(l);
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

int exec_file_load(const char *path, struct exec_file **out, char *err, size_t errlen)
{
	static const char *const top_keys[] = { "version", "targets", NULL };
	struct loader l = { .path = path, .err = err, .errlen = errlen };
	cJSON *root = NULL;
	const cJSON *list, *item;
	char *text = NULL;
	size_t i = 0;
	double version;
	int rc;

	if (errlen)
		err[0] = '\0';
	if ((rc = read_file(&l, &text)) < 0)
		return rc;
	rc = parse_json(&l, text, &root);
	free(text);
	if (rc < 0)
		return rc;
	l.f = calloc(1, sizeof *l.f);
	if (!l.f) {
		rc = fail_nomem(&l);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		rc = fail(&l, NULL, "must be a JSON object {\"targets\": [...]}");
		goto out;
	}
	if ((rc = check_keys(&l, root, top_keys, "")) < 0)
		goto out;
	if ((rc = read_number(&l, root, "version", "version", true, 1, 1, &version)) < 0)
		goto out;
	list = cJSON_GetObjectItemCaseSensitive(root, "targets");
	if (!cJSON_IsArray(list)) {
		rc = fail(&l, "targets", list ? "must be an array" : "is required");
		goto out;
	}
	l.f->count = (size_t)cJSON_GetArraySize(list);
	l.f->targets = own_calloc(l.f, l.f->count, sizeof *l.f->targets);
	if (!l.f->targets) {
		rc = fail_nomem(&l);
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

/* --- per run: argv and env --- */

void target_free_argv(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}

/* The text of one canonical value: strings as they are, integers in decimal,
 * numbers in their shortest exact form, booleans as true/false. */
static char *value_text(const cJSON *v)
{
	char buf[64];

	if (cJSON_IsString(v))
		return strdup(v->valuestring);
	if (cJSON_IsBool(v))
		return strdup(cJSON_IsTrue(v) ? "true" : "false");
	if (!cJSON_IsNumber(v))
		return NULL;
	number_format(buf, sizeof buf, v->valuedouble);
	return strdup(buf);
}

/* How many argv elements the placeholder for spec expands to. */
static size_t value_count(const struct arg_spec *spec, const cJSON *canonical)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(canonical, spec->name);

	if (!v || cJSON_IsNull(v))
		return 0;
	return spec->variadic ? (size_t)cJSON_GetArraySize(v) : 1;
}

/* A group is kept when every placeholder in it has a value. */
static bool word_kept(const struct target *t, const cJSON *canonical, const struct exec_word *w)
{
	const struct exec_spec *spec = t->exec;

	if (w->group == 0)
		return true;
	for (size_t i = 0; i < spec->nwords; i++)
		if (spec->words[i].group == w->group && !spec->words[i].text &&
		    value_count(&t->args[spec->words[i].arg], canonical) == 0)
			return false;
	return true;
}

int target_build_argv(const struct target *t, const cJSON *canonical, char ***argv_out)
{
	const struct exec_spec *spec = t ? t->exec : NULL;
	size_t n = 1, used = 0;
	char **argv;

	if (!spec)
		return -EINVAL;
	for (size_t i = 0; i < spec->nwords; i++)
		if (word_kept(t, canonical, &spec->words[i]))
			n += spec->words[i].text ? 1 : value_count(&t->args[spec->words[i].arg], canonical);
	argv = calloc(n + 1, sizeof *argv);
	if (!argv || !(argv[used++] = strdup(spec->program)))
		goto nomem;
	for (size_t i = 0; i < spec->nwords; i++) {
		const struct exec_word *w = &spec->words[i];
		const struct arg_spec *arg = w->text ? NULL : &t->args[w->arg];
		const cJSON *v, *element;

		if (!word_kept(t, canonical, w))
			continue;
		if (w->text) {
			if (!(argv[used++] = strdup(w->text)))
				goto nomem;
			continue;
		}
		if (value_count(arg, canonical) == 0)
			continue;
		v = cJSON_GetObjectItemCaseSensitive(canonical, arg->name);
		if (!arg->variadic) {
			if (!(argv[used++] = value_text(v)))
				goto nomem;
			continue;
		}
		cJSON_ArrayForEach(element, v)
			if (used < n && !(argv[used++] = value_text(element)))
				goto nomem;
	}
	*argv_out = argv;
	return 0;
nomem:
	target_free_argv(argv);
	return -ENOMEM;
}

/* The environment under construction: names with their values, later ones
 * replacing earlier ones of the same name. Room for PATH, the fixed env, the
 * allowed request keys and the two identity variables. */
struct env_list {
	const char *names[2 * ENV_MAX + 3];
	const char *values[2 * ENV_MAX + 3];
	size_t count;
};

static void env_put(struct env_list *e, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < e->count && strcmp(e->names[i], name) != 0; i++)
		;
	if (i == e->count) {
		if (e->count == sizeof e->names / sizeof e->names[0])
			return;
		e->count++;
	}
	e->names[i] = name;
	e->values[i] = value;
}

static bool env_allowed(const struct target *t, const char *name)
{
	for (const char *const *a = t->exec ? t->exec->env_allow : NULL; a && *a; a++)
		if (strcmp(*a, name) == 0)
			return true;
	return false;
}

/* Request keys: allowed, strings, once each. One detail per bad key. */
static int check_request_env(const struct target *t, const cJSON *request_env, cJSON *errors)
{
	const cJSON *item, *other;
	char field[200];

	if (!request_env || cJSON_IsNull(request_env))
		return 0;
	if (!cJSON_IsObject(request_env)) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "field", "env");
		cJSON_AddStringToObject(d, "message", "must be an object of strings");
		cJSON_AddItemToArray(errors, d);
		return -EINVAL;
	}
	cJSON_ArrayForEach(item, request_env) {
		const char *message = NULL;
		snprintf(field, sizeof field, "env.%.150s", item->string);
		for (other = request_env->child; other != item; other = other->next)
			if (strcmp(other->string, item->string) == 0)
				message = "is given more than once";
		if (!message && !env_allowed(t, item->string))
			message = "is not an environment variable this target allows";
		if (!message && !cJSON_IsString(item))
			message = "must be a string";
		if (message) {
			cJSON *d = cJSON_CreateObject();
			cJSON_AddStringToObject(d, "field", field);
			cJSON_AddStringToObject(d, "message", message);
			cJSON_AddItemToArray(errors, d);
		}
	}
	return cJSON_GetArraySize(errors) > 0 ? -EINVAL : 0;
}

int target_build_env(const struct target *t, const cJSON *request_env, const struct target_ctx *ctx,
		     char ***envp_out, cJSON **details)
{
	struct env_list *e = calloc(1, sizeof *e);
	cJSON *errors = cJSON_CreateArray();
	const cJSON *item;
	char **envp = NULL;
	int rc = -ENOMEM;

	if (!e || !errors)
		goto out;
	if ((rc = check_request_env(t, request_env, errors)) < 0) {
		*details = errors;
		errors = NULL;
		goto out;
	}
	env_put(e, "PATH", "/usr/local/bin:/usr/bin:/bin");
	for (size_t i = 0; t->exec && i < t->exec->nenv_set; i++)
		env_put(e, t->exec->env_set[i].name, t->exec->env_set[i].value);
	if (cJSON_IsObject(request_env))
		cJSON_ArrayForEach(item, request_env)
			env_put(e, item->string, item->valuestring);
	if (ctx && ctx->id)
		env_put(e, "SPAWND_PROCESS_ID", ctx->id);
	if (ctx && ctx->name)
		env_put(e, "SPAWND_PROCESS_NAME", ctx->name);
	rc = -ENOMEM;
	envp = calloc(e->count + 1, sizeof *envp);
	if (!envp)
		goto out;
	for (size_t i = 0; i < e->count; i++) {
		size_t len = strlen(e->names[i]) + strlen(e->values[i]) + 2;
		if (!(envp[i] = malloc(len)))
			goto out;
		snprintf(envp[i], len, "%s=%s", e->names[i], e->values[i]);
	}
	*envp_out = envp;
	envp = NULL;
	rc = 0;
out:
	target_free_argv(envp);
	cJSON_Delete(errors);
	free(e);
	return rc;
}
