/* args — a target's arguments from the command line, typed by its schema.
 *
 * `spawnctl run exit 3` and `spawnctl run exit code=3` both become the
 * request's "args": [3] and {"code": 3}: each word is typed by the argument it
 * lands on (GET /targets/NAME says integer, number, boolean, string or
 * path). A word that does not read as its type is sent as the string it is,
 * so the server's validation names the argument and says what is wrong.
 */
#ifndef SPAWNCTL_ARGS_H
#define SPAWNCTL_ARGS_H

#include <cjson/cJSON.h>

/* words: the operands after the target name; specs: the target's "args"
 * array (may be NULL). `key=value` is a named argument when key is one of the
 * target's argument names; any other word is positional. With no named
 * argument the result is an array; otherwise an object, positional words
 * filling the arguments in order (a variadic one takes the rest). Returns the
 * new JSON (caller frees), or NULL with the reason in why. */
cJSON *args_build(char *const *words, int nwords, const cJSON *specs, char *why, size_t why_len);

/* The target's argument schema from GET /targets/NAME (a copy, caller
 * frees; [] when it declares none), or NULL after saying why. Needs http. */
cJSON *args_target_specs(const char *target);

#endif
