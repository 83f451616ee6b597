/* exec_load_env — a target's "env": {"allow": [names the request may set],
 * "set": {fixed name: value}}. The runtime policy that uses them is
 * targets/env.c; here only their shape is checked. SPAWND_* names are
 * spawnd's own (the worker's identity) and refused.
 */
#include "targets/exec_load_internal.h"

#include <stdio.h>
#include <string.h>

#include "targets/registry.h"

/* An environment name a target may set or allow: SPAWND_* is the identity. */
static int check_env_name(struct loader *l, const char *name, const char *field)
{
	if (!target_identifier(name, 128))
		return exec_load_fail(l, field, "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*, at most 128)");
	if (strncmp(name, "SPAWND_", 7) == 0)
		return exec_load_fail(l, field, "SPAWND_* variables are set by spawnd itself");
	return 0;
}

/* "env": {"allow": [names the request may set], "set": {fixed name: value}} */
int exec_load_env(struct loader *l, const cJSON *obj, struct exec_spec *spec)
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
		return exec_load_fail(l, "env", "must be an object {\"allow\": [...], \"set\": {...}}");
	if ((rc = exec_load_check_keys(l, env, env_keys, "env.")) < 0)
		return rc;
	if (allow && !cJSON_IsNull(allow) && !cJSON_IsArray(allow))
		return exec_load_fail(l, "env.allow", "must be an array of variable names");
	if (cJSON_GetArraySize(allow) > EXEC_ENV_MAX)
		return exec_load_fail(l, "env.allow", "must list at most %d names", EXEC_ENV_MAX);
	names = exec_file_calloc(l->f, (size_t)cJSON_GetArraySize(allow) + 1, sizeof *names);
	if (!names)
		return exec_load_nomem(l);
	cJSON_ArrayForEach(item, allow) {
		snprintf(field, sizeof field, "env.allow[%zu]", i);
		if (!cJSON_IsString(item))
			return exec_load_fail(l, field, "must be a string");
		if ((rc = check_env_name(l, item->valuestring, field)) < 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[j], item->valuestring) == 0)
				return exec_load_fail(l, field, "is listed twice");
		if (!(names[i++] = exec_file_strdup(l->f, item->valuestring)))
			return exec_load_nomem(l);
	}
	spec->env_allow = (const char *const *)names;

	if (set && !cJSON_IsNull(set) && !cJSON_IsObject(set))
		return exec_load_fail(l, "env.set", "must be an object of strings");
	if (cJSON_GetArraySize(set) > EXEC_ENV_MAX)
		return exec_load_fail(l, "env.set", "must set at most %d variables", EXEC_ENV_MAX);
	pairs = exec_file_calloc(l->f, (size_t)cJSON_GetArraySize(set), sizeof *pairs);
	if (!pairs)
		return exec_load_nomem(l);
	cJSON_ArrayForEach(item, set) {
		snprintf(field, sizeof field, "env.set.%.100s", item->string);
		if ((rc = check_env_name(l, item->string, field)) < 0)
			return rc;
		if (!cJSON_IsString(item))
			return exec_load_fail(l, field, "must be a string");
		for (size_t j = 0; j < spec->nenv_set; j++)
			if (strcmp(pairs[j].name, item->string) == 0)
				return exec_load_fail(l, field, "is given more than once");
		pairs[spec->nenv_set].name = exec_file_strdup(l->f, item->string);
		pairs[spec->nenv_set].value = exec_file_strdup(l->f, item->valuestring);
		if (!pairs[spec->nenv_set].name || !pairs[spec->nenv_set++].value)
			return exec_load_nomem(l);
	}
	spec->env_set = pairs;
	return 0;
}
