/* plugin_args — the arguments a plugin target's run function reads.
 *
 * The plugin sees only the opaque struct spawnd_args and the spawnd_arg_*
 * functions of include/spawnd_target.h (defined in plugin_args.c).
 */
#ifndef SPAWND_PLUGIN_ARGS_H
#define SPAWND_PLUGIN_ARGS_H

#include <cjson/cJSON.h>
#include "include/spawnd_target.h"
#include "targets/target.h"

/* The run path in the worker, exposed for the unit tests: converts the
 * canonical argument object of t (from target_validate(); NULL = none) to the
 * opaque struct spawnd_args the plugin reads. 0 or -ENOMEM; *out is freed with
 * plugin_args_free() and points into canonical, which must outlive it. */
int plugin_args_from_json(const struct target *t, const cJSON *canonical, struct spawnd_args **out);
void plugin_args_free(struct spawnd_args *args);

#endif
