/* plugin_args — the canonical arguments of a plugin target as the plugin
 * reads them (struct spawnd_args of include/spawnd_target.h), and the
 * spawnd_arg_* functions plugins call.
 *
 * Runs in the worker, once per run. The conversion copies no strings: values
 * point into the canonical cJSON object, which outlives the run. spawnd and the
 * fork server export the spawnd_arg_* symbols (targets/plugin.dynlist), so a
 * plugin links against nothing.
 */
#include "targets/plugin_args.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/number.h"

struct plugin_arg {
	const char *name;
	size_t count;
	const struct spawnd_value *values;
};

struct spawnd_args {
	size_t count;
	struct plugin_arg *items;    /* one per declared argument */
	struct spawnd_value *values; /* every value, items point into it */
};

static const enum spawnd_arg_type public_types[] = {
	[ARG_STRING] = SPAWND_ARG_STRING, [ARG_INTEGER] = SPAWND_ARG_INTEGER,
	[ARG_NUMBER] = SPAWND_ARG_NUMBER, [ARG_BOOLEAN] = SPAWND_ARG_BOOLEAN,
	[ARG_PATH] = SPAWND_ARG_STRING,         /* exec targets only: a plugin never declares one */
};

/* Converts one canonical value; false if it is not of the declared type. */
static bool convert_value(enum arg_type type, const cJSON *json, struct spawnd_value *out)
{
	memset(out, 0, sizeof *out);
	out->type = public_types[type];
	switch (type) {
	case ARG_STRING:
	case ARG_PATH:
		out->string = cJSON_GetStringValue(json);
		return out->string != NULL;
	case ARG_BOOLEAN:
		out->boolean = cJSON_IsTrue(json);
		return cJSON_IsBool(json);
	case ARG_INTEGER: {
		int64_t integer;
		if (!cJSON_IsNumber(json) || !number_int64(json->valuedouble, &integer))
			return false;
		out->integer = integer;
		out->number = json->valuedouble;
		return true;
	}
	case ARG_NUMBER:
		out->number = json->valuedouble;
		return cJSON_IsNumber(json);
	}
	return false;
}

int plugin_args_from_json(const struct target *t, const cJSON *canonical, struct spawnd_args **out)
{
	struct spawnd_args *args = calloc(1, sizeof *args);
	size_t total = 0, used = 0;

	if (!args)
		return -ENOMEM;
	for (size_t i = 0; i < t->nargs; i++) {
		const cJSON *item = cJSON_GetObjectItemCaseSensitive(canonical, t->args[i].name);
		if (t->args[i].variadic && cJSON_IsArray(item))
			total += (size_t)cJSON_GetArraySize(item);
		else if (item && !cJSON_IsNull(item))
			total++;
	}
	args->items = calloc(t->nargs ? t->nargs : 1, sizeof *args->items);
	args->values = calloc(total ? total : 1, sizeof *args->values);
	if (!args->items || !args->values) {
		plugin_args_free(args);
		return -ENOMEM;
	}
	args->count = t->nargs;
	for (size_t i = 0; i < t->nargs; i++) {
		const struct arg_spec *spec = &t->args[i];
		const cJSON *item = cJSON_GetObjectItemCaseSensitive(canonical, spec->name), *element;
		struct plugin_arg *arg = &args->items[i];

		arg->name = spec->name;
		arg->values = &args->values[used];
		if (spec->variadic && cJSON_IsArray(item)) {
			cJSON_ArrayForEach(element, item) {
				if (used < total && convert_value(spec->type, element, &args->values[used])) {
					used++;
					arg->count++;
				}
			}
		} else if (item && used < total && convert_value(spec->type, item, &args->values[used])) {
			used++;
			arg->count = 1;
		}
	}
	*out = args;
	return 0;
}

void plugin_args_free(struct spawnd_args *args)
{
	if (!args)
		return;
	free(args->items);
	free(args->values);
	free(args);
}

static const struct plugin_arg *find_arg(const struct spawnd_args *args, const char *name)
{
	if (!args || !name)
		return NULL;
	for (size_t i = 0; i < args->count; i++)
		if (strcmp(args->items[i].name, name) == 0)
			return &args->items[i];
	return NULL;
}

size_t spawnd_arg_count(const struct spawnd_args *args, const char *name)
{
	const struct plugin_arg *arg = find_arg(args, name);

	return arg ? arg->count : 0;
}

const struct spawnd_value *spawnd_arg_at(const struct spawnd_args *args, const char *name, size_t index)
{
	const struct plugin_arg *arg = find_arg(args, name);

	return arg && index < arg->count ? &arg->values[index] : NULL;
}

bool spawnd_arg_has(const struct spawnd_args *args, const char *name)
{
	return spawnd_arg_count(args, name) > 0;
}

long long spawnd_arg_int(const struct spawnd_args *args, const char *name, long long fallback)
{
	const struct spawnd_value *v = spawnd_arg_at(args, name, 0);

	return v && v->type == SPAWND_ARG_INTEGER ? v->integer : fallback;
}

double spawnd_arg_number(const struct spawnd_args *args, const char *name, double fallback)
{
	const struct spawnd_value *v = spawnd_arg_at(args, name, 0);

	return v && (v->type == SPAWND_ARG_NUMBER || v->type == SPAWND_ARG_INTEGER) ? v->number : fallback;
}

bool spawnd_arg_bool(const struct spawnd_args *args, const char *name, bool fallback)
{
	const struct spawnd_value *v = spawnd_arg_at(args, name, 0);

	return v && v->type == SPAWND_ARG_BOOLEAN ? v->boolean : fallback;
}

const char *spawnd_arg_string(const struct spawnd_args *args, const char *name, const char *fallback)
{
	const struct spawnd_value *v = spawnd_arg_at(args, name, 0);

	return v && v->type == SPAWND_ARG_STRING ? v->string : fallback;
}
