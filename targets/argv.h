/* argv — the command line of an exec target, from its canonical arguments.
 *
 * Built in spawnd, before the fork server is asked (the worker's side of a
 * fork runs no allocator). Pure: reads the target, allocates only the vector
 * it returns.
 */
#ifndef SPAWND_ARGV_H
#define SPAWND_ARGV_H

#include <cjson/cJSON.h>
#include "targets/target.h"

/* Builds the argv of an exec target from its canonical arguments (as made by
 * target_validate()): NULL-terminated, argv[0] = the program, each value one
 * element; a placeholder of an absent optional argument gives no element, and
 * an optional group ([..] in the file) is left out unless every placeholder in
 * it has a value. All or nothing: 0, -EINVAL (not an exec target, or canonical
 * does not fit the target) or -ENOMEM; *argv_out is set only on success (never
 * to a shorter command line) and freed by the caller with target_free_argv(). */
int target_build_argv(const struct target *t, const cJSON *canonical, char ***argv_out);

/* Frees a vector from target_build_argv() or target_build_env(); NULL is fine. */
void target_free_argv(char **argv);

#endif
