/* body — a request's JSON body, strictly: the media type (application/json,
 * curl's default form type, or none), framing (411 when a body is required but
 * unframed), valid JSON with nothing after it, no duplicate keys, finite
 * numbers, bounded depth (32) and breadth (10000 members per object or
 * array), strings and keys of UTF-8 without NUL (cJSON would cut a string at
 * a NUL).
 * On any failure it replies with the error itself, naming the field
 * ("args[2]", "env.FOO") when the problem is inside the body. */
#ifndef SPAWND_BODY_H
#define SPAWND_BODY_H

#include "server/http.h"

/* Returns the parsed body (caller frees) or NULL after replying; *res gets
 * the result to return from the handler in that case. */
cJSON *body_json(struct http_req *r, enum MHD_Result *res);
/* The same, but the top-level members named in long_arrays (NULL-terminated),
 * when arrays, may have up to BODY_LONG_ARRAY_MAX elements (a pool map's
 * items), where every other object or array may have 10000 members. */
#define BODY_LONG_ARRAY_MAX 1000000
#define BODY_LONG_ARRAY_MAX_TEXT "1000000"
cJSON *body_json_long(struct http_req *r, enum MHD_Result *res, const char *const *long_arrays);

/* The same strict rules for a JSON document that is not a request (the
 * --config file): text is len bytes followed by a NUL. Returns the tree
 * (caller frees) or NULL with why set: "not valid JSON at line L, column C",
 * "FIELD: WHAT" for a problem inside (a duplicate key, ...), or "WHAT". */
cJSON *body_parse_text(const char *text, size_t len, char *why, size_t cap);

/* Adds one details entry for each key of obj not in allowed (NULL
 * terminated) to *details (created on demand). */
void body_unknown_keys(const cJSON *obj, const char *const *allowed, cJSON **details);

#endif
