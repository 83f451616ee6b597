/* sync_client — what the shared-object tests share (header only): a request
 * with a bearer token of a caller's choosing, answered whole, and an exec
 * target that prints its SPAWND_TOKEN and SPAWND_URL, then does what its
 * argument says. A struct call is freed with call_free().
 */
#ifndef SPAWND_SYNC_CLIENT_H
#define SPAWND_SYNC_CLIENT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/harness.h"

struct call {
	long status;
	cJSON *json;            /* the body parsed, or NULL */
	char *body;
};

/* A call's status, its error code, and a details entry naming a field. */
#define CHECK_CALL(c, code) \
	CHECK_MSG((c)->status == (code), "expected %d, got %ld: %.300s", (int)(code), (c)->status, (c)->body)
#define CHECK_CODE(c, code, errcode) do { \
		CHECK_CALL(c, code); \
		const cJSON *e_ = cJSON_GetObjectItemCaseSensitive((c)->json, "error"); \
		CHECK_MSG(e_ && jstr(e_, "code") && strcmp(jstr(e_, "code"), (errcode)) == 0, \
			  "expected error.code %s: %.300s", (errcode), (c)->body); \
	} while (0)
#define CHECK_FIELD_OF(c, name) \
	CHECK_MSG(strstr((c)->body, "\"field\":\"" name "\""), "no details entry for %s: %.300s", name, (c)->body)

static inline void call_free(struct call *c)
{
	if (!c)
		return;
	cJSON_Delete(c->json);
	free(c->body);
	free(c);
}

/* METHOD path with Authorization: Bearer token (NULL: none) and a JSON body
 * (NULL: none); waits up to 30 s for the whole answer. Never NULL. */
static inline struct call *call(struct server *srv, const char *method, const char *path, const char *token,
				const char *body)
{
	char auth[200];
	const char *headers[3] = { NULL };
	int n = 0;
	struct call *c = calloc(1, sizeof *c);
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		headers[n++] = auth;
	}
	if (body)
		headers[n++] = "Content-Type: application/json";
	struct live *l = live_request(srv, method, path, headers, body, body ? strlen(body) : 0, 0);
	live_wait_done(l, 30);
	c->status = l->status;
	c->body = strdup(l->body ? l->body : "");
	c->json = cJSON_Parse(c->body);
	live_close(l);
	return c;
}

/* The status of METHOD path without a token (the answer dropped). */
static inline long call_status(struct server *srv, const char *method, const char *path, const char *body)
{
	struct call *c = call(srv, method, path, NULL, body);
	long st = c->status;
	call_free(c);
	return st;
}

/* One number of GET /queues/NAME (-1 when absent). */
static inline long long queue_number(struct server *srv, const char *name, const char *key)
{
	char path[160];
	snprintf(path, sizeof path, "/queues/%s", name);
	struct call *c = call(srv, "GET", path, NULL, NULL);
	long long n = jint(c->json, key, -1);
	call_free(c);
	return n;
}

/* Pumps the open waiters until GET /queues/NAME shows n of key (5 s at most). */
static inline bool queue_number_becomes(struct server *srv, const char *name, const char *key, long long n)
{
	for (double deadline = now_s() + 5; now_s() < deadline; live_pump(0.01))
		if (queue_number(srv, name, key) == n)
			return true;
	return false;
}

/* Starts POST path with a JSON body (NULL: none), answered later: a waiter. */
static inline struct live *live_post(struct server *srv, const char *path, const char *body)
{
	const char *headers[] = { "Content-Type: application/json", NULL };
	return live_request(srv, "POST", path, body ? headers : NULL, body, body ? strlen(body) : 0, 0);
}

/* The JSON of a live response that has ended (caller frees), or NULL. */
static inline cJSON *live_json(const struct live *l)
{
	return l->done && l->body ? cJSON_Parse(l->body) : NULL;
}

/* An exec target, "agent": prints its token and URL on two lines, then runs
 * the shell text it is given (sh -c; the token is in $SPAWND_TOKEN). */
#define AGENT_TARGETS \
	"{\"targets\": [{\"name\": \"agent\", \"description\": \"prints its token, then runs sh -c TEXT\"," \
	" \"program\": \"/bin/sh\", \"argv\": [\"-c\", \"printf '%s\\\\n%s\\\\n' \\\"$SPAWND_TOKEN\\\" " \
	"\\\"$SPAWND_URL\\\"; eval \\\"$1\\\"\", \"agent\", \"{script}\"]," \
	" \"args\": [{\"name\": \"script\", \"type\": \"string\", \"required\": true}]}]}"

/* Waits up to 10 s for process id's stdout to hold its two first lines;
 * copies them into token and url. admin: the token to read it with (or NULL). */
static inline bool agent_credentials(struct server *srv, const char *admin, const char *id, char *token,
				     size_t tcap, char *url, size_t ucap)
{
	char path[128];
	snprintf(path, sizeof path, "/processes/%s", id);
	for (double deadline = now_s() + 10; now_s() < deadline; sleep_s(0.02)) {
		struct call *c = call(srv, "GET", path, admin, NULL);
		const char *out = jstr(c->json, "stdout");
		const char *nl = out ? strchr(out, '\n') : NULL;
		const char *nl2 = nl ? strchr(nl + 1, '\n') : NULL;
		if (nl2) {
			snprintf(token, tcap, "%.*s", (int)(nl - out), out);
			snprintf(url, ucap, "%.*s", (int)(nl2 - nl - 1), nl + 1);
			call_free(c);
			return true;
		}
		call_free(c);
	}
	return false;
}

#endif
