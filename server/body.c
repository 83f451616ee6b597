#include "server/body.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 32

static bool media_type_ok(const char *ct)
{
	if (!ct)
		return true;
	size_t len = strcspn(ct, "; \t");
	return (len == 16 && strncasecmp(ct, "application/json", len) == 0) ||
	       (len == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", len) == 0);
}

/* First problem in v (duplicate key, non-finite number, too deep), or NULL. */
static const char *check_value(const cJSON *v, int depth, char *where, size_t wlen)
{
	if (depth > MAX_DEPTH)
		return "nesting is deeper than 32 levels";
	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
		return "a number is out of range";
	if (cJSON_IsObject(v))
		for (const cJSON *a = v->child; a; a = a->next)
			for (const cJSON *b = a->next; b; b = b->next)
				if (strcmp(a->string, b->string) == 0) {
					snprintf(where, wlen, "%s", a->string);
					return "duplicate key";
				}
	for (const cJSON *c = v->child; c; c = c->next) {
		const char *e = check_value(c, depth + 1, where, wlen);
		if (e)
			return e;
	}
	return NULL;
}

/* cJSON decodes "\u0000" into a NUL that silently cuts the string short
 * ("worker\u0000x" would become "worker"), so such text is refused outright. */
static bool has_escaped_nul(const char *s, size_t len)
{
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		if (!in_string) {
			in_string = s[i] == '"';
			continue;
		}
		if (s[i] == '"')
			in_string = false;
		else if (s[i] == '\\') {
			if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
				return true;
			i++;    /* skip the escaped character */
		}
	}
	return false;
}

cJSON *body_json(struct http_req *r, enum MHD_Result *res)
{
	if (!media_type_ok(http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		*res = http_reply_error(r, 415, "unsupported_media_type", NULL,
			"send the body as application/json (got %s)", http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE));
		return NULL;
	}
	if (!r->body_len) {
		if (!http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH) && !http_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING))
			*res = http_reply_error(r, 411, "length_required", NULL,
				"send a JSON body with a Content-Length header");
		else
			*res = http_reply_error(r, 400, "invalid_json", NULL, "the request body is empty: send a JSON object");
		return NULL;
	}
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(r->body, r->body_len + 1, &end, 1);
	if (!j) {
		size_t at = end && end >= r->body ? (size_t)(end - r->body) : 0;
		*res = http_reply_error(r, 400, "invalid_json", NULL, "the request body is not valid JSON (near byte %zu)", at);
		return NULL;
	}
	if (has_escaped_nul(r->body, r->body_len)) {
		cJSON_Delete(j);
		*res = http_reply_error(r, 400, "invalid_json", NULL,
			"the request body holds a NUL character (\\u0000) in a string, which spawnd does not accept");
		return NULL;
	}
	char where[128] = "";
	const char *problem = check_value(j, 0, where, sizeof where);
	if (problem) {
		cJSON_Delete(j);
		*res = http_reply_error(r, 400, "invalid_json", NULL, "the request body is not acceptable JSON: %s%s%s",
					problem, where[0] ? " " : "", where);
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
