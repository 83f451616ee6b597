/* pools_jobs — see pools.h: the jobs of a pool. map and apply check every
 * item against the pool's target before anything is queued (so a bad item
 * is a 400 naming it, never a failed task), then answer at once (202) or,
 * with ?wait=, once the job has ended (200) or the wait has passed (202).
 * The results stream follows a job (server/stream.h); its position, sent as
 * each SSE event's id, is the count of results sent, so Last-Event-ID (or
 * ?after=) resumes exactly after the last one seen. */
#define _GNU_SOURCE
#include "handlers/pools.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/container.h"
#include "lib/number.h"
#include "lib/utf8.h"
#include "server/body.h"
#include "server/stream.h"
#include "targets/args.h"

#define DETAILS_MAX 20          /* bad items named in one reply */
#define RETRIES_MAX 100

static enum MHD_Result no_pool(struct http_req *r, const char *id)
{
	return http_reply_error(r, 404, "not_found", NULL, "no pool with id %s", id);
}

static enum MHD_Result no_job(struct http_req *r, const char *pool, const char *job)
{
	return http_reply_error(r, 404, "not_found", NULL, "pool %s has no job %s", pool, job);
}

/* Item i's args checked: its canonical args, or NULL with details added. */
static cJSON *check_item(const struct target *t, const cJSON *item, int i, const char *what, cJSON *details)
{
	cJSON *canonical = NULL, *more = NULL, *wrapped = NULL;
	if (item && !cJSON_IsArray(item) && !cJSON_IsObject(item) && !cJSON_IsNull(item)) {
		wrapped = cJSON_CreateArray();  /* a bare value: the one argument */
		cJSON_AddItemToArray(wrapped, cJSON_Duplicate(item, true));
		item = wrapped;
	}
	if (target_validate(t, !item || cJSON_IsNull(item) ? NULL : item, &canonical, &more) < 0) {
		for (cJSON *e = more ? more->child : NULL; e && cJSON_GetArraySize(details) < DETAILS_MAX; e = e->next) {
			char field[160];
			const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "field"));
			const char *rest = f && !strncmp(f, "args", 4) ? f + 4 : "";
			if (wrapped && !strncmp(rest, "[0]", 3))
				rest += 3;      /* the bare value itself */
			if (i >= 0)
				snprintf(field, sizeof field, "%s[%d]%s", what, i, rest);
			else
				snprintf(field, sizeof field, "%s", f ? f : what);
			cJSON_AddItemToArray(details, http_detail(field,
				cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"))));
		}
		if (!more)
			cJSON_AddItemToArray(details, http_detail(what, "out of memory"));
		cJSON_Delete(more);
	}
	cJSON_Delete(wrapped);
	return canonical;
}

struct job_request {
	struct pool_job_config c;
	bool has_wait;
	double wait;
};

/* The query (?wait=, ?on_error=) and the common body fields. 0, or a reply was made. */
static int check_job(struct http_req *r, const cJSON *body, struct job_request *q, cJSON *details,
		     enum MHD_Result *res)
{
	const char *on_error = http_query(r, "on_error");
	int has_wait = http_query_seconds(r, "wait", &q->wait);
	if (has_wait < 0) {
		*res = http_reply_invalid(r, "wait", "must be a number of seconds from 0 to " NUMBER_SECONDS_MAX_TEXT);
		return -1;
	}
	if (on_error && strcmp(on_error, "fail") != 0 && strcmp(on_error, "continue") != 0) {
		*res = http_reply_invalid(r, "on_error", "must be \"fail\" (end the job at the first failure) or \"continue\"");
		return -1;
	}
	q->has_wait = has_wait > 0;
	q->c.fail_fast = on_error && strcmp(on_error, "fail") == 0;
	q->c.ordered = true;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "retries");
	int64_t n;
	if (v && !cJSON_IsNull(v)) {
		if (cJSON_IsNumber(v) && number_int64(v->valuedouble, &n) && n >= 0 && n <= RETRIES_MAX)
			q->c.retries = (int)n;
		else
			cJSON_AddItemToArray(details, http_detail("retries", "must be an integer from 0 to 100"));
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(body, "chunksize")) && !cJSON_IsNull(v)) {
		if (cJSON_IsNumber(v) && number_int64(v->valuedouble, &n) && n >= 1 && n <= POOL_ITEMS_MAX)
			q->c.chunksize = (int)n;
		else
			cJSON_AddItemToArray(details, http_detail("chunksize", "must be an integer from 1 to 1000000"));
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(body, "ordered")) && !cJSON_IsNull(v)) {
		if (cJSON_IsBool(v))
			q->c.ordered = cJSON_IsTrue(v);
		else
			cJSON_AddItemToArray(details, http_detail("ordered", "must be true or false"));
	}
	return 0;
}

enum job_reply { REPLY_MAP, REPLY_APPLY, REPLY_GET };

/* The job: 200 once it has ended, else 202 (a GET: always 200). */
/* An ended job's reply as text made by the engine in one buffer (a map's
 * 100,000 results were copied into a raw item, out of it by the print, and
 * checked again); MHD_NO with *done false: the job runs (or out of memory),
 * reply from its tree. */
static enum MHD_Result reply_text(struct http_req *r, const char *pool, const char *job, bool *done)
{
	size_t len = 0;
	bool running = false;
	char *text = pool_job_text(pool, job, &len, &running);
	*done = text != NULL;
	if (!text)
		return MHD_NO;
	if (!utf8_valid(text, len)) {   /* as http_reply_json(): a result's string bytes as they came */
		char *clean = utf8_sanitize(text, len, &len);
		free(text);
		if (!(text = clean))
			return http_reply_error(r, 500, "internal", NULL, "out of memory");
	}
	return http_reply_buffer(r, 200, "application/json", text, len, false);
}

static enum MHD_Result reply_job(struct http_req *r, const char *pool, const char *job, enum job_reply how)
{
	bool apply = how == REPLY_APPLY, done = false;
	enum MHD_Result res = apply ? MHD_NO : reply_text(r, pool, job, &done);
	if (done)
		return res;
	/* apply takes its one result out of the tree; a map's are sent as text */
	cJSON *j = pool_job_json(pool, job, apply ? POOL_JOB_RESULTS : POOL_JOB_RESULTS_RAW);
	if (!j)
		return no_job(r, pool, job);
	bool running = strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "state")), "running") == 0;
	if (apply && !running) {        /* apply: the one result */
		cJSON *results = cJSON_DetachItemFromObjectCaseSensitive(j, "results");
		cJSON_AddItemToObject(j, "result", cJSON_DetachItemFromArray(results, 0));
		cJSON_Delete(results);
	}
	return http_reply_json(r, running && how != REPLY_GET ? 202 : 200, j);
}

static enum MHD_Result wait_job(struct http_req *r, http_handler *again, enum job_reply how)
{
	struct pool_req_wait *w = r->state;
	bool expired;
	double slice = pool_req_wait_slice(w, &expired);
	if (stream_peer_gone(r->conn))
		return MHD_NO;
	int rc = expired ? 1 : pool_wait(w->pool, w->job, POOL_WAIT_JOB, -1, slice, &w->entry, pool_req_wait_fired);
	if (rc == 0)
		return http_suspend(r, again);
	return reply_job(r, w->pool, w->job, how);
}

static enum MHD_Result resume_map(struct http_req *r) { return wait_job(r, resume_map, REPLY_MAP); }
static enum MHD_Result resume_apply(struct http_req *r) { return wait_job(r, resume_apply, REPLY_APPLY); }
static enum MHD_Result resume_get(struct http_req *r) { return wait_job(r, resume_get, REPLY_GET); }

static enum MHD_Result submit(struct http_req *r, struct job_request *q, bool apply)
{
	char job[POOL_ID_MAX], location[128];
	const char *pool = r->params[0];
	int rc = pool_submit(pool, &q->c, job);
	if (rc == -ENOENT)
		return no_pool(r, pool);
	if (rc == -EPIPE)
		return http_reply_error(r, 409, "conflict", NULL, "pool %s is closed or terminated: it takes no new work", pool);
	if (rc == -EAGAIN) {
		http_set_header(r, "Retry-After", "1");
		return http_reply_error(r, 429, "too_many_tasks", NULL,
			"the pools have %d items waiting already: retry later", POOL_QUEUED_MAX);
	}
	if (rc < 0)
		return http_reply_error(r, 500, "internal", NULL, "could not queue the job: %s", strerror(-rc));
	snprintf(location, sizeof location, "/pools/%s/jobs/%s", pool, job);
	http_set_header(r, "Location", location);
	if (!q->has_wait || (apply && q->wait > 0 && pool_apply_await(pool, job) == 1))
		return reply_job(r, pool, job, apply ? REPLY_APPLY : REPLY_MAP);
	if (!pool_req_wait_attach(r, pool, job, q->wait))
		return http_reply_error(r, 500, "internal", NULL, "out of memory");
	return apply ? resume_apply(r) : resume_map(r);
}

/* The usual map: every item a bare integer for a function target of one
 * integer argument, in range. Each parsed number then becomes in place the
 * canonical object target_validate() would make of it ({"x": n}: one node
 * more, whose key is the target's own string, as long-lived as the pool's
 * pointer to its target), so the body's array is the job's items: no copy
 * and no target_validate() per item, whose allocations were most of a
 * 100,000-item submission. false: not that case, nothing changed. */
static bool quick_items(const struct target *t, cJSON *items, cJSON *details)
{
	const struct arg_spec *a = t->nargs == 1 ? &t->args[0] : NULL;
	if (!a || a->type != ARG_INTEGER || a->variadic || t->kind == TARGET_EXEC)
		return false;
	for (const cJSON *it = items->child; it; it = it->next) {
		double v = it->valuedouble;
		if (!cJSON_IsNumber(it) || !number_is_safe_integer(v) || (a->has_min && v < a->min) ||
		    (a->has_max && v > a->max))
			return false;
	}
	for (cJSON *it = items->child; it; it = it->next) {
		cJSON *value = cJSON_CreateNumber(it->valuedouble == 0 ? 0 : it->valuedouble);
		if (!value) {
			cJSON_AddItemToArray(details, http_detail("items", "out of memory"));
			return true;
		}
		value->string = (char *)(uintptr_t)a->name;
		value->type |= cJSON_StringIsConst;
		it->type = cJSON_Object;
		it->valuedouble = 0;
		it->valueint = 0;
		it->child = value;
		value->prev = value;    /* cJSON's list: the first child's prev is the last */
	}
	return true;
}

/* The target's one integer argument if it is a function target of one
 * (quick_items()'s case), else NULL. */
static const struct arg_spec *int_arg(const struct target *t)
{
	const struct arg_spec *a = t->nargs == 1 ? &t->args[0] : NULL;
	return a && a->type == ARG_INTEGER && !a->variadic && t->kind != TARGET_EXEC ? a : NULL;
}

/* The usual map's body (pools_items.c): its items straight into q->c.ints,
 * the rest of it parsed (and checked) as any body; NULL and nothing done
 * when it is not that case, or when the rest does not parse (the whole body
 * is then parsed, for its usual error). *res is set only with a reply. */
static cJSON *quick_body(struct http_req *r, const struct target *t, struct job_request *q, enum MHD_Result *res,
			 bool *replied)
{
	const struct arg_spec *a = int_arg(t);
	struct pools_items it = { 0 };
	*replied = false;
	if (!a || !r->body || !pools_items_slice(r->body, r->body_len, POOL_ITEMS_MAX, &it))
		return NULL;
	bool ok = true;
	for (int i = 0; i < it.n && ok; i++)
		ok = !(a->has_min && (double)it.ints[i] < a->min) && !(a->has_max && (double)it.ints[i] > a->max);
	cJSON *probe = ok ? cJSON_ParseWithLengthOpts(it.rest, it.rest_len + 1, NULL, 1) : NULL, *body = NULL;
	if (probe) {
		static const char *const long_arrays[] = { "items", NULL };
		char *whole = r->body;
		size_t whole_len = r->body_len;
		r->body = it.rest;      /* the rest goes through the usual checks */
		r->body_len = it.rest_len;
		body = body_json_long(r, res, long_arrays);
		r->body = whole;
		r->body_len = whole_len;
		*replied = !body;
	}
	cJSON_Delete(probe);
	free(it.rest);
	if (body) {
		q->c.ints = it.ints;
		q->c.nints = it.n;
		q->c.int_key = a->name;
	} else {
		free(it.ints);
	}
	return body;
}

/* The items of a map (taken from body), checked: q->c.items set, or details added. */
static void check_items(const struct target *t, cJSON *body, struct job_request *q, cJSON *details)
{
	cJSON *items = cJSON_GetObjectItemCaseSensitive(body, "items");
	int n = cJSON_GetArraySize(items);
	if (!cJSON_IsArray(items) || n > POOL_ITEMS_MAX) {
		cJSON_AddItemToArray(details, http_detail("items", "required: an array of at most 1000000 argument lists"));
		return;
	}
	if (quick_items(t, items, details)) {
		q->c.items = cJSON_DetachItemViaPointer(body, items);
		return;
	}
	q->c.items = cJSON_CreateArray();
	int i = 0;
	for (const cJSON *it = items->child; it; it = it->next, i++) {
		cJSON *canonical = check_item(t, it, i, "items", details);
		if (canonical)
			cJSON_AddItemToArray(q->c.items, canonical);
	}
}

static enum MHD_Result job_create(struct http_req *r, bool apply)
{
	static const char *const map_keys[] = { "items", "chunksize", "ordered", "retries", NULL };
	static const char *const apply_keys[] = { "args", "retries", NULL };
	enum MHD_Result res;
	struct job_request q = { 0 };
	const struct target *t = pool_target(r->params[0]);
	if (!t)
		return no_pool(r, r->params[0]);
	static const char *const long_arrays[] = { "items", NULL };
	bool replied = false;
	cJSON *body = apply ? NULL : quick_body(r, t, &q, &res, &replied);
	if (!body && !replied)
		body = body_json_long(r, &res, apply ? NULL : long_arrays);
	cJSON *details = cJSON_CreateArray();
	if (!body) {
		cJSON_Delete(details);
		return res;
	}
	if (!cJSON_IsObject(body)) {
		res = http_reply_invalid(r, "body", apply ? "must be a JSON object such as {\"args\": [3]}"
							  : "must be a JSON object such as {\"items\": [1, 2, 3]}");
		goto out;
	}
	cJSON *unknown = NULL;
	body_unknown_keys(body, apply ? apply_keys : map_keys, &unknown);
	for (cJSON *e; unknown && (e = cJSON_DetachItemFromArray(unknown, 0));)
		cJSON_AddItemToArray(details, e);
	cJSON_Delete(unknown);
	if (check_job(r, body, &q, details, &res) < 0)
		goto out;
	if (apply) {
		cJSON *canonical = check_item(t, cJSON_GetObjectItemCaseSensitive(body, "args"), -1, "args", details);
		q.c.items = cJSON_CreateArray();
		if (canonical)
			cJSON_AddItemToArray(q.c.items, canonical);
	} else if (!q.c.ints) {
		check_items(t, body, &q, details);
	}
	if (cJSON_GetArraySize(details) > 0) {
		res = http_reply_error(r, 400, "invalid_argument", details, "the request has invalid fields");
		details = NULL;
		goto out;
	}
	res = submit(r, &q, apply);
	q.c.items = NULL;       /* pool_submit took them */
	q.c.ints = NULL;
out:
	cJSON_Delete(q.c.items);
	free(q.c.ints);
	cJSON_Delete(details);
	cJSON_Delete(body);
	return res;
}

enum MHD_Result pools_map(struct http_req *r) { return job_create(r, false); }
enum MHD_Result pools_apply(struct http_req *r) { return job_create(r, true); }

enum MHD_Result pools_job_get(struct http_req *r)
{
	double wait = 0;
	int has_wait = http_query_seconds(r, "wait", &wait);
	if (has_wait < 0)
		return http_reply_invalid(r, "wait", "must be a number of seconds from 0 to " NUMBER_SECONDS_MAX_TEXT);
	cJSON *j = pool_job_json(r->params[0], r->params[1], POOL_JOB_RESULTS_RAW);
	if (!j)
		return pool_target(r->params[0]) ? no_job(r, r->params[0], r->params[1]) : no_pool(r, r->params[0]);
	if (!has_wait)
		return http_reply_json(r, 200, j);
	cJSON_Delete(j);
	if (!pool_req_wait_attach(r, r->params[0], r->params[1], wait))
		return http_reply_error(r, 500, "internal", NULL, "out of memory");
	return resume_get(r);
}

enum MHD_Result pools_job_list(struct http_req *r)
{
	cJSON *j = pool_jobs_json(r->params[0]);
	return j ? http_reply_json(r, 200, j) : no_pool(r, r->params[0]);
}

/* ---- the results stream -------------------------------------------------- */

struct results_stream {
	struct stream s;
	struct waitq_entry entry;       /* armed by wait_more(), cancelled at the end */
	char pool[POOL_ID_MAX], job[POOL_ID_MAX];
	long pos;                       /* results sent */
	bool ended;
};

static struct results_stream *results_of(struct stream *st) { return container_of(st, struct results_stream, s); }

static bool next_result(struct stream *st)
{
	struct results_stream *rs = results_of(st);
	cJSON *out = cJSON_CreateArray();
	long pos = pool_job_results(rs->pool, rs->job, rs->pos, 1, out, &rs->ended);
	cJSON *item = cJSON_DetachItemFromArray(out, 0);
	cJSON_Delete(out);
	if (pos < 0)
		rs->ended = true;
	if (!item)
		return false;
	char id[32];
	rs->pos = pos;
	snprintf(id, sizeof id, "%ld", pos);
	stream_emit(st, item, "result", id);
	return true;
}

static bool results_finished(struct stream *st) { return results_of(st)->ended; }

static void results_fired(struct waitq_entry *e)
{
	stream_wake(&container_of(e, struct results_stream, entry)->s);
}

static int results_wait(struct stream *st, double timeout_s)
{
	struct results_stream *rs = results_of(st);
	int r = pool_wait(rs->pool, rs->job, POOL_WAIT_JOB, rs->pos, timeout_s, &rs->entry, results_fired);
	if (r < 0)
		rs->ended = true;
	return r;
}

static void results_cancel(struct stream *st) { pool_wait_cancel(&results_of(st)->entry); }
static void results_release(struct stream *st) { free(results_of(st)); }

/* GET …/results[?follow=true][&after=N]: {"index", "result"} lines, in the
 * job's order; with follow, live until the job's last result. */
enum MHD_Result pools_job_results(struct http_req *r)
{
	const char *accept = http_header(r, MHD_HTTP_HEADER_ACCEPT), *follow = http_query(r, "follow");
	bool sse = accept && strstr(accept, "text/event-stream");
	const char *after = http_query(r, "after"), *last = sse ? http_header(r, "Last-Event-ID") : NULL;
	const char *v = after ? after : last;
	uint64_t pos = 0;
	if (follow && strcmp(follow, "true") != 0 && strcmp(follow, "false") != 0)
		return http_reply_invalid(r, "follow", "must be true or false");
	if (v && (!http_parse_u64(v, &pos) || pos > POOL_ITEMS_MAX))
		return http_reply_invalid(r, after ? "after" : "Last-Event-ID", "must be a count of results already seen");
	cJSON *j = pool_job_json(r->params[0], r->params[1], 0);
	if (!j)
		return pool_target(r->params[0]) ? no_job(r, r->params[0], r->params[1]) : no_pool(r, r->params[0]);
	cJSON_Delete(j);
	struct results_stream *rs = calloc(1, sizeof *rs);
	if (!rs)
		return MHD_NO;
	snprintf(rs->pool, sizeof rs->pool, "%s", r->params[0]);
	snprintf(rs->job, sizeof rs->job, "%s", r->params[1]);
	rs->pos = (long)pos;
	stream_init(&rs->s, r, follow && strcmp(follow, "true") == 0, sse);
	rs->s.next = next_result;
	rs->s.finished = results_finished;
	rs->s.wait = results_wait;
	rs->s.cancel = results_cancel;
	rs->s.release = results_release;
	struct MHD_Response *resp = stream_response(&rs->s, sse ? "text/event-stream" : "application/x-ndjson");
	if (!resp)
		return MHD_NO;
	return http_reply_response(r, 200, resp);
}
