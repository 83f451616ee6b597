/* env — the environment policy: what a worker's environment holds and who may
 * set what (see env.h).
 *
 * The request thread checks the caller's keys and builds the vector, with an
 * empty identity since the id is not known yet; the engine then swaps in the
 * real identity. Both steps are here so that the PATH default and the
 * identity names live in one file. A refusal that cannot be recorded (out of
 * memory) is -ENOMEM, never a pass: a key the target does not allow must not
 * reach the worker.
 */
#include "targets/env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strv.h"

#define ENV_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define ENV_ID "SPAWND_PROCESS_ID"
#define ENV_NAME "SPAWND_PROCESS_NAME"

/* The environment under construction: names with their values, later ones
 * replacing earlier ones of the same name. Room for PATH, the fixed env, the
 * allowed request keys and the two identity variables. */
struct env_list {
	const char *names[2 * EXEC_ENV_MAX + 3];
	const char *values[2 * EXEC_ENV_MAX + 3];
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

/* "name=value" in a new string; NULL on ENOMEM. */
static char *env_entry(const char *name, const char *value)
{
	size_t len = strlen(name) + strlen(value) + 2;
	char *entry = malloc(len);

	if (entry)
		snprintf(entry, len, "%s=%s", name, value);
	return entry;
}

static bool env_allowed(const struct target *t, const char *name)
{
	for (const char *const *a = t->exec ? t->exec->env_allow : NULL; a && *a; a++)
		if (strcmp(*a, name) == 0)
			return true;
	return false;
}

/* Appends {"field", "message"} to errors: -EINVAL, or -ENOMEM when it cannot. */
static int refuse(cJSON *errors, const char *field, const char *message)
{
	cJSON *d = cJSON_CreateObject();

	if (!d || !cJSON_AddStringToObject(d, "field", field) || !cJSON_AddStringToObject(d, "message", message) ||
	    !cJSON_AddItemToArray(errors, d)) {
		cJSON_Delete(d);
		return -ENOMEM;
	}
	return -EINVAL;
}

/* Request keys: allowed, strings, once each. One detail per bad key. */
static int check_request_env(const struct target *t, const cJSON *request_env, cJSON *errors)
{
	const cJSON *item, *other;
	char field[200];
	int rc = 0;

	if (!request_env || cJSON_IsNull(request_env))
		return 0;
	if (!cJSON_IsObject(request_env))
		return refuse(errors, "env", "must be an object of strings");
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
		if (message && rc != -ENOMEM)
			rc = refuse(errors, field, message);
	}
	return rc;
}

/* The vector of e's entries; NULL on ENOMEM. */
static char **env_vector(const struct env_list *e)
{
	char **envp = calloc(e->count + 1, sizeof *envp);

	for (size_t i = 0; envp && i < e->count; i++) {
		if (!(envp[i] = env_entry(e->names[i], e->values[i]))) {
			strv_free(envp);
			return NULL;
		}
	}
	return envp;
}

int target_build_env(const struct target *t, const cJSON *request_env, const struct target_ctx *ctx,
		     char ***envp_out, cJSON **details)
{
	struct env_list *e = calloc(1, sizeof *e);
	cJSON *errors = cJSON_CreateArray();
	const cJSON *item;
	char **envp;
	int rc = -ENOMEM;

	if (!e || !errors)
		goto out;
	if ((rc = check_request_env(t, request_env, errors)) < 0) {
		if (rc == -EINVAL) {
			*details = errors;
			errors = NULL;
		}
		goto out;
	}
	env_put(e, "PATH", ENV_DEFAULT_PATH);
	for (size_t i = 0; t->exec && i < t->exec->nenv_set; i++)
		env_put(e, t->exec->env_set[i].name, t->exec->env_set[i].value);
	if (cJSON_IsObject(request_env))
		cJSON_ArrayForEach(item, request_env)
			env_put(e, item->string, item->valuestring);
	if (ctx && ctx->id)
		env_put(e, ENV_ID, ctx->id);
	if (ctx && ctx->name)
		env_put(e, ENV_NAME, ctx->name);
	rc = -ENOMEM;
	if ((envp = env_vector(e))) {
		*envp_out = envp;
		rc = 0;
	}
out:
	cJSON_Delete(errors);
	free(e);
	return rc;
}

static bool is_identity(const char *entry)
{
	return strncmp(entry, ENV_ID "=", strlen(ENV_ID "=")) == 0 ||
	       strncmp(entry, ENV_NAME "=", strlen(ENV_NAME "=")) == 0;
}

char **target_finish_env(char *const *given, const char *id, const char *name)
{
	size_t n = strv_len(given), k = 0;
	bool has_path = false;
	char **env;

	for (size_t i = 0; i < n; i++)
		has_path |= strncmp(given[i], "PATH=", 5) == 0;
	env = calloc(n + 4, sizeof *env);
	if (!env || !name)
		goto fail;
	if (!has_path && !(env[k++] = strdup("PATH=" ENV_DEFAULT_PATH)))
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (!is_identity(given[i]) && !(env[k++] = strdup(given[i])))
			goto fail;
	if (!(env[k++] = env_entry(ENV_ID, id)) || !(env[k] = env_entry(ENV_NAME, name)))
		goto fail;
	return env;
fail:
	strv_free(env);
	return NULL;
}
