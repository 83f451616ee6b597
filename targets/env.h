/* env — the worker's environment policy, in one place.
 *
 * A worker's environment is exactly: PATH=/usr/local/bin:/usr/bin:/bin, then
 * the target's fixed env.set (may override PATH), then the request's "env"
 * for the keys the target's env.allow lists, then SPAWND_PROCESS_ID and
 * SPAWND_PROCESS_NAME, which nothing overrides. Builtin and plugin targets
 * allow no request keys. Nothing comes from the server's own environment.
 *
 * It is built in two steps because the request is checked before the process
 * has an id: target_build_env() in the request thread (refusals go back to
 * the client), target_finish_env() when the engine creates the record.
 */
#ifndef SPAWND_ENV_H
#define SPAWND_ENV_H

#include <cjson/cJSON.h>
#include "targets/target.h"

/* The environment of t for request_env (a JSON object of strings, or NULL),
 * with the identity of ctx (none when ctx is NULL; fields that are NULL are
 * left out). 0 and *envp_out ("KEY=value", NULL-terminated; free with
 * target_free_argv()); -EINVAL with *details = [{"field": "env.KEY" | "env",
 * "message"}] (caller frees; values never appear in it); or -ENOMEM with
 * nothing stored. */
int target_build_env(const struct target *t, const cJSON *request_env, const struct target_ctx *ctx,
		     char ***envp_out, cJSON **details);

/* The worker's final environment from one target_build_env() made (given, may
 * be NULL): PATH first unless given has one, given without its identity
 * entries, then SPAWND_PROCESS_ID=id and SPAWND_PROCESS_NAME=name. A new
 * vector (free with strv_free() or target_free_argv()); NULL on ENOMEM or
 * when name is NULL. given is not changed. */
char **target_finish_env(char *const *given, const char *id, const char *name);

#endif
