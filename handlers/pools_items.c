/* pools_items — see pools.h: a map's body read without a cJSON node per item
 * when its items are the usual ones, bare integers.
 *
 * Why: cJSON_Parse of 100,000 integers (a node, a strtod and a localeconv()
 * each) took 20 ms, half of what Python's whole Pool.map of them takes, and
 * every later step walked those nodes again. So the "items" array's text is
 * read here straight into integers and cut out of the body; the rest of the
 * body (with "items": []) goes through body_json_long() as any body does, so
 * every other member is checked the usual way (a duplicate "items" too).
 *
 * Only what is certainly an array of JSON integers of at most 15 digits
 * (safe integers) is taken: anything else (a fraction, an exponent, -0, a
 * string, whitespace oddities included) makes pools_items_slice() decline,
 * and the caller parses the whole body as before, which gives its usual
 * answers and errors. The scan of the top-level object only tracks strings
 * and nesting to find the top-level "items" key; it never decides whether
 * the body is valid JSON (the parse of the rest does).
 */
#define _GNU_SOURCE
#include "handlers/pools.h"

#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Past the string starting at p (its opening quote), or end. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return end;
}

/* The '[' of the top-level member "items" of the object in [p, end), or NULL. */
static const char *find_items(const char *p, const char *end)
{
	int depth = 0;
	bool key_next = false;          /* at depth 1, the next string is a key */
	for (p = skip_ws(p, end); p < end; p++) {
		char c = *p;
		if (c == '"') {
			const char *after = skip_string(p, end), *colon = skip_ws(after, end);
			bool key = depth == 1 && key_next;
			key_next = false;
			if (key && after - p == 7 && !memcmp(p, "\"items\"", 7) && colon < end && *colon == ':') {
				const char *v = skip_ws(colon + 1, end);
				return v < end && *v == '[' ? v : NULL;
			}
			p = after - 1;
		} else if (c == '{' || c == '[') {
			depth++;
			key_next = c == '{' && depth == 1;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',') {
			key_next = depth == 1;
		} else if (depth == 0 && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return NULL;    /* not an object */
		}
	}
	return NULL;
}

/* Reads the integer array at p ('['): its values into *ints (*n), and the
 * position of its ']' in *close. false: not only integers, or none. */
static bool read_ints(const char *p, const char *end, int max, int64_t **ints, int *n, const char **close)
{
	size_t cap = 1024;
	int64_t *v = malloc(cap * sizeof *v);
	int count = 0;
	for (p = skip_ws(p + 1, end); v && p < end; p = skip_ws(p + 1, end)) {
		bool neg = *p == '-';
		const char *d = p + neg, *e = d;
		int64_t x = 0;
		while (e < end && *e >= '0' && *e <= '9' && e - d < 16)
			x = x * 10 + (*e++ - '0');
		if (e == d || e - d > 15 || (*d == '0' && (e - d > 1 || neg)) || count >= max)
			break;
		if ((size_t)count == cap) {
			int64_t *grown = realloc(v, (cap *= 2) * sizeof *v);
			if (!grown)
				break;
			v = grown;
		}
		v[count++] = neg ? -x : x;
		p = skip_ws(e, end);
		if (p < end && *p == ']') {
			*ints = v;
			*n = count;
			*close = p;
			return true;
		}
		if (p >= end || *p != ',')
			break;
	}
	free(v);
	return false;
}

bool pools_items_slice(const char *body, size_t len, int max, struct pools_items *out)
{
	const char *end = body + len, *open = find_items(body, end), *close;
	if (!open || !read_ints(open, end, max, &out->ints, &out->n, &close))
		return false;
	size_t head = (size_t)(open + 1 - body), tail = (size_t)(end - close);
	out->rest = malloc(head + tail + 1);
	if (!out->rest) {
		free(out->ints);
		out->ints = NULL;
		return false;
	}
	memcpy(out->rest, body, head);                  /* ... "items": [ */
	memcpy(out->rest + head, close, tail);          /* ] ... */
	out->rest_len = head + tail;
	out->rest[out->rest_len] = '\0';
	return true;
}
