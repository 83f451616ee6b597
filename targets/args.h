/* args — validation of a request's arguments against a target's specs.
 *
 * Pure: reads the target, allocates only what it returns. Safe from any
 * thread while the target is valid (targets/registry.h).
 */
#ifndef SPAWND_ARGS_H
#define SPAWND_ARGS_H

#include <cjson/cJSON.h>
#include "targets/target.h"

/* Validates a request's "args" (a JSON array of positional values, an object of
 * named values, or NULL/absent) against t's argument specs.
 * On success returns 0 and stores the canonical argument object in *canonical
 * (caller frees). On failure returns -EINVAL and stores in *details a JSON
 * array with one {"field": "args.<name>" | "args[<i>]" | "args", "message": "..."}
 * per bad argument (caller frees); nothing is stored in *canonical; or returns
 * -ENOMEM and stores nothing.
 * Rules: integers must be integral JSON numbers within the int64 range (and the
 * spec's min/max); numbers finite; booleans JSON true/false; strings JSON strings
 * (enum, full-match pattern, max_length); paths as ARG_PATH says, the
 * canonical value being the resolved path; unknown names, too many positional
 * values and missing required args are errors.
 * Positional values map to the specs in order, a variadic last spec taking the
 * rest; in the object form a variadic arg's value is an array. A null value is
 * the same as an absent one (so positional [null, 5] skips an optional first
 * arg). A variadic arg with no values is absent. For exec targets, a value whose
 * text would start with '-' is refused unless its spec sets allow_dash.
 * Fields: "args[<i>]" for positional values, "args.<name>" for named or
 * missing ones, "args.<name>[<j>]" for elements of a named variadic array. */
int target_validate(const struct target *t, const cJSON *args, cJSON **canonical, cJSON **details);

#endif
