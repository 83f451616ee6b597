/* pools — see pools.h: the pools themselves. Everything a request gives is
 * checked before the pool engine is asked, one details entry per bad field. */
#define _GNU_SOURCE
#include "handlers/pools.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/container.h"
#include "lib/number.h"
#include "lib/ts.h"
#include "server/body.h"
#include "server/stream.h"
#include "targets/args.h"
#include "targets/registry.h"

/* ---- waits --------------------------------------------------------------- */

static void release_wait(void *state)
{
	struct pool_req_wait *w = state;
	pool_wait_cancel(&w->entry);
	free(w);
}

static double now_s(void) { return (double)ts_mono_ms() / 1000.0; }

struct pool_req_wait *pool_req_wait_attach(struct http_req *r, const char *pool, const char *job, double timeout_s)
{
	struct pool_req_wait *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->r = r;
	snprintf(w->pool, sizeof w->pool, "%s", pool);
	snprintf(w->job, sizeof w->job, "%s", job ? job : "");
	w->deadline = timeout_s < 0 ? -1 : now_s() + timeout_s;
	http_set_state(r, w, release_wait);
	return w;
}

void pool_req_wait_fired(struct waitq_entry *e)
{
	http_wake(container_of(e, struct pool_req_wait, entry)->r);
}

double pool_req_wait_slice(const struct pool_req_wait *w, bool *expired)
{
	double hb = stream_heartbeat(), left = w->deadline < 0 ? -1 : w->deadline - now_s();
	*expired = w->deadline >= 0 && left <= 0;
	return left < 0 || left > hb ? hb : left;
}

/* ---- replies ------------------------------------------------------------- */

static enum MHD_Result not_found(struct http_req *r, const char *id)
{
	return http_reply_error(r, 404, "not_found", NULL, "no pool with id %s", id);
}

static enum MHD_Result reply_pool(struct http_req *r, unsigned status, const char *id)
{
	cJSON *j = pool_get_json(id);
	return j ? http_reply_json(r, status, j) : not_found(r, id);
}

static void add_detail(cJSON **details, const char *field, const char *msg)
{
	if (!*details)
		*details = cJSON_CreateArray();
	cJSON_AddItemToArray(*details, http_detail(field, msg));
}

/* ---- create -------------------------------------------------------------- */

static bool valid_name(const cJSON *n)
{
	if (!cJSON_IsString(n) || !n->valuestring[0] || strlen(n->valuestring) > 256)
		return false;
	for (const unsigned char *c = (const unsigned char *)n->valuestring; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* A whole number in [min, max] (or absent/null: *out unchanged). */
static void check_count(const cJSON *v, const char *field, double min, double max, long *out, cJSON **details)
{
	char msg[96];
	if (!v || cJSON_IsNull(v))
		return;
	int64_t n;
	if (cJSON_IsNumber(v) && number_int64(v->valuedouble, &n) && n >= min && n <= max) {
		*out = (long)n;
		return;
	}
	snprintf(msg, sizeof msg, "must be an integer from %.0f to %.0f", min, max);
	add_detail(details, field, msg);
}

/* The initializer and its initargs (validated). 0, or a reply was made (*res). */
static int check_initializer(struct http_req *r, const cJSON *body, struct pool_config *c, cJSON **canonical,
			     cJSON **details, enum MHD_Result *res)
{
	const cJSON *init = cJSON_GetObjectItemCaseSensitive(body, "initializer");
	const cJSON *initargs = cJSON_GetObjectItemCaseSensitive(body, "initargs");
	if (!init || cJSON_IsNull(init)) {
		if (initargs && !cJSON_IsNull(initargs) && cJSON_GetArraySize(initargs) > 0)
			add_detail(details, "initargs", "needs an initializer");
		return 0;
	}
	if (!cJSON_IsString(init)) {
		add_detail(details, "initializer", "must be the name of a target, or null");
		return 0;
	}
	if (!(c->initializer = target_find(init->valuestring))) {
		*res = http_reply_error(r, 404, "not_found", NULL, "no target named \"%.128s\" (see GET /targets)",
					init->valuestring);
		return -1;
	}
	cJSON *more = NULL;
	if (target_validate(c->initializer, cJSON_IsNull(initargs) ? NULL : initargs, canonical, &more) < 0) {
		for (cJSON *e = more ? more->child : NULL; e; e = e->next) {
			char field[128];
			const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "field"));
			snprintf(field, sizeof field, "initargs%s", f && strncmp(f, "args", 4) == 0 ? f + 4 : "");
			add_detail(details, field, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message")));
		}
		if (!more)
			add_detail(details, "initargs", "out of memory");
		cJSON_Delete(more);
	}
	c->initargs = *canonical;
	return 0;
}

static const char *const create_keys[] = { "target", "processes", "initializer", "initargs", "maxtasksperchild",
					   "name", NULL };

enum MHD_Result pools_create(struct http_req *r)
{
	enum MHD_Result res;
	cJSON *details = NULL, *canonical = NULL;
	cJSON *body = body_json(r, &res);
	if (!body)
		return res;
	if (!cJSON_IsObject(body)) {
		res = http_reply_error(r, 400, "invalid_argument", NULL,
			"the request body must be a JSON object such as {\"target\": \"square\"}");
		goto out;
	}
	body_unknown_keys(body, create_keys, &details);
	const cJSON *target = cJSON_GetObjectItemCaseSensitive(body, "target");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN), processes = cpus > 0 ? cpus : 1, maxtasks = 0;
	if (processes > POOL_PROCESSES_MAX)
		processes = POOL_PROCESSES_MAX;
	struct pool_config c = { 0 };
	if (!cJSON_IsString(target))
		add_detail(&details, "target", "required: the name of a registered target (see GET /targets)");
	else if (!(c.target = target_find(target->valuestring))) {
		res = http_reply_error(r, 404, "not_found", NULL, "no target named \"%.128s\" (see GET /targets)",
				       target->valuestring);
		goto out;
	}
	check_count(cJSON_GetObjectItemCaseSensitive(body, "processes"), "processes", 1, POOL_PROCESSES_MAX,
		    &processes, &details);
	check_count(cJSON_GetObjectItemCaseSensitive(body, "maxtasksperchild"), "maxtasksperchild", 1, 1e9,
		    &maxtasks, &details);
	if (name && !cJSON_IsNull(name) && !valid_name(name))
		add_detail(&details, "name", "must be a string of 1 to 256 printable characters");
	if (check_initializer(r, body, &c, &canonical, &details, &res) < 0)
		goto out;
	if (details) {
		res = http_reply_error(r, 400, "invalid_argument", details, "the request has invalid fields");
		details = NULL;
		goto out;
	}
	c.processes = (int)processes;
	c.maxtasksperchild = maxtasks;
	c.name = cJSON_IsString(name) ? name->valuestring : NULL;
	char id[POOL_ID_MAX], location[64];
	int rc = pool_create(&c, id);
	if (rc == -ESHUTDOWN)
		res = http_reply_error(r, 503, "shutting_down", NULL, "the server is shutting down");
	else if (rc < 0)
		res = http_reply_error(r, 500, "internal", NULL, "could not create the pool: %s", strerror(-rc));
	else {
		snprintf(location, sizeof location, "/pools/%s", id);
		http_set_header(r, "Location", location);
		res = reply_pool(r, 201, id);
	}
out:
	cJSON_Delete(canonical);
	cJSON_Delete(details);
	cJSON_Delete(body);
	return res;
}

/* ---- the others ---------------------------------------------------------- */

enum MHD_Result pools_list(struct http_req *r)
{
	cJSON *j = pool_list_json();
	return j ? http_reply_json(r, 200, j) : http_reply_error(r, 500, "internal", NULL, "out of memory");
}

enum MHD_Result pools_get(struct http_req *r) { return reply_pool(r, 200, r->params[0]); }

enum MHD_Result pools_close(struct http_req *r)
{
	return pool_close(r->params[0]) < 0 ? not_found(r, r->params[0]) : reply_pool(r, 200, r->params[0]);
}

enum MHD_Result pools_terminate(struct http_req *r)
{
	return pool_terminate(r->params[0]) < 0 ? not_found(r, r->params[0]) : reply_pool(r, 200, r->params[0]);
}

static enum MHD_Result resume_join(struct http_req *r)
{
	struct pool_req_wait *w = r->state;
	bool expired;
	double slice = pool_req_wait_slice(w, &expired);
	if (stream_peer_gone(r->conn))
		return MHD_NO;
	int rc = expired ? 1 : pool_wait(w->pool, NULL, POOL_WAIT_JOIN, -1, slice, &w->entry, pool_req_wait_fired);
	if (rc == -ENOENT)
		return not_found(r, w->pool);
	if (rc == 0)
		return http_suspend(r, resume_join);
	return reply_pool(r, 200, w->pool);
}

/* join(): as Pool.join, only once the pool is closed or terminated. */
enum MHD_Result pools_join(struct http_req *r)
{
	double timeout = -1;
	if (http_query_seconds(r, "timeout", &timeout) < 0)
		return http_reply_invalid(r, "timeout", "must be a number of seconds from 0 to " NUMBER_SECONDS_MAX_TEXT);
	cJSON *p = pool_get_json(r->params[0]);
	if (!p)
		return not_found(r, r->params[0]);
	bool running = strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "state")), "running") == 0;
	cJSON_Delete(p);
	if (running)
		return http_reply_error(r, 409, "conflict", NULL,
			"pool %s is running: close or terminate it before joining it", r->params[0]);
	if (!pool_req_wait_attach(r, r->params[0], NULL, timeout))
		return http_reply_error(r, 500, "internal", NULL, "out of memory");
	return resume_join(r);
}

static enum MHD_Result resume_delete(struct http_req *r)
{
	struct pool_req_wait *w = r->state;
	cJSON *final = NULL;
	bool expired;
	double slice = pool_req_wait_slice(w, &expired);
	if (stream_peer_gone(r->conn))
		return MHD_NO;
	int rc = pool_remove(w->pool, &final);
	if (rc == 0 && pool_wait(w->pool, NULL, POOL_WAIT_JOIN, -1, slice, &w->entry, pool_req_wait_fired) == 0)
		return http_suspend(r, resume_delete);
	if (rc == 0)            /* joined meanwhile */
		rc = pool_remove(w->pool, &final);
	if (rc == -ENOENT)
		return not_found(r, w->pool);
	if (rc != 1)
		return http_reply_error(r, 500, "internal", NULL, "pool %s could not be removed", w->pool);
	return http_reply_json(r, 200, final);
}

/* DELETE: terminate, wait until every worker has ended, remove; the final Pool. */
enum MHD_Result pools_delete(struct http_req *r)
{
	if (pool_terminate(r->params[0]) < 0)
		return not_found(r, r->params[0]);
	if (!pool_req_wait_attach(r, r->params[0], NULL, -1))
		return http_reply_error(r, 500, "internal", NULL, "out of memory");
	return resume_delete(r);
}
