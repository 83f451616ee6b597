/* pattern — whole-value matching of an operator's or a plugin's ERE.
 *
 * Wrapping the pattern as "^(" pattern ")$" is not safe with glibc, where an
 * unmatched ')' is an ordinary character: "a)|b" would become "^(a)|b)$",
 * which matches "abc". So the pattern is compiled as written and the
 * leftmost-longest match (POSIX) must span the whole value.
 */
#include "targets/pattern.h"

#include <string.h>

bool pattern_full_match(const regex_t *re, const char *s)
{
	regmatch_t m;

	return regexec(re, s, 1, &m, 0) == 0 && m.rm_so == 0 && (size_t)m.rm_eo == strlen(s);
}

int pattern_matches(const char *pattern, const char *s)
{
	regex_t re;
	int rc;

	if (regcomp(&re, pattern, REG_EXTENDED) != 0)
		return -1;
	rc = pattern_full_match(&re, s);
	regfree(&re);
	return rc;
}
