/* pattern — the `pattern` constraint of string arguments: a POSIX extended
 * regular expression that must match the WHOLE value. Used by argument
 * validation (targets/args.h) and by both loaders, which check at load time
 * that every enum value passes its own pattern. Pure functions, no state.
 */
#ifndef SPAWND_PATTERN_H
#define SPAWND_PATTERN_H

#include <regex.h>
#include <stdbool.h>

/* True when the whole of s matches the compiled ERE re. */
bool pattern_full_match(const regex_t *re, const char *s);

/* 1 when the whole of s matches the ERE pattern, 0 when not, -1 when the
 * pattern does not compile. */
int pattern_matches(const char *pattern, const char *s);

#endif
