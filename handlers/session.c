/* session — see session.h. The token is read from the body, checked against
 * the token set, and forgotten: the cookie holds a random id, never the
 * token, and the answer never echoes it. With tokens off there is nothing to
 * log in to: POST and GET say so ("tokens": false, role admin) and set no
 * cookie, so the dashboard works on loopback without a login. */
#define _GNU_SOURCE
#include "handlers/session.h"

#include <stdlib.h>
#include <string.h>

#include "lib/ts.h"
#include "server/auth.h"
#include "server/body.h"
#include "server/session.h"

static const char *role_name(int role)
{
	return role == AUTH_ROLE_ADMIN ? "admin" : role == AUTH_ROLE_READ ? "read" : NULL;
}

static cJSON *describe(int role, int64_t expires_ms)
{
	char ts[TS_RFC3339_LEN];
	cJSON *j = cJSON_CreateObject();
	const char *name = role_name(role);
	if (name)
		cJSON_AddStringToObject(j, "role", name);
	else
		cJSON_AddNullToObject(j, "role");
	cJSON_AddBoolToObject(j, "tokens", auth_enabled());
	if (expires_ms) {
		ts_format(expires_ms, ts);
		cJSON_AddStringToObject(j, "expires_at", ts);
	} else {
		cJSON_AddNullToObject(j, "expires_at");
	}
	return j;
}

/* The body's token: a string, or NULL after replying (*res). */
static char *token_of(struct http_req *r, enum MHD_Result *res)
{
	static const char *const known[] = { "token", NULL };
	cJSON *body = body_json(r, res), *details = NULL;
	if (!body)
		return NULL;
	const cJSON *t = cJSON_IsObject(body) ? cJSON_GetObjectItemCaseSensitive(body, "token") : NULL;
	if (cJSON_IsObject(body))
		body_unknown_keys(body, known, &details);
	bool no_token = !cJSON_IsString(t) || !*t->valuestring;
	if (no_token || details) {
		cJSON_Delete(body);
		if (!details)
			details = cJSON_CreateArray();
		if (no_token)
			cJSON_AddItemToArray(details, http_detail("token", "must be the token, a non-empty string"));
		*res = http_reply_error(r, 400, "invalid_argument", details, "the body must be {\"token\": \"...\"}");
		return NULL;
	}
	char *token = strdup(t->valuestring);
	explicit_bzero(t->valuestring, strlen(t->valuestring));
	cJSON_Delete(body);
	if (!token)
		*res = http_reply_error(r, 500, "internal", NULL, "out of memory");
	return token;
}

enum MHD_Result session_post(struct http_req *r)
{
	uint8_t digest[32];
	char id[SESSION_ID_HEX + 1], cookie[256];
	int64_t expires;
	enum MHD_Result res;

	if (!auth_enabled())
		return http_reply_json(r, 200, describe(AUTH_ROLE_ADMIN, 0));
	char *token = token_of(r, &res);
	if (!token)
		return res;
	int role = auth_token_role(token, digest);
	explicit_bzero(token, strlen(token));
	free(token);
	if (role == AUTH_ROLE_NONE) {
		http_set_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"spawnd\", error=\"invalid_token\"");
		return http_reply_error(r, 401, "unauthorized", NULL, "the token is not valid");
	}
	if (session_create(digest, id, &expires) < 0)
		return http_reply_error(r, 500, "internal", NULL, "no randomness for a session id");
	session_cookie(id, cookie, sizeof cookie);
	explicit_bzero(id, sizeof id);
	http_set_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
	explicit_bzero(cookie, sizeof cookie);
	http_set_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return http_reply_json(r, 200, describe(role, expires));
}

enum MHD_Result session_get(struct http_req *r)
{
	uint8_t digest[32];
	int64_t expires = 0;
	if (auth_enabled() && !http_header(r, MHD_HTTP_HEADER_AUTHORIZATION))
		session_lookup(r, digest, &expires);
	return http_reply_json(r, 200, describe(auth_request_role(r), expires));
}

enum MHD_Result session_delete(struct http_req *r)
{
	char cookie[128];
	session_remove(r);
	session_cookie(NULL, cookie, sizeof cookie);
	http_set_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
	return http_reply_buffer(r, 204, "text/plain", "", 0, true);
}
