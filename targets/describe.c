/* describe — targets as clients see them (GET /targets, /targets/{name}).
 *
 * Bounds are written as raw number text (lib/number.h), because cJSON would
 * print 9007199254740991 as 9.00719925474099e+15 and a client reading the
 * schema must see the exact limit the validation applies.
 */
#include "targets/describe.h"

#include "lib/number.h"
#include "targets/registry.h"

static const char *const type_names[] = {
	[ARG_STRING] = "string", [ARG_INTEGER] = "integer",
	[ARG_NUMBER] = "number", [ARG_BOOLEAN] = "boolean", [ARG_PATH] = "path",
};

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
	cJSON_AddStringToObject(obj, "returns", t->returns_json ? "json" : "text");
	if (t->source || t->kind == TARGET_BUILTIN)
		cJSON_AddStringToObject(obj, "source", t->source ? t->source : "builtin");
	return obj;
}

static void add_described(const struct target *t, void *list)
{
	cJSON_AddItemToArray(list, target_to_json(t));
}

cJSON *targets_list_json(void)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON *list = obj ? cJSON_AddArrayToObject(obj, "targets") : NULL;

	if (!list) {
		cJSON_Delete(obj);
		return NULL;
	}
	targets_for_each(add_described, list);
	return obj;
}
