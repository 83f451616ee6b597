/* utf8 — see utf8.h. Validation follows RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF. Each maximal invalid byte becomes one U+FFFD. */
#include "lib/utf8.h"

#include <stdlib.h>
#include <string.h>

/* Length of the valid sequence starting at s (1-4), or 0 if s[0] starts none. */
static size_t sequence_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0) lo = 0xA0;       /* overlong */
		if (c == 0xED) hi = 0x9F;       /* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0) lo = 0x90;       /* overlong */
		if (c == 0xF4) hi = 0x8F;       /* above U+10FFFF */
	} else
		return 0;                       /* continuation byte, C0, C1, F5-FF */
	if (avail < need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return need;
}

char *utf8_sanitize(const char *buf, size_t len, size_t *out_len)
{
	const unsigned char *s = (const unsigned char *)buf;
	/* Worst case every byte becomes 3 bytes of U+FFFD. */
	char *out = malloc(len * 3 + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = sequence_len(s + i, len - i);
		if (n) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	if (out_len)
		*out_len = o;
	return out;
}

bool utf8_valid(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;

	for (size_t i = 0; i < len;) {
		if (s[i] < 0x80) {              /* the common case, one byte at a time */
			i++;
			continue;
		}
		size_t n = sequence_len(s + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

size_t utf8_boundary(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	/* Look back at most 3 bytes for the lead byte of a truncated sequence. */
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		unsigned char c = s[len - back];
		if (c < 0x80)
			return len;             /* ASCII: nothing is cut */
		if (c >= 0xC0) {                /* a lead byte: is its sequence complete? */
			size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
			return need > back ? len - back : len;
		}
	}
	return len;
}

char *utf8_json_string(const char *buf, size_t len)
{
	size_t n;
	char *text = utf8_sanitize(buf, len, &n);
	if (!text)
		return NULL;
	/* Worst case every byte becomes \u00XX (6 bytes), plus the quotes. */
	char *out = malloc(n * 6 + 3), *o = out;
	if (!out) {
		free(text);
		return NULL;
	}
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)text[i];
		const char *esc = ch == '"' ? "\\\"" : ch == '\\' ? "\\\\" : ch == '\n' ? "\\n" :
				  ch == '\r' ? "\\r" : ch == '\t' ? "\\t" : NULL;
		if (esc) {
			memcpy(o, esc, 2);
			o += 2;
		} else if (ch < 0x20 || ch == 0x7f) {
			static const char hex[] = "0123456789abcdef";
			memcpy(o, "\\u00", 4);
			o[4] = hex[ch >> 4];
			o[5] = hex[ch & 15];
			o += 6;
		} else
			*o++ = (char)ch;
	}
	*o++ = '"';
	*o = '\0';
	free(text);
	return out;
}
