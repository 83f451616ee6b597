/* target — the registry (builtins, plugins, exec targets) and argument validation.
 *
 * Lookup is by exact name in tables; a name that could not be a target name is
 * refused before any lookup, and no name ever becomes a path.
 *
 * The exec set is swapped on reload while request threads look targets up, so
 * the current set is an atomic pointer. Old sets are retired, never freed while
 * the server runs: a request being validated or a running process may still
 * point into them, and a reload is rare and small.
 *
 * Patterns must match the whole value. Wrapping the operator's pattern as
 * "^(" pattern ")$" is not safe with glibc, where an unmatched ')' is an
 * ordinary character: "a)|b" would become "^(a)|b)$", which matches "abc".
 * So the pattern is compiled as written and the leftmost-longest match (POSIX)
 * must span the whole value.
 */
#include "targets/target.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "targets/builtin.h"
#include "targets/exec_file.h"
#include "lib/number.h"

#define TARGET_NAME_MAX 128

static const struct target *plugin_targets;
static size_t plugin_count;

static struct exec_file *exec_current;  /* atomic: __atomic_load_n / __atomic_store_n */
static pthread_mutex_t exec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct exec_file **exec_retired;  /* under exec_lock */
static size_t exec_retired_count;

bool target_name_valid(const char *name)
{
	size_t len = 0;

	if (!name)
		return false;
	for (const char *p = name; *p; p++, len++) {
		char c = *p;
		if (len >= TARGET_NAME_MAX)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return len > 0;
}

bool target_name_declarable(const char *name)
{
	return target_name_valid(name) && name[0] != '.' && name[0] != '-';
}

bool target_identifier(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (; *s; s++, n++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return n <= max;
}

const struct target *target_find_static(const char *name)
{
	size_t count;
	const struct target *builtins = builtin_targets(&count);

	if (!target_name_valid(name))
		return NULL;
	for (size_t i = 0; i < count; i++)
		if (strcmp(builtins[i].name, name) == 0)
			return &builtins[i];
	for (size_t i = 0; i < plugin_count; i++)
		if (strcmp(plugin_targets[i].name, name) == 0)
			return &plugin_targets[i];
	return NULL;
}

const struct target *target_find(const char *name)
{
	const struct target *t = target_find_static(name);

	if (t || !target_name_valid(name))
		return t;
	return exec_file_find(__atomic_load_n(&exec_current, __ATOMIC_ACQUIRE), name);
}

const struct target *target_find_len(const char *name, size_t len)
{
	char copy[TARGET_NAME_MAX + 1];

	if (!name || len == 0 || len > TARGET_NAME_MAX || memchr(name, '\0', len))
		return NULL;
	memcpy(copy, name, len);
	copy[len] = '\0';
	return target_find(copy);
}

void targets_set_plugins(const struct target *targets, size_t count)
{
	plugin_targets = targets;
	plugin_count = targets ? count : 0;
}

void targets_set_exec(struct exec_file *f)
{
	struct exec_file *old;

	pthread_mutex_lock(&exec_lock);
	old = __atomic_exchange_n(&exec_current, f, __ATOMIC_ACQ_REL);
	if (old) {
		struct exec_file **grown = realloc(exec_retired, (exec_retired_count + 1) * sizeof *grown);
		if (grown) {
			exec_retired = grown;
			exec_retired[exec_retired_count++] = old;
		}
		/* else: leak it; freeing a set still in use would be worse */
	}
	pthread_mutex_unlock(&exec_lock);
}

void targets_release(void)
{
	pthread_mutex_lock(&exec_lock);
	exec_file_free(__atomic_exchange_n(&exec_current, NULL, __ATOMIC_ACQ_REL));
	for (size_t i = 0; i < exec_retired_count; i++)
		exec_file_free(exec_retired[i]);
	free(exec_retired);
	exec_retired = NULL;
	exec_retired_count = 0;
	pthread_mutex_unlock(&exec_lock);
}

/* --- validation --- */

static const char *const type_names[] = {
	[ARG_STRING] = "string", [ARG_INTEGER] = "integer",
	[ARG_NUMBER] = "number", [ARG_BOOLEAN] = "boolean", [ARG_PATH] = "path",
};

static void add_detail(cJSON *details, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add_detail(cJSON *details, const char *field, const char *fmt, ...)
{
	char message[512];
	cJSON *entry = cJSON_CreateObject();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	if (!entry)
		return;
	cJSON_AddStringToObject(entry, "field", field);
	cJSON_AddStringToObject(entry, "message", message);
	cJSON_AddItemToArray(details, entry);
}

/* 1 when the whole of s matches the ERE, 0 when not, -1 when it does not compile. */
static int pattern_full_match(const char *pattern, const char *s)
{
	regex_t re;
	int rc;

	if (regcomp(&re, pattern, REG_EXTENDED) != 0)
		return -1;
	rc = target_regex_full_match(&re, s);
	regfree(&re);
	return rc;
}

bool target_regex_full_match(const regex_t *re, const char *s)
{
	regmatch_t m;

	return regexec(re, s, 1, &m, 0) == 0 && m.rm_so == 0 && (size_t)m.rm_eo == strlen(s);
}

static bool check_range(const struct arg_spec *spec, double v, const char *field, cJSON *details)
{
	char bound[40];

	if (spec->has_min && v < spec->min) {
		number_format(bound, sizeof bound, spec->min);
		add_detail(details, field, "must be at least %s", bound);
		return false;
	}
	if (spec->has_max && v > spec->max) {
		number_format(bound, sizeof bound, spec->max);
		add_detail(details, field, "must be at most %s", bound);
		return false;
	}
	return true;
}

static bool enum_contains(const char *const *values, const char *s)
{
	for (; *values; values++)
		if (strcmp(*values, s) == 0)
			return true;
	return false;
}

/* "a, b, c", cut short where it would not fit. */
static void enum_list(char *buf, size_t len, const char *const *values)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const char *const *e = values; *e; e++) {
		int n = snprintf(buf + used, len - used, "%s%s", e == values ? "" : ", ", *e);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

static bool check_string(const struct arg_spec *spec, const char *s, const char *field, cJSON *details)
{
	if (spec->max_length > 0 && strlen(s) > (size_t)spec->max_length) {
		add_detail(details, field, "must be at most %ld bytes long", spec->max_length);
		return false;
	}
	if (spec->enum_values && !enum_contains(spec->enum_values, s)) {
		char list[400];
		enum_list(list, sizeof list, spec->enum_values);
		add_detail(details, field, "must be one of: %s", list);
		return false;
	}
	if (spec->pattern) {
		int rc = pattern_full_match(spec->pattern, s);
		if (rc < 0) {
			add_detail(details, field, "cannot be checked: the target's pattern does not compile");
			return false;
		}
		if (rc == 0) {
			add_detail(details, field, "must match the pattern %s", spec->pattern);
			return false;
		}
	}
	return true;
}

/* True when path is root or lies below it (both resolved, absolute). */
static bool path_within(const char *path, const char *root)
{
	size_t n = strlen(root);
	if (n == 1)
		return true;    /* "/" */
	return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* A path argument: resolved the way the kernel would open it (realpath), so
 * "..", symbolic links and absolute paths cannot leave the root whatever the
 * operator's pattern. One message for a path that does not exist and one
 * outside the root, so that answers do not tell what exists outside it.
 * Returns the resolved path, or NULL after adding a detail. */
static cJSON *check_path(const struct arg_spec *spec, const char *s, const char *field, cJSON *details)
{
	char joined[PATH_MAX], resolved[PATH_MAX];
	const char *path = s;

	if (!*s) {
		add_detail(details, field, "must not be empty");
		return NULL;
	}
	if (s[0] != '/') {
		int n = snprintf(joined, sizeof joined, "%s/%s", spec->root, s);
		if (n < 0 || (size_t)n >= sizeof joined) {
			add_detail(details, field, "is too long");
			return NULL;
		}
		path = joined;
	}
	if (!realpath(path, resolved) || !path_within(resolved, spec->root)) {
		add_detail(details, field, "must be an existing file or folder inside %s "
			   "(after following symbolic links and \"..\")", spec->root);
		return NULL;
	}
	return cJSON_CreateString(resolved);
}

/* Checks one value against spec. Returns its canonical copy, or NULL after
 * adding one detail for field. */
static cJSON *check_value(const struct target *t, const struct arg_spec *spec, const cJSON *value,
			  const char *field, cJSON *details)
{
	bool dash_refused = t->kind == TARGET_EXEC && !spec->allow_dash;
	double v;

	switch (spec->type) {
	case ARG_STRING:
		if (!cJSON_IsString(value) || !value->valuestring) {
			add_detail(details, field, "must be a string");
			return NULL;
		}
		if (dash_refused && value->valuestring[0] == '-') {
			add_detail(details, field, "must not start with \"-\"");
			return NULL;
		}
		if (!check_string(spec, value->valuestring, field, details))
			return NULL;
		return cJSON_CreateString(value->valuestring);
	case ARG_BOOLEAN:
		if (!cJSON_IsBool(value)) {
			add_detail(details, field, "must be true or false");
			return NULL;
		}
		return cJSON_CreateBool(cJSON_IsTrue(value));
	case ARG_PATH:
		if (!cJSON_IsString(value) || !value->valuestring) {
			add_detail(details, field, "must be a string (a path)");
			return NULL;
		}
		return check_path(spec, value->valuestring, field, details);
	case ARG_INTEGER:
	case ARG_NUMBER:
		break;
	}
	if (!cJSON_IsNumber(value) || !isfinite(value->valuedouble)) {
		add_detail(details, field, "must be %s", spec->type == ARG_INTEGER ? "an integer" : "a number");
		return NULL;
	}
	v = value->valuedouble;
	/* Beyond 2^53 a double cannot hold every integer: 2^53 + 1 would run as 2^53. */
	if (spec->type == ARG_INTEGER && !number_is_safe_integer(v)) {
		add_detail(details, field, "must be an integer from -" NUMBER_SAFE_MAX_TEXT " to " NUMBER_SAFE_MAX_TEXT);
		return NULL;
	}
	if (v == 0)
		v = 0;  /* -0 becomes 0: its text must not start with '-' */
	if (!check_range(spec, v, field, details))
		return NULL;
	if (dash_refused && v < 0) {
		add_detail(details, field, "must not be negative (its text would start with \"-\")");
		return NULL;
	}
	return cJSON_CreateNumber(v);
}

static void field_name(char *buf, size_t len, const char *name, long index)
{
	if (name && index >= 0)
		snprintf(buf, len, "args.%.200s[%ld]", name, index);
	else if (name)
		snprintf(buf, len, "args.%.200s", name);
	else
		snprintf(buf, len, "args[%ld]", index);
}

/* What target_validate() gathers, per spec i: the canonical value (an array for
 * a variadic spec), whether a named value was seen, whether a detail was added. */
struct validation {
	const struct target *t;
	cJSON **slots;
	bool *seen;
	bool *bad;
	cJSON *details;
};

static void take_value(struct validation *v, size_t i, const cJSON *value, const char *field)
{
	const struct arg_spec *spec = &v->t->args[i];
	cJSON *copy = check_value(v->t, spec, value, field, v->details);

	if (!copy) {
		v->bad[i] = true;
		return;
	}
	if (spec->variadic) {
		if (!v->slots[i])
			v->slots[i] = cJSON_CreateArray();
		if (v->slots[i]) {
			cJSON_AddItemToArray(v->slots[i], copy);
			return;
		}
	} else if (!v->slots[i]) {
		v->slots[i] = copy;
		return;
	}
	cJSON_Delete(copy);
}

static void take_positional(struct validation *v, const cJSON *args)
{
	const struct target *t = v->t;
	bool variadic_last = t->nargs > 0 && t->args[t->nargs - 1].variadic;
	const cJSON *value;
	long index = 0;
	char field[64];

	cJSON_ArrayForEach(value, args) {
		size_t position = (size_t)index, i;
		field_name(field, sizeof field, NULL, index++);
		if (position >= t->nargs && !variadic_last) {
			add_detail(v->details, field, "is one argument too many: %s takes at most %zu",
				   t->name, t->nargs);
			continue;
		}
		i = position < t->nargs ? position : t->nargs - 1;
		if (!cJSON_IsNull(value) || t->args[i].variadic)
			take_value(v, i, value, field);
	}
}

static void take_named(struct validation *v, const cJSON *args)
{
	const struct target *t = v->t;
	const cJSON *value;
	char field[300];

	cJSON_ArrayForEach(value, args) {
		size_t i;
		for (i = 0; i < t->nargs; i++)
			if (strcmp(t->args[i].name, value->string) == 0)
				break;
		field_name(field, sizeof field, value->string, -1);
		if (i == t->nargs) {
			add_detail(v->details, field, "is not an argument of %s", t->name);
			continue;
		}
		if (v->seen[i]) {
			add_detail(v->details, field, "is given more than once");
			v->bad[i] = true;
			continue;
		}
		v->seen[i] = true;
		if (cJSON_IsNull(value))
			continue;
		if (!t->args[i].variadic) {
			take_value(v, i, value, field);
		} else if (!cJSON_IsArray(value)) {
			add_detail(v->details, field, "must be an array (it takes any number of values)");
			v->bad[i] = true;
		} else {
			const cJSON *element;
			long j = 0;
			cJSON_ArrayForEach(element, value) {
				field_name(field, sizeof field, t->args[i].name, j++);
				take_value(v, i, element, field);
			}
		}
	}
}

int target_validate(const struct target *t, const cJSON *args, cJSON **canonical, cJSON **details)
{
	struct validation v = {
		.t = t,
		.slots = calloc(t->nargs + 1, sizeof *v.slots),
		.seen = calloc(t->nargs + 1, sizeof *v.seen),
		.bad = calloc(t->nargs + 1, sizeof *v.bad),
		.details = cJSON_CreateArray(),
	};
	cJSON *out;
	int rc = -ENOMEM;

	if (!v.slots || !v.seen || !v.bad || !v.details)
		goto out;
	if (!args || cJSON_IsNull(args))
		;
	else if (cJSON_IsArray(args))
		take_positional(&v, args);
	else if (cJSON_IsObject(args))
		take_named(&v, args);
	else
		add_detail(v.details, "args", "must be an array of values, an object of named values, or null");

	for (size_t i = 0; i < t->nargs; i++) {
		char field[250];
		if (v.slots[i] || v.bad[i] || !t->args[i].required)
			continue;
		field_name(field, sizeof field, t->args[i].name, -1);
		add_detail(v.details, field, t->args[i].variadic ? "is required (at least one value)" : "is required");
	}
	if (cJSON_GetArraySize(v.details) > 0) {
		*details = v.details;
		v.details = NULL;
		rc = -EINVAL;
		goto out;
	}
	out = cJSON_CreateObject();
	if (!out)
		goto out;
	for (size_t i = 0; i < t->nargs; i++) {
		if (v.slots[i]) {
			cJSON_AddItemToObject(out, t->args[i].name, v.slots[i]);
			v.slots[i] = NULL;
		}
	}
	*canonical = out;
	rc = 0;
out:
	for (size_t i = 0; v.slots && i < t->nargs; i++)
		cJSON_Delete(v.slots[i]);
	free(v.slots);
	free(v.seen);
	free(v.bad);
	cJSON_Delete(v.details);
	return rc;
}

/* --- description --- */

static const char *const kind_names[] = {
	[TARGET_BUILTIN] = "builtin", [TARGET_PLUGIN] = "plugin", [TARGET_EXEC] = "exec",
};

static cJSON *arg_to_json(const struct arg_spec *spec)
{
	cJSON *a = cJSON_CreateObject();

	if (!a)
		return NULL;
	cJSON_AddStringToObject(a, "name", spec->name);
	cJSON_AddStringToObject(a, "type", type_names[spec->type]);
	cJSON_AddBoolToObject(a, "required", spec->required);
	if (spec->enum_values) {
		cJSON *list = cJSON_AddArrayToObject(a, "enum");
		for (const char *const *e = spec->enum_values; list && *e; e++)
			cJSON_AddItemToArray(list, cJSON_CreateString(*e));
	}
	if (spec->pattern)
		cJSON_AddStringToObject(a, "pattern", spec->pattern);
	/* Raw text, exact: cJSON would print 9007199254740991 as 9.00719925474099e+15. */
	char bound[32];
	if (spec->has_min) {
		number_format(bound, sizeof bound, spec->min);
		cJSON_AddRawToObject(a, "min", bound);
	}
	if (spec->has_max) {
		number_format(bound, sizeof bound, spec->max);
		cJSON_AddRawToObject(a, "max", bound);
	}
	if (spec->max_length > 0)
		cJSON_AddNumberToObject(a, "max_length", (double)spec->max_length);
	if (spec->variadic)
		cJSON_AddTrueToObject(a, "variadic");
	if (spec->root)
		cJSON_AddStringToObject(a, "root", spec->root);
	return a;
}

cJSON *target_to_json(const struct target *t)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON *args;

	if (!obj)
		return NULL;
	cJSON_AddStringToObject(obj, "name", t->name);
	cJSON_AddStringToObject(obj, "kind", kind_names[t->kind]);
	cJSON_AddStringToObject(obj, "description", t->description ? t->description : "");
	args = cJSON_AddArrayToObject(obj, "args");
	for (size_t i = 0; args && i < t->nargs; i++)
		cJSON_AddItemToArray(args, arg_to_json(&t->args[i]));
	if (t->timeout > 0)
		cJSON_AddNumberToObject(obj, "timeout", t->timeout);
	else
		cJSON_AddNullToObject(obj, "timeout");
	if (t->max_running > 0)
		cJSON_AddNumberToObject(obj, "max_running", t->max_running);
	else
		cJSON_AddNullToObject(obj, "max_running");
	if (t->source || t->kind == TARGET_BUILTIN)
		cJSON_AddStringToObject(obj, "source", t->source ? t->source : "builtin");
	return obj;
}

cJSON *targets_list_json(void)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON *list = obj ? cJSON_AddArrayToObject(obj, "targets") : NULL;
	const struct exec_file *f = __atomic_load_n(&exec_current, __ATOMIC_ACQUIRE);
	size_t count;
	const struct target *builtins = builtin_targets(&count);

	if (!list) {
		cJSON_Delete(obj);
		return NULL;
	}
	for (size_t i = 0; i < count; i++)
		cJSON_AddItemToArray(list, target_to_json(&builtins[i]));
	for (size_t i = 0; i < plugin_count; i++)
		cJSON_AddItemToArray(list, target_to_json(&plugin_targets[i]));
	for (size_t i = 0; i < exec_file_count(f); i++)
		cJSON_AddItemToArray(list, target_to_json(exec_file_target(f, i)));
	return obj;
}

/* --- helpers for target functions --- */

long long target_arg_int(const cJSON *args, const char *name, long long fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
	int64_t i;

	return cJSON_IsNumber(v) && number_int64(v->valuedouble, &i) ? i : fallback;
}

double target_arg_number(const cJSON *args, const char *name, double fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);

	return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

const char *target_arg_string(const cJSON *args, const char *name, const char *fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : fallback;
}
