/* namespaces — see namespaces.h. The keys' routes and the waits of
 * GET /namespaces/{name} are the namespace kind's operations
 * (objects/namespace.h) run through objects_run(), with the request's
 * headers (If-Match, If-None-Match) handed over in the body and the answer's
 * version sent back as its ETag.
 *
 * A follow stream (server/stream.h) starts with a snapshot of the values,
 * then reads the changes one by one ("change" after its last version); when
 * it has caught up it arms an objects waiter ("wait" above that version)
 * until the next heartbeat, whose callback wakes the stream. The waiter is
 * released (disarmed) before it is armed again and when the stream ends.
 */
#define _GNU_SOURCE
#include "handlers/namespaces.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/objects.h"
#include "lib/container.h"
#include "objects/objects.h"
#include "server/body.h"
#include "server/stream.h"
#include "server/worker_auth.h"
#include "targets/registry.h"

#define FOLDER "namespaces"

static void caller_of(struct http_req *r, struct obj_owner *out)
{
	struct caller who;
	worker_auth_caller(r, &who);
	out->worker = who.worker;
	snprintf(out->id, sizeof out->id, "%s", who.id);
}

/* ETag: the answer's "version" (a key's, or the namespace's). */
static void set_etag(struct http_req *r, const cJSON *result)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(result, "version");
	char tag[32];
	if (!cJSON_IsNumber(v))
		return;
	snprintf(tag, sizeof tag, "\"%.0f\"", v->valuedouble);
	http_set_header(r, MHD_HTTP_HEADER_ETAG, tag);
}

static bool names_ok(struct http_req *r, bool with_key, enum MHD_Result *res)
{
	if (!target_name_valid(r->params[0])) {
		*res = http_reply_invalid(r, "name", "a name is 1 to 128 characters of A-Z a-z 0-9 _ . - (as a target's)");
		return false;
	}
	if (with_key && !target_name_valid(r->params[1])) {
		*res = http_reply_invalid(r, "key", "a key is 1 to 128 characters of A-Z a-z 0-9 _ . - (as a target's)");
		return false;
	}
	return true;
}

/* {"key", "if_match"?, "if_none_match"?} of a key request. */
static cJSON *key_body(struct http_req *r)
{
	const char *match = http_header(r, MHD_HTTP_HEADER_IF_MATCH);
	const char *none = http_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "key", r->params[1]);
	if (match)
		cJSON_AddStringToObject(body, "if_match", match);
	if (none)
		cJSON_AddStringToObject(body, "if_none_match", none);
	return body;
}

static enum MHD_Result key_op(struct http_req *r, const char *op, cJSON *value)
{
	enum MHD_Result res;
	if (!names_ok(r, true, &res)) {
		cJSON_Delete(value);
		return res;
	}
	cJSON *body = key_body(r);
	if (value)
		cJSON_AddItemToObject(body, "value", value);
	return objects_run(r, FOLDER, r->params[0], op, body, 0, -1, set_etag);
}

enum MHD_Result namespaces_key_get(struct http_req *r) { return key_op(r, "key_get", NULL); }
enum MHD_Result namespaces_key_delete(struct http_req *r) { return key_op(r, "key_delete", NULL); }

enum MHD_Result namespaces_key_put(struct http_req *r)
{
	enum MHD_Result res;
	if (r->body_len == 0)
		return http_reply_invalid(r, "body", "the body is the key's JSON value");
	cJSON *value = body_json(r, &res);
	if (!value)
		return res;
	return key_op(r, "key_put", value);
}

/* ---- follow=true ------------------------------------------------------------ */

static double jnum_version(const cJSON *j)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : 0;
}

struct ns_follow {
	struct stream s;
	struct obj_waiter waiter;
	struct obj_owner caller;
	char name[OBJ_NAME_MAX];
	uint64_t after;                 /* the version of the last line sent */
	bool started, ended;
};

static struct ns_follow *follow_of(struct stream *s) { return container_of(s, struct ns_follow, s); }

/* One operation of the followed namespace, answered at once: its result, or
 * NULL (the namespace is gone: the stream ends). */
static cJSON *follow_call(struct ns_follow *f, const char *op, const char *field, struct obj_waiter *w,
			  double timeout_s, int *rc)
{
	cJSON *body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, field, (double)f->after);
	struct obj_call c = { .caller = &f->caller, .body = body, .timeout_s = timeout_s, .waiter = w,
			      .query_lease_s = -1 };
	*rc = objects_call(FOLDER, f->name, op, &c);
	cJSON_Delete(body);
	if (*rc < 0)
		f->ended = true;
	return c.result;
}

static bool follow_next(struct stream *s)
{
	struct ns_follow *f = follow_of(s);
	int rc;
	if (!f->started) {
		struct obj_call c = { .caller = &f->caller };
		if (objects_describe(FOLDER, f->name, &c) < 0) {
			f->ended = true;
			return false;
		}
		f->started = true;
		f->after = (uint64_t)jnum_version(c.result);
		cJSON_DeleteItemFromObject(c.result, "waiters");
		cJSON_AddStringToObject(c.result, "event", "snapshot");
		stream_emit(s, c.result, "snapshot", NULL);
		return true;
	}
	cJSON *ch = follow_call(f, "change", "after", NULL, 0, &rc);
	if (!ch || cJSON_HasObjectItem(ch, "caught_up")) {
		cJSON_Delete(ch);
		return false;
	}
	char id[32];
	f->after = (uint64_t)jnum_version(ch);
	snprintf(id, sizeof id, "%" PRIu64, f->after);
	bool resync = cJSON_HasObjectItem(ch, "resync");
	if (resync) {
		cJSON_DeleteItemFromObject(ch, "resync");
		cJSON_DeleteItemFromObject(ch, "changed");
	}
	cJSON_AddStringToObject(ch, "event", resync ? "snapshot" : "change");
	stream_emit(s, ch, resync ? "snapshot" : "change", id);
	return true;
}

static bool follow_finished(struct stream *s) { return follow_of(s)->ended; }

static void follow_fired(struct obj_waiter *w)
{
	stream_wake(&container_of(w, struct ns_follow, waiter)->s);
}

static int follow_wait(struct stream *s, double timeout_s)
{
	struct ns_follow *f = follow_of(s);
	int rc;
	objects_waiter_release(&f->waiter);
	objects_waiter_init(&f->waiter, NULL, follow_fired);
	cJSON *answer = follow_call(f, "wait", "wait_version", &f->waiter, timeout_s > 0 ? timeout_s : 0, &rc);
	cJSON_Delete(answer);
	return rc < 0 ? -1 : rc == 1 ? 0 : 1;
}

static void follow_cancel(struct stream *s) { objects_waiter_release(&follow_of(s)->waiter); }
static void follow_release(struct stream *s) { free(follow_of(s)); }

static enum MHD_Result follow(struct http_req *r)
{
	const char *accept = http_header(r, MHD_HTTP_HEADER_ACCEPT);
	bool sse = accept && strstr(accept, "text/event-stream");
	struct obj_call c = { 0 };
	struct obj_owner who;
	caller_of(r, &who);
	c.caller = &who;
	if (objects_describe(FOLDER, r->params[0], &c) < 0)       /* 404 before the stream starts */
		return http_reply_error(r, 404, "not_found", NULL, "%s", c.message);
	cJSON_Delete(c.result);
	struct ns_follow *f = calloc(1, sizeof *f);
	if (!f)
		return MHD_NO;
	f->caller = who;
	snprintf(f->name, sizeof f->name, "%s", r->params[0]);
	objects_waiter_init(&f->waiter, NULL, follow_fired);
	stream_init(&f->s, r, true, sse);
	f->s.next = follow_next;
	f->s.finished = follow_finished;
	f->s.wait = follow_wait;
	f->s.cancel = follow_cancel;
	f->s.release = follow_release;
	struct MHD_Response *resp = stream_response(&f->s, sse ? "text/event-stream" : "application/x-ndjson");
	if (!resp)
		return MHD_NO;
	return http_reply_response(r, 200, resp);
}

/* ---- GET /namespaces/{name} ------------------------------------------------- */

enum MHD_Result namespaces_get(struct http_req *r)
{
	enum MHD_Result res;
	const char *follow_q = http_query(r, "follow"), *wait_q = http_query(r, "wait_version");
	uint64_t version;
	double timeout_s;
	if (!names_ok(r, false, &res))
		return res;
	if (follow_q && strcmp(follow_q, "true") != 0 && strcmp(follow_q, "false") != 0)
		return http_reply_invalid(r, "follow", "must be true or false");
	if (follow_q && strcmp(follow_q, "true") == 0)
		return follow(r);
	if (wait_q) {
		if (!http_parse_u64(wait_q, &version) || (double)version > 9007199254740991.0)
			return http_reply_invalid(r, "wait_version", "must be a version (an integer >= 0)");
		if (!objects_read_timeout(r, &timeout_s, &res))
			return res;
		cJSON *body = cJSON_CreateObject();
		cJSON_AddNumberToObject(body, "wait_version", (double)version);
		return objects_run(r, FOLDER, r->params[0], "wait", body, timeout_s, -1, set_etag);
	}
	struct obj_owner who;
	caller_of(r, &who);
	struct obj_call c = { .caller = &who };
	if (objects_describe(FOLDER, r->params[0], &c) < 0)
		return http_reply_error(r, 404, "not_found", NULL, "%s", c.message);
	set_etag(r, c.result);
	return http_reply_json(r, 200, c.result);
}
