/* utf8 — making arbitrary output bytes safe to put in JSON text.
 *
 * Worker output is bytes; JSON strings are UTF-8. utf8_sanitize() copies the
 * valid UTF-8 sequences of its input and replaces every invalid byte with
 * U+FFFD, so cJSON never emits invalid JSON. The caller frees the result.
 */
#ifndef SPAWND_UTF8_H
#define SPAWND_UTF8_H

#include <stddef.h>

/* Returns a NUL-terminated malloc'd copy of buf[0..len) with invalid bytes as
 * U+FFFD (and NUL bytes kept as U+0000 escapes by cJSON later: they are valid
 * UTF-8 but would cut a C string, so they become U+FFFD too). *out_len gets the
 * result's length. NULL on allocation failure. */
char *utf8_sanitize(const char *buf, size_t len, size_t *out_len);

/* Length of the longest prefix of buf[0..len) that does not end inside a
 * multi-byte sequence which could still be completed by later bytes. Used to
 * cut output chunks on character boundaries. */
size_t utf8_boundary(const char *buf, size_t len);

#endif
