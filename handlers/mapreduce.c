/* mapreduce — see mapreduce.h. The inputs are checked against the map target
 * before anything starts (400 naming inputs[i]); the reduce target's args
 * are checked per key when the map is done (a refusal fails the job). */
#include "handlers/mapreduce.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/mapreduce.h"
#include "handlers/pools.h"
#include "lib/number.h"
#include "server/body.h"
#include "server/stream.h"
#include "targets/args.h"
#include "targets/registry.h"

static enum MHD_Result not_found(struct http_req *r, const char *id)
{
	return http_reply_error(r, 404, "not_found", NULL, "no mapreduce job with id %s", id);
}

static enum MHD_Result reply(struct http_req *r, const char *id, bool create)
{
	cJSON *j = mapreduce_json(id);
	if (!j)
		return not_found(r, id);
	bool running = strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "state")), "running") == 0;
	return http_reply_json(r, create && running ? 202 : 200, j);
}

static enum MHD_Result resume(struct http_req *r, bool create);
static enum MHD_Result resume_create(struct http_req *r) { return resume(r, true); }
static enum MHD_Result resume_get(struct http_req *r) { return resume(r, false); }

static enum MHD_Result resume(struct http_req *r, bool create)
{
	struct pool_req_wait *w = r->state;
	bool expired;
	double slice = pool_req_wait_slice(w, &expired);
	if (stream_peer_gone(r->conn))
		return MHD_NO;
	if (!expired && mapreduce_wait(w->job, slice, &w->entry, pool_req_wait_fired) == 0)
		return http_suspend(r, create ? resume_create : resume_get);
	return reply(r, w->job, create);
}

static enum MHD_Result waiting(struct http_req *r, const char *id, bool create)
{
	double wait = 0;
	int has_wait = http_query_seconds(r, "wait", &wait);
	if (has_wait <= 0)
		return reply(r, id, create);
	if (!pool_req_wait_attach(r, "", id, wait))
		return http_reply_error(r, 500, "internal", NULL, "out of memory");
	return resume(r, create);
}

/* The inputs checked against t: canonical args (bare values as one argument), details added. */
static cJSON *check_inputs(const struct target *t, const cJSON *inputs, cJSON *details)
{
	cJSON *out = cJSON_CreateArray();
	int i = 0;
	const cJSON *in;
	if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) > POOL_ITEMS_MAX)
		cJSON_AddItemToArray(details, http_detail("inputs", "required: an array of argument lists"));
	const cJSON *list = cJSON_IsArray(inputs) ? inputs : NULL;
	cJSON_ArrayForEach(in, list) {
		cJSON *wrapped = NULL, *canonical = NULL, *more = NULL;
		if (!cJSON_IsArray(in) && !cJSON_IsObject(in)) {
			wrapped = cJSON_CreateArray();
			cJSON_AddItemToArray(wrapped, cJSON_Duplicate(in, true));
		}
		if (target_validate(t, wrapped ? wrapped : in, &canonical, &more) < 0) {
			char field[64];
			snprintf(field, sizeof field, "inputs[%d]", i);
			const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(more, 0),
												 "message"));
			if (cJSON_GetArraySize(details) < 20)
				cJSON_AddItemToArray(details, http_detail(field, why ? why : "out of memory"));
			cJSON_Delete(more);
		} else {
			cJSON_AddItemToArray(out, canonical);
		}
		cJSON_Delete(wrapped);
		i++;
	}
	return out;
}

/* A count field: absent or null leaves *out. */
static void check_count(const cJSON *body, const char *key, long max, int *out, cJSON *details)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
	int64_t n;
	char msg[64];
	if (!v || cJSON_IsNull(v))
		return;
	if (cJSON_IsNumber(v) && number_int64(v->valuedouble, &n) && n >= 1 && n <= max) {
		*out = (int)n;
		return;
	}
	snprintf(msg, sizeof msg, "must be an integer from 1 to %ld", max);
	cJSON_AddItemToArray(details, http_detail(key, msg));
}

enum MHD_Result mapreduce_create(struct http_req *r)
{
	static const char *const keys[] = { "map", "reduce", "inputs", "processes", "chunksize", NULL };
	static const char *const long_arrays[] = { "inputs", NULL };
	enum MHD_Result res;
	cJSON *body = body_json_long(r, &res, long_arrays), *details = NULL;
	if (!body)
		return res;
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		return http_reply_invalid(r, "body", "must be a JSON object such as {\"map\": ..., \"reduce\": ..., \"inputs\": [...]}");
	}
	body_unknown_keys(body, keys, &details);
	if (!details)
		details = cJSON_CreateArray();
	const char *names[2] = { cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "map")),
				 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "reduce")) };
	const struct target *t[2] = { NULL, NULL };
	for (int i = 0; i < 2; i++) {
		if (!names[i])
			cJSON_AddItemToArray(details, http_detail(i ? "reduce" : "map", "required: the name of a target"));
		else if (!(t[i] = target_find(names[i]))) {
			/* names[i] is the body's: the reply is made before it is freed */
			enum MHD_Result res404 = http_reply_error(r, 404, "not_found", NULL, "no target named \"%.128s\"",
								 names[i]);
			cJSON_Delete(details);
			cJSON_Delete(body);
			return res404;
		}
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct mapreduce_config c = { .map = t[0], .reduce = t[1], .processes = cpus > 0 && cpus < POOL_PROCESSES_MAX ? (int)cpus : 1 };
	check_count(body, "processes", POOL_PROCESSES_MAX, &c.processes, details);
	check_count(body, "chunksize", POOL_ITEMS_MAX, &c.chunksize, details);
	if (t[0])
		c.inputs = check_inputs(t[0], cJSON_GetObjectItemCaseSensitive(body, "inputs"), details);
	cJSON_Delete(body);
	if (cJSON_GetArraySize(details) > 0) {
		cJSON_Delete(c.inputs);
		return http_reply_error(r, 400, "invalid_argument", details, "the request has invalid fields");
	}
	cJSON_Delete(details);
	char id[POOL_ID_MAX], location[64];
	int rc = mapreduce_start(&c, id);
	if (rc == -ESHUTDOWN)
		return http_reply_error(r, 503, "shutting_down", NULL, "the server is shutting down");
	if (rc == -EAGAIN) {
		http_set_header(r, "Retry-After", "1");
		return http_reply_error(r, 429, "too_many_tasks", NULL, "the pools have too many items waiting: retry later");
	}
	if (rc < 0)
		return http_reply_error(r, 500, "internal", NULL, "could not start the job: %s", strerror(-rc));
	snprintf(location, sizeof location, "/mapreduce/%s", id);
	http_set_header(r, "Location", location);
	return waiting(r, id, true);
}

enum MHD_Result mapreduce_get(struct http_req *r)
{
	double wait;
	if (http_query_seconds(r, "wait", &wait) < 0)
		return http_reply_invalid(r, "wait", "must be a number of seconds from 0 to " NUMBER_SECONDS_MAX_TEXT);
	return waiting(r, r->params[0], false);
}
