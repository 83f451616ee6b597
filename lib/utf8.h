/* utf8 — making arbitrary output bytes safe to put in JSON text.
 *
 * Worker output is bytes; JSON strings are UTF-8. utf8_sanitize() copies the
 * valid UTF-8 sequences of its input and replaces every invalid byte with
 * U+FFFD, so cJSON never emits invalid JSON. The caller frees the result.
 */
#ifndef SPAWND_UTF8_H
#define SPAWND_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Returns a NUL-terminated malloc'd copy of buf[0..len) with invalid bytes as
 * U+FFFD. NUL bytes are valid UTF-8 and are kept, so the result may hold NULs:
 * *out_len gets its length. NULL on allocation failure. */
char *utf8_sanitize(const char *buf, size_t len, size_t *out_len);

/* buf[0..len) as a JSON string literal, quotes included: invalid bytes as
 * U+FFFD, and every control character (NUL too, which cJSON cannot hold in a
 * C string) escaped. For cJSON_AddRawToObject(). NULL on allocation failure. */
char *utf8_json_string(const char *buf, size_t len);

/* True when buf[0..len) is all valid UTF-8 (NUL bytes included). */
bool utf8_valid(const char *buf, size_t len);

/* Length of the longest prefix of buf[0..len) that does not end inside a
 * multi-byte sequence which could still be completed by later bytes. Used to
 * cut output chunks on character boundaries. */
size_t utf8_boundary(const char *buf, size_t len);

#endif
