#include "server/body.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/utf8.h"

#define MAX_DEPTH 32
#define MAX_DEPTH_TEXT "32"
/* Members of one object or array: far more than any request needs, and it
 * bounds the details a refusal can list. */
#define MAX_MEMBERS 10000
#define MAX_MEMBERS_TEXT "10000"
#define TEXT_RULE_NOUN "UTF-8 text without NUL characters"
#define TEXT_RULE "must be " TEXT_RULE_NOUN

static bool media_type_ok(const char *ct)
{
	if (!ct)
		return true;
	size_t len = strcspn(ct, "; \t");
	return (len == 16 && strncasecmp(ct, "application/json", len) == 0) ||
	       (len == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", len) == 0);
}

/* What is wrong with a parsed body: a message, and the value it is about
 * (NULL: the body as a whole); in_key when it is about that value's key. */
struct problem {
	const char *what;
	const cJSON *at;
	bool in_key;
	bool out_of_memory;
	const char *const *long_arrays;         /* see body_json_long() */
};

static bool found(struct problem *p, const cJSON *at, bool in_key, const char *what)
{
	*p = (struct problem){ .what = what, .at = at, .in_key = in_key, .long_arrays = p->long_arrays };
	return true;
}

static int compare_keys(const void *a, const void *b)
{
	return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* A member of obj (n members) whose key another member has too, or NULL.
 * Sorting makes it n log n: comparing every pair cost 47 s of CPU for one
 * 1 MiB body of 105,000 keys. */
static const cJSON *duplicate_key(const cJSON *obj, size_t n, bool *out_of_memory)
{
	const cJSON *dup = NULL;

	if (n <= 8) {   /* the usual request: no allocation */
		for (const cJSON *a = obj->child; a; a = a->next)
			for (const cJSON *b = a->next; b; b = b->next)
				if (strcmp(a->string, b->string) == 0)
					return a;
		return NULL;
	}
	const cJSON **members = malloc(n * sizeof *members);
	if (!members) {
		*out_of_memory = true;
		return NULL;
	}
	size_t i = 0;
	for (const cJSON *c = obj->child; c; c = c->next)
		members[i++] = c;
	qsort(members, n, sizeof *members, compare_keys);
	for (i = 1; i < n && !dup; i++)
		if (strcmp(members[i - 1]->string, members[i]->string) == 0)
			dup = members[i];
	free(members);
	return dup;
}

/* Finds the first problem in v: too deep, a non-finite number, a string or key
 * that is not UTF-8 (or held a NUL, see mask_nuls()), too many members, a
 * duplicate key. Keys are checked before descending, so only the last step
 * of a problem's field name can be invalid UTF-8. */
static bool find_problem(const cJSON *v, int depth, struct problem *p)
{
	size_t n = 0, max = MAX_MEMBERS;

	/* A top-level array the handler takes long (a pool map's items). */
	for (const char *const *k = p->long_arrays; depth == 1 && k && *k && cJSON_IsArray(v); k++)
		if (v->string && strcmp(v->string, *k) == 0)
			max = BODY_LONG_ARRAY_MAX;
	if (depth > MAX_DEPTH)
		return found(p, NULL, false, "nests deeper than " MAX_DEPTH_TEXT " levels");
	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
		return found(p, v, false, "is a number out of range");
	if (cJSON_IsString(v) && !utf8_valid(v->valuestring, strlen(v->valuestring)))
		return found(p, v, false, TEXT_RULE);
	for (const cJSON *c = v->child; c; c = c->next) {
		if (++n > max)
			return found(p, v, false, max == MAX_MEMBERS ?
				     "has more than " MAX_MEMBERS_TEXT " members (the limit of an object or array)" :
				     "has more than " BODY_LONG_ARRAY_MAX_TEXT " members");
		if (c->string && !utf8_valid(c->string, strlen(c->string)))
			return found(p, c, true, "is a key that is not " TEXT_RULE_NOUN);
	}
	if (cJSON_IsObject(v)) {
		const cJSON *dup = duplicate_key(v, n, &p->out_of_memory);
		if (p->out_of_memory)
			return true;
		if (dup)
			return found(p, dup, false, "is given more than once (duplicate key)");
	}
	for (const cJSON *c = v->child; c; c = c->next)
		if (find_problem(c, depth + 1, p))
			return true;
	return false;
}

/* Writes the field name of target below v ("args[2]", "env.FOO") into
 * buf[used..len); true when target is below v. */
static bool field_of(const cJSON *v, const cJSON *target, char *buf, size_t len, size_t used)
{
	long i = 0;

	for (const cJSON *c = v->child; c; c = c->next, i++) {
		int n = cJSON_IsObject(v) ? snprintf(buf + used, len - used, "%s%s", used ? "." : "", c->string)
					  : snprintf(buf + used, len - used, "[%ld]", i);
		size_t end = n < 0 || (size_t)n >= len - used ? len - 1 : used + (size_t)n;
		if (c == target || (c->child && field_of(c, target, buf, len, end)))
			return true;
		buf[used] = '\0';
	}
	return false;
}

/* cJSON keeps strings as C strings, so a NUL in one (the escape \u0000 or a
 * raw 0 byte) would cut it short without a word: "worker\u0000../x" would run
 * worker. The body is therefore parsed from a copy in which each such NUL is
 * overwritten with 0xFF bytes, which are never UTF-8: find_problem() then
 * refuses the string and names its field. A raw NUL outside a string becomes
 * a syntax error instead of an early end of the text. Returns the copy, or
 * NULL when the body holds no NUL (*failed on allocation failure). */
static char *mask_nuls(const char *s, size_t len, bool *failed)
{
	char *copy = NULL;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		size_t span = 0;
		if (s[i] == '\0')
			span = 1;
		else if (!in_string)
			in_string = s[i] == '"';
		else if (s[i] == '"')
			in_string = false;
		else if (s[i] == '\\' && i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
			span = 6;
		else if (s[i] == '\\')
			i++;    /* skip the escaped character */
		if (!span)
			continue;
		if (!copy) {
			if (!(copy = malloc(len + 1))) {
				*failed = true;
				return NULL;
			}
			memcpy(copy, s, len);
			copy[len] = '\0';
		}
		memset(copy + i, 0xFF, span);
		i += span - 1;
	}
	return copy;
}

static enum MHD_Result reply_problem(struct http_req *r, const cJSON *root, const struct problem *p)
{
	char field[256] = "";

	if (p->out_of_memory)
		return http_reply_error(r, 500, "internal", NULL, "out of memory while checking the request body");
	if (!p->at || p->at == root || !field_of(root, p->at, field, sizeof field, 0))
		return http_reply_error(r, 400, "invalid_json", NULL, "the request body %s", p->what);
	/* A key that is not UTF-8 is named with U+FFFD in place of its bad bytes. */
	char *name = p->in_key ? utf8_sanitize(field, strlen(field), NULL) : NULL;
	const char *shown = name ? name : field;
	cJSON *details = cJSON_CreateArray();
	cJSON_AddItemToArray(details, http_detail(shown, p->what));
	enum MHD_Result res = http_reply_error(r, 400, "invalid_json", details, "%s: %s", shown, p->what);
	free(name);
	return res;
}

/* 411, 415 or 400 for a missing, mistyped or empty body; 0 when it may be parsed. */
static enum MHD_Result check_framing(struct http_req *r, bool *ok)
{
	*ok = false;
	if (!media_type_ok(http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
		return http_reply_error(r, 415, "unsupported_media_type", NULL,
			"send the body as application/json (got %s)", http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE));
	if (!r->body_len) {
		if (!http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH) && !http_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING))
			return http_reply_error(r, 411, "length_required", NULL,
				"send a JSON body with a Content-Length header");
		return http_reply_error(r, 400, "invalid_json", NULL, "the request body is empty: send a JSON object");
	}
	*ok = true;
	return MHD_YES;
}

cJSON *body_json(struct http_req *r, enum MHD_Result *res) { return body_json_long(r, res, NULL); }

cJSON *body_json_long(struct http_req *r, enum MHD_Result *res, const char *const *long_arrays)
{
	bool ok, failed = false;

	*res = check_framing(r, &ok);
	if (!ok)
		return NULL;
	char *masked = mask_nuls(r->body, r->body_len, &failed);
	if (failed) {
		*res = http_reply_error(r, 500, "internal", NULL, "out of memory while reading the request body");
		return NULL;
	}
	const char *text = masked ? masked : r->body, *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(text, r->body_len + 1, &end, 1);
	if (!j) {
		size_t at = end && end >= text ? (size_t)(end - text) : 0;
		free(masked);
		*res = http_reply_error(r, 400, "invalid_json", NULL, "the request body is not valid JSON (near byte %zu)", at);
		return NULL;
	}
	free(masked);
	struct problem p = { .long_arrays = long_arrays };
	if (find_problem(j, 0, &p)) {
		*res = reply_problem(r, j, &p);
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

void body_unknown_keys(const cJSON *obj, const char *const *allowed, cJSON **details)
{
	for (const cJSON *c = obj->child; c; c = c->next) {
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = strcmp(*a, c->string) == 0;
		if (!known) {
			char msg[200];
			snprintf(msg, sizeof msg, "unknown field (known: ");
			for (const char *const *a = allowed; *a; a++)
				snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "%s%s", *a, a[1] ? ", " : ")");
			if (!*details)
				*details = cJSON_CreateArray();
			cJSON_AddItemToArray(*details, http_detail(c->string, msg));
		}
	}
}

/* Line and column (from 1) of byte at in text. */
static void line_column(const char *text, size_t at, int *line, int *column)
{
	*line = 1;
	*column = 1;
	for (size_t i = 0; i < at; i++, (*column)++)
		if (text[i] == '\n') {
			(*line)++;
			*column = 0;
		}
}

cJSON *body_parse_text(const char *text, size_t len, char *why, size_t cap)
{
	bool failed = false;
	char *masked = mask_nuls(text, len, &failed);
	const char *parsed = masked ? masked : text, *end = NULL;
	int line, column;

	if (failed) {
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	cJSON *j = cJSON_ParseWithLengthOpts(parsed, len + 1, &end, 1);
	size_t at = end && end >= parsed ? (size_t)(end - parsed) : 0;
	free(masked);
	if (!j) {
		line_column(text, at < len ? at : len, &line, &column);
		snprintf(why, cap, "not valid JSON at line %d, column %d", line, column);
		return NULL;
	}
	struct problem p = { 0 };
	if (!find_problem(j, 0, &p))
		return j;
	char field[256] = "";
	if (p.out_of_memory)
		snprintf(why, cap, "out of memory");
	else if (!p.at || p.at == j || !field_of(j, p.at, field, sizeof field, 0))
		snprintf(why, cap, "%s", p.what);
	else
		snprintf(why, cap, "%s: %s", field, p.what);
	cJSON_Delete(j);
	return NULL;
}
