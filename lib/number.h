/* number — JSON numbers (IEEE doubles, as cJSON reads them) turned into
 * integers and back into text without undefined behaviour or lost digits.
 *
 * Casting a double outside the int64 range to an integer is undefined in C (a
 * 9.3e15 s timeout once became a deadline in the past). Every such conversion
 * goes through number_int64() or number_ms() first. The module lives in
 * targets/ because the fork server, which links only targets/ and a few
 * engine files, reads arguments too.
 *
 * An integer beyond +-(2^53 - 1) cannot be told from its neighbours once read
 * into a double (9007199254740993 reads as ...992), so integer arguments are
 * limited to NUMBER_SAFE_MAX, JavaScript's Number.MAX_SAFE_INTEGER.
 */
#ifndef SPAWND_NUMBER_H
#define SPAWND_NUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#define NUMBER_SAFE_MAX 9007199254740991.0       /* 2^53 - 1 */
#define NUMBER_SAFE_MAX_TEXT "9007199254740991"
/* Longest duration spawnd accepts anywhere (timeouts, ?wait=, ?grace=): about 31 years. */
#define NUMBER_SECONDS_MAX 1e9
#define NUMBER_SECONDS_MAX_TEXT "1000000000"

/* v in decimal at buf, NUL-terminated (NUMBER_INT64_TEXT_MAX + 1 bytes at
 * most): its length. */
#define NUMBER_INT64_TEXT_MAX 20                /* "-9223372036854775808" */
size_t number_int64_text(char *buf, int64_t v);

/* True when d is an integer within int64 (NaN and infinities are not); then
 * *out gets it exactly. */
static inline bool number_int64(double d, int64_t *out)
{
	/* -2^63 is a double; 2^63 is the first one above INT64_MAX. */
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
		return false;
	int64_t i = (int64_t)d;
	if ((double)i != d)
		return false;
	*out = i;
	return true;
}

/* True when d is an integer within +-NUMBER_SAFE_MAX, the integers a double holds exactly. */
static inline bool number_is_safe_integer(double d)
{
	int64_t i;
	return number_int64(d, &i) && i >= -(int64_t)NUMBER_SAFE_MAX && i <= (int64_t)NUMBER_SAFE_MAX;
}

/* Seconds as milliseconds, rounded to nearest, saturating: NaN and negatives
 * give 0, anything beyond NUMBER_SECONDS_MAX gives its value. Callers check
 * their inputs; this keeps a missed check from being undefined behaviour. */
static inline int64_t number_ms(double seconds)
{
	if (!(seconds > 0))
		return 0;
	if (seconds > NUMBER_SECONDS_MAX)
		seconds = NUMBER_SECONDS_MAX;
	return (int64_t)(seconds * 1000.0 + 0.5);
}

/* Writes d as the shortest JSON text that reads back as exactly d: integers
 * as digits ("4503599627370497", not cJSON's 4.5035996273705e+15), others in
 * %.15g to %.17g form. buf needs 32 bytes. d must be finite. */
void number_format(char *buf, size_t len, double d);

/* Like cJSON_PrintUnformatted(), but every number in number_format()'s form,
 * so that printed and re-parsed arguments keep their value. Caller frees.
 * NULL on allocation failure. */
char *number_print_json(const cJSON *item);

#endif
