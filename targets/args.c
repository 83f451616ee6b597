/* args — a request's "args" checked against a target's argument specs and
 * turned into the canonical object the worker reads.
 *
 * Every bad argument gets its own detail (field and message), so a client
 * sees all its mistakes at once. Validation only reads the target, so
 * request threads run it concurrently without locks (a target stays valid
 * while a request holds it, see targets/registry.h).
 */
#include "targets/args.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/number.h"
#include "targets/pattern.h"

/* The details gathered so far. A detail that cannot be recorded, or a value
 * that cannot be copied, sets nomem: validation then fails with -ENOMEM
 * instead of passing a request whose refusal or argument was lost. */
struct detail_list {
	cJSON *array;
	bool nomem;
};

static void add_detail(struct detail_list *details, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add_detail(struct detail_list *details, const char *field, const char *fmt, ...)
{
	char message[512];
	cJSON *entry = cJSON_CreateObject();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	if (!entry || !cJSON_AddStringToObject(entry, "field", field) ||
	    !cJSON_AddStringToObject(entry, "message", message) || !cJSON_AddItemToArray(details->array, entry)) {
		cJSON_Delete(entry);
		details->nomem = true;
	}
}

/* A canonical copy just made: NULL (out of memory) is remembered. */
static cJSON *copied(struct detail_list *details, cJSON *copy)
{
	if (!copy)
		details->nomem = true;
	return copy;
}

static bool check_range(const struct arg_spec *spec, double v, const char *field, struct detail_list *details)
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

static bool check_string(const struct arg_spec *spec, const char *s, const char *field, struct detail_list *details)
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
		int rc = pattern_matches(spec->pattern, s);
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
static cJSON *check_path(const struct arg_spec *spec, const char *s, const char *field, struct detail_list *details)
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
	return copied(details, cJSON_CreateString(resolved));
}

/* Checks one value against spec. Returns its canonical copy, or NULL after
 * adding one detail for field. */
static cJSON *check_value(const struct target *t, const struct arg_spec *spec, const cJSON *value,
			  const char *field, struct detail_list *details)
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
		return copied(details, cJSON_CreateString(value->valuestring));
	case ARG_BOOLEAN:
		if (!cJSON_IsBool(value)) {
			add_detail(details, field, "must be true or false");
			return NULL;
		}
		return copied(details, cJSON_CreateBool(cJSON_IsTrue(value)));
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
	return copied(details, cJSON_CreateNumber(v));
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
	struct detail_list details;
};

static void take_value(struct validation *v, size_t i, const cJSON *value, const char *field)
{
	const struct arg_spec *spec = &v->t->args[i];
	cJSON *copy = check_value(v->t, spec, value, field, &v->details);

	if (!copy) {
		v->bad[i] = true;
		return;
	}
	if (spec->variadic) {
		if (!v->slots[i])
			v->slots[i] = cJSON_CreateArray();
		if (v->slots[i] && cJSON_AddItemToArray(v->slots[i], copy))
			return;
		v->details.nomem = true;
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
			add_detail(&v->details, field, "is one argument too many: %s takes at most %zu",
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
			add_detail(&v->details, field, "is not an argument of %s", t->name);
			continue;
		}
		if (v->seen[i]) {
			add_detail(&v->details, field, "is given more than once");
			v->bad[i] = true;
			continue;
		}
		v->seen[i] = true;
		if (cJSON_IsNull(value))
			continue;
		if (!t->args[i].variadic) {
			take_value(v, i, value, field);
		} else if (!cJSON_IsArray(value)) {
			add_detail(&v->details, field, "must be an array (it takes any number of values)");
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

/* One detail per required argument that has no value (and no detail yet). */
static void check_required(struct validation *v)
{
	const struct target *t = v->t;
	char field[250];

	for (size_t i = 0; i < t->nargs; i++) {
		if (v->slots[i] || v->bad[i] || !t->args[i].required)
			continue;
		field_name(field, sizeof field, t->args[i].name, -1);
		add_detail(&v->details, field, t->args[i].variadic ? "is required (at least one value)" : "is required");
	}
}

/* {"name": value, ...} from the slots, which it empties. NULL on ENOMEM. */
static cJSON *canonical_object(struct validation *v)
{
	cJSON *out = cJSON_CreateObject();

	for (size_t i = 0; out && i < v->t->nargs; i++) {
		if (!v->slots[i])
			continue;
		if (!cJSON_AddItemToObject(out, v->t->args[i].name, v->slots[i])) {
			cJSON_Delete(out);    /* the key's copy failed: no object missing an argument */
			return NULL;
		}
		v->slots[i] = NULL;
	}
	return out;
}

int target_validate(const struct target *t, const cJSON *args, cJSON **canonical, cJSON **details)
{
	struct validation v = {
		.t = t,
		.slots = calloc(t->nargs + 1, sizeof *v.slots),
		.seen = calloc(t->nargs + 1, sizeof *v.seen),
		.bad = calloc(t->nargs + 1, sizeof *v.bad),
		.details = { .array = cJSON_CreateArray() },
	};
	cJSON *out;
	int rc = -ENOMEM;

	if (!v.slots || !v.seen || !v.bad || !v.details.array)
		goto out;
	if (!args || cJSON_IsNull(args))
		;
	else if (cJSON_IsArray(args))
		take_positional(&v, args);
	else if (cJSON_IsObject(args))
		take_named(&v, args);
	else
		add_detail(&v.details, "args", "must be an array of values, an object of named values, or null");
	check_required(&v);
	if (v.details.nomem)
		goto out;
	if (cJSON_GetArraySize(v.details.array) > 0) {
		*details = v.details.array;
		v.details.array = NULL;
		rc = -EINVAL;
		goto out;
	}
	if (!(out = canonical_object(&v)))
		goto out;
	*canonical = out;
	rc = 0;
out:
	for (size_t i = 0; v.slots && i < t->nargs; i++)
		cJSON_Delete(v.slots[i]);
	free(v.slots);
	free(v.seen);
	free(v.bad);
	cJSON_Delete(v.details.array);
	return rc;
}
