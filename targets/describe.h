/* describe — the JSON description of targets and of the registry.
 * The cJSON values returned belong to the caller (cJSON_Delete()).
 */
#ifndef SPAWND_DESCRIBE_H
#define SPAWND_DESCRIBE_H

#include <cjson/cJSON.h>
#include "targets/target.h"

/* {"name","kind","description","args":[{"name","type","required",...}],"timeout","max_running",
 *  "source"} where source is "builtin", "plugin:<file name>" or "file:<targets file path>"
 *  (absent for a non-builtin target that does not say). NULL on ENOMEM. */
cJSON *target_to_json(const struct target *t);

/* {"targets": [...]} in registry order (builtins, plugins, then exec targets). */
cJSON *targets_list_json(void);

#endif
