/* objects — see objects.h.
 *
 * A request that waits keeps a struct object_wait (its waiter and its
 * connection's fd) hung on it with http_set_state(); releasing the request
 * releases the waiter, which gives back a grant the request got but never
 * sent. Whether its client is still there is asked of its socket (poll
 * POLLRDHUP, no read: the request's bytes stay MHD's), before any grant and
 * every heartbeat, by the objects module through w->alive.
 */
#define _GNU_SOURCE
#include "handlers/objects.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/container.h"
#include "lib/number.h"
#include "objects/objects.h"
#include "server/body.h"
#include "server/worker_auth.h"
#include "targets/registry.h"

#define FOLDER_MAX 64
#define NAME_MAX_TEXT "128 characters"

static double timeout_max = 300;

void objects_handlers_init(double timeout_s) { timeout_max = timeout_s; }

struct object_wait {
	struct obj_waiter waiter;
	struct http_req *r;
	int fd;
	objects_decorate *decorate;
};

static bool client_there(struct obj_waiter *w)
{
	struct pollfd p = { .fd = container_of(w, struct object_wait, waiter)->fd, .events = POLLRDHUP };
	return p.fd < 0 || !(poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)));
}

static void waiter_fired(struct obj_waiter *w)
{
	http_wake(container_of(w, struct object_wait, waiter)->r);
}

static void release_wait(void *state)
{
	struct object_wait *q = state;
	objects_waiter_release(&q->waiter);
	free(q);
}

/* The kind's folder, the name and the operation, from r's path: what the
 * route matched is /FOLDER/{name}[/OP] (FOLDER one or more segments). */
static bool split_path(struct http_req *r, bool has_name, bool has_op, char folder[FOLDER_MAX], const char **op)
{
	const char *path = r->path + 1, *end = path + strlen(path);
	*op = NULL;
	if (has_op) {
		const char *slash = strrchr(path, '/');
		*op = slash + 1;
		end = slash;
	}
	if (has_name)
		end -= strlen(r->params[0]) + 1;
	if (end <= path || (size_t)(end - path) >= FOLDER_MAX)
		return false;
	snprintf(folder, FOLDER_MAX, "%.*s", (int)(end - path), path);
	return objects_kind_known(folder);
}

static enum MHD_Result reply_call_error(struct http_req *r, struct obj_call *c)
{
	if (c->status == 400 && c->field[0])
		return http_reply_invalid(r, c->field, c->message);
	if (c->status == 401)
		http_set_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"spawnd\", error=\"invalid_token\"");
	return http_reply_error(r, (unsigned)(c->status ? c->status : 500), c->code ? c->code : "internal", NULL,
				"%s", c->message[0] ? c->message : "the operation failed");
}

/* A reply that reports a change is sent once the change is on disk. */
static enum MHD_Result reply_result(struct http_req *r, unsigned status, cJSON *result)
{
	if (objects_sync() < 0) {
		cJSON_Delete(result);
		return http_reply_error(r, 500, "internal", NULL, "the change could not be written to the store");
	}
	return http_reply_json(r, status, result);
}

static bool name_ok(struct http_req *r)
{
	return target_name_valid(r->params[0]);
}

static enum MHD_Result bad_name(struct http_req *r)
{
	return http_reply_invalid(r, "name", "a name is 1 to " NAME_MAX_TEXT " of A-Z a-z 0-9 _ . - (as a target's)");
}

/* The body as JSON, NULL when there is none (*ok false: replied already). */
static cJSON *optional_body(struct http_req *r, bool *ok, enum MHD_Result *res)
{
	*ok = true;
	if (r->body_len == 0)
		return NULL;
	cJSON *body = body_json(r, res);
	*ok = body != NULL;
	if (body && !cJSON_IsObject(body)) {
		cJSON_Delete(body);
		*ok = false;
		*res = http_reply_invalid(r, "body", "the body must be a JSON object");
		return NULL;
	}
	return body;
}

enum MHD_Result objects_list_route(struct http_req *r)
{
	char folder[FOLDER_MAX];
	const char *op;
	struct caller who;
	worker_auth_caller(r, &who);
	struct obj_owner caller = { .worker = who.worker };
	snprintf(caller.id, sizeof caller.id, "%s", who.id);
	struct obj_call c = { .caller = &caller };
	if (!split_path(r, false, false, folder, &op))
		return http_reply_error(r, 404, "not_found", NULL, "no such resource: %s", r->path);
	objects_describe(folder, NULL, &c);
	return http_reply_json(r, 200, c.result);
}

/* Who is calling r, as the objects module knows owners. */
static void caller_of(struct http_req *r, struct obj_owner *out)
{
	struct caller who;
	worker_auth_caller(r, &who);
	out->worker = who.worker;
	snprintf(out->id, sizeof out->id, "%s", who.id);
}

/* The folder and name of a /FOLDER/{name} request, or a reply. */
static bool object_path(struct http_req *r, bool has_op, char folder[FOLDER_MAX], const char **op,
			enum MHD_Result *res)
{
	if (!split_path(r, true, has_op, folder, op)) {
		*res = http_reply_error(r, 404, "not_found", NULL, "no such resource: %s", r->path);
		return false;
	}
	if (!name_ok(r)) {
		*res = bad_name(r);
		return false;
	}
	return true;
}

enum MHD_Result objects_put_route(struct http_req *r)
{
	char folder[FOLDER_MAX];
	const char *op;
	enum MHD_Result res;
	bool ok;
	struct obj_owner caller;
	if (!object_path(r, false, folder, &op, &res))
		return res;
	cJSON *options = optional_body(r, &ok, &res);
	if (!ok)
		return res;
	caller_of(r, &caller);
	struct obj_call c = { .caller = &caller };
	int status = objects_create(folder, r->params[0], options, &c);
	cJSON_Delete(options);
	if (status < 0)
		return reply_call_error(r, &c);
	if (status == 201) {
		char location[FOLDER_MAX + 160];
		snprintf(location, sizeof location, "/%s/%s", folder, r->params[0]);
		http_set_header(r, "Location", location);
	}
	return reply_result(r, (unsigned)status, c.result);
}

enum MHD_Result objects_get_route(struct http_req *r)
{
	char folder[FOLDER_MAX];
	const char *op;
	enum MHD_Result res;
	struct obj_owner caller;
	if (!object_path(r, false, folder, &op, &res))
		return res;
	caller_of(r, &caller);
	struct obj_call c = { .caller = &caller };
	if (objects_describe(folder, r->params[0], &c) < 0)
		return reply_call_error(r, &c);
	return http_reply_json(r, 200, c.result);
}

enum MHD_Result objects_delete_route(struct http_req *r)
{
	char folder[FOLDER_MAX];
	const char *op;
	enum MHD_Result res;
	struct obj_owner caller;
	if (!object_path(r, false, folder, &op, &res))
		return res;
	caller_of(r, &caller);
	struct obj_call c = { .caller = &caller };
	if (objects_remove(folder, r->params[0], &c) < 0)
		return reply_call_error(r, &c);
	return reply_result(r, 200, c.result);
}

/* Once its waiter is finished. */
static enum MHD_Result resume_op(struct http_req *r)
{
	struct object_wait *q = r->state;
	struct obj_waiter *w = &q->waiter;
	switch (w->outcome) {
	case OBJ_DONE: {
		cJSON *result = w->result;
		w->result = NULL;
		if (q->decorate)
			q->decorate(r, result);
		enum MHD_Result res = reply_result(r, 200, result);
		w->delivered = res == MHD_YES;
		return res;
	}
	case OBJ_REMOVED:
		return http_reply_error(r, 404, "not_found", NULL, "the object was deleted while this request waited");
	case OBJ_SHUTDOWN:
		return http_reply_error(r, 503, "shutting_down", NULL, "the server is shutting down");
	case OBJ_WAITING:       /* not finished: woken by mistake */
		return http_suspend(r, resume_op);
	case OBJ_GONE:
	default:
		return MHD_NO;          /* no one to answer: free the connection */
	}
}

/* ?timeout=: 0 and the seconds (the maximum when absent, clamped to it), or a reply. */
bool objects_read_timeout(struct http_req *r, double *timeout_s, enum MHD_Result *res)
{
	int has = http_query_seconds(r, "timeout", timeout_s);
	if (has < 0) {
		*res = http_reply_invalid(r, "timeout", "must be a number of seconds from 0 to " NUMBER_SECONDS_MAX_TEXT);
		return false;
	}
	if (!has || *timeout_s > timeout_max)
		*timeout_s = timeout_max;
	return true;
}

static struct object_wait *new_wait(struct http_req *r)
{
	struct object_wait *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	objects_waiter_init(&q->waiter, client_there, waiter_fired);
	q->r = r;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	q->fd = ci ? ci->connect_fd : -1;
	http_set_state(r, q, release_wait);
	return q;
}

static enum MHD_Result run_call(struct http_req *r, const char *folder, const char *name, const char *op, cJSON *body,
				double timeout_s, double query_lease_s, double max_n, objects_decorate *decorate);

enum MHD_Result objects_op_route(struct http_req *r)
{
	char folder[FOLDER_MAX];
	const char *op;
	enum MHD_Result res;
	bool ok;
	double timeout_s;
	if (!object_path(r, true, folder, &op, &res) || !objects_read_timeout(r, &timeout_s, &res))
		return res;
	double lease_s = -1;
	int has_lease = http_query_seconds(r, "lease", &lease_s);
	if (has_lease < 0)
		return http_reply_invalid(r, "lease", "must be a number of seconds above 0, at most " NUMBER_SECONDS_MAX_TEXT);
	/* ?max= (a queue's batch get): what is not a number reaches the queue as 0, refused there. */
	const char *max = http_query(r, "max");
	char *end = NULL;
	double max_n = max ? strtod(max, &end) : -1;
	if (max && (!*max || *end || !(max_n >= 0)))
		max_n = 0;
	cJSON *body = optional_body(r, &ok, &res);
	if (!ok)
		return res;
	return run_call(r, folder, r->params[0], op, body, timeout_s, has_lease ? lease_s : -1, max_n, NULL);
}

enum MHD_Result objects_run(struct http_req *r, const char *folder, const char *name, const char *op, cJSON *body,
			    double timeout_s, double query_lease_s, objects_decorate *decorate)
{
	return run_call(r, folder, name, op, body, timeout_s, query_lease_s, -1, decorate);
}

static enum MHD_Result run_call(struct http_req *r, const char *folder, const char *name, const char *op, cJSON *body,
				double timeout_s, double query_lease_s, double max_n, objects_decorate *decorate)
{
	struct obj_owner caller;
	struct object_wait *q = new_wait(r);
	if (!q) {
		cJSON_Delete(body);
		return http_reply_error(r, 500, "internal", NULL, "out of memory");
	}
	q->decorate = decorate;
	caller_of(r, &caller);
	struct obj_call c = { .caller = &caller, .body = body, .timeout_s = timeout_s, .waiter = &q->waiter,
			      .query_lease_s = query_lease_s, .query_max = max_n };
	int rc = objects_call(folder, name, op, &c);
	cJSON_Delete(body);
	if (rc == 1)
		return http_suspend(r, resume_op);
	if (rc < 0)
		return reply_call_error(r, &c);
	if (decorate)
		decorate(r, c.result);
	return reply_result(r, 200, c.result);
}
