/* processes — see processes.h. Handlers validate everything they are given
 * before the engine is asked for anything, and every failure is one error
 * reply with the field named. Waiting (join, ?wait=, DELETE) suspends the
 * request with a struct wait hung on it (handlers/wait.h): its waiter is
 * armed on the engine, and its callback wakes the request (server/http.c). */
#define _GNU_SOURCE
#include "handlers/processes.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/diskspace.h"
#include "engine/proc.h"
#include "server/body.h"
#include "server/stream.h"
#include "targets/args.h"
#include "targets/argv.h"
#include "targets/env.h"
#include "lib/number.h"
#include "targets/registry.h"
#include "handlers/wait.h"
#include "lib/signame.h"

#define MAX_NAME_LEN 256
#define DEFAULT_GRACE_S 5.0

static enum MHD_Result not_found(struct http_req *r, const char *id)
{
	return http_reply_error(r, 404, "not_found", NULL, "no process with id %s", id);
}

static enum MHD_Result reply_record(struct http_req *r, unsigned status, const char *id)
{
	cJSON *j = proc_get_json(id, PROC_JSON_OUTPUT);
	if (!j)
		return not_found(r, id);
	return http_reply_json(r, status, j);
}

/* ---- create -------------------------------------------------------------- */

static bool valid_name(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > MAX_NAME_LEN)
		return false;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

static void add_detail(cJSON **details, const char *field, const char *msg)
{
	if (!*details)
		*details = cJSON_CreateArray();
	cJSON_AddItemToArray(*details, http_detail(field, msg));
}

/* Appends the entries of more (consumed) to details (created on demand). */
static cJSON *merge_details(cJSON *details, cJSON *more)
{
	if (!details)
		return more;
	cJSON *e;
	while (more && (e = cJSON_DetachItemFromArray(more, 0)))
		cJSON_AddItemToArray(details, e);
	cJSON_Delete(more);
	return details;
}

static enum MHD_Result out_of_memory(struct http_req *r)
{
	return http_reply_error(r, 500, "internal", NULL, "out of memory");
}

/* POST ?wait=, once suspended (its struct wait: handlers/wait.h). */
static enum MHD_Result resume_create(struct http_req *r)
{
	struct wait *w = r->state;
	double left = wait_left(w);
	if (left > 0) {
		if (stream_peer_gone(r->conn))
			return MHD_NO;          /* no one to answer: free the connection */
		if (proc_wait(w->id, wait_slice(left), &w->waiter, wait_fired) == 0)
			return http_suspend(r, resume_create);
	}
	return reply_record(r, 201, w->id);
}

/* The fields of a POST /processes body, type-checked. */
struct create_request {
	const cJSON *target, *args, *name, *daemon, *env, *stdin_data, *stdin_open, *timeout;
};

/* Reads body's fields into c, adding one details entry per bad field. */
static void check_fields(const cJSON *body, struct create_request *c, cJSON **details)
{
	static const char *const known[] = { "target", "args", "name", "daemon", "env", "stdin",
					     "stdin_open", "timeout", NULL };
	body_unknown_keys(body, known, details);
	c->target = cJSON_GetObjectItemCaseSensitive(body, "target");
	c->args = cJSON_GetObjectItemCaseSensitive(body, "args");
	c->name = cJSON_GetObjectItemCaseSensitive(body, "name");
	c->daemon = cJSON_GetObjectItemCaseSensitive(body, "daemon");
	c->env = cJSON_GetObjectItemCaseSensitive(body, "env");
	c->stdin_data = cJSON_GetObjectItemCaseSensitive(body, "stdin");
	c->stdin_open = cJSON_GetObjectItemCaseSensitive(body, "stdin_open");
	c->timeout = cJSON_GetObjectItemCaseSensitive(body, "timeout");

	if (!cJSON_IsString(c->target))
		add_detail(details, "target", "required: the name of a registered target (see GET /targets)");
	if (c->name && !cJSON_IsNull(c->name) && !(cJSON_IsString(c->name) && valid_name(c->name->valuestring)))
		add_detail(details, "name", "must be a string of 1 to 256 printable characters");
	if (c->daemon && !cJSON_IsNull(c->daemon) && !cJSON_IsBool(c->daemon))
		add_detail(details, "daemon", "must be true or false");
	if (c->timeout && !cJSON_IsNull(c->timeout) && !(cJSON_IsNumber(c->timeout) && c->timeout->valuedouble >= 0 &&
							  c->timeout->valuedouble <= NUMBER_SECONDS_MAX))
		add_detail(details, "timeout", "must be a number of seconds from 0 to " NUMBER_SECONDS_MAX_TEXT ", or null");
	if (c->env && !cJSON_IsNull(c->env) && !cJSON_IsObject(c->env))
		add_detail(details, "env", "must be an object of string values");
	if (c->stdin_data && !cJSON_IsNull(c->stdin_data) && !cJSON_IsString(c->stdin_data))
		add_detail(details, "stdin", "must be a string (the worker reads it from its stdin)");
	if (c->stdin_open && !cJSON_IsNull(c->stdin_open) && !cJSON_IsBool(c->stdin_open))
		add_detail(details, "stdin_open", "must be true or false");
}

/* A request may shorten its target's time limit, never lengthen it: the
 * operator's cap holds. The smaller of the two, 0 meaning none. */
static double effective_timeout(const cJSON *requested, const struct target *t)
{
	double want = cJSON_IsNumber(requested) ? requested->valuedouble : 0;

	if (want <= 0)
		return t->timeout;
	return t->timeout > 0 && t->timeout < want ? t->timeout : want;
}

/* 507: refused before the disk is full, so what is running keeps its room. */
static enum MHD_Result reply_disk_low(struct http_req *r)
{
	uint64_t free_bytes = 0, reserve = 0;
	diskspace_check(&free_bytes, &reserve);
	http_set_header(r, "Retry-After", "10");
	return http_reply_error(r, 507, "insufficient_storage", NULL,
		"the state folder %s has %" PRIu64 " bytes free, at or below its reserve of %" PRIu64
		" (min_free_space): no new processes until space is freed", diskspace_dir(), free_bytes, reserve);
}

static enum MHD_Result reply_spawn_error(struct http_req *r, int rc, const struct target *t)
{
	switch (rc) {
	case -EAGAIN:
		http_set_header(r, "Retry-After", "1");
		return http_reply_error(r, 429, "too_many_processes", NULL,
			"the server runs as many processes as it may and its queue is full: retry later");
	case -EBUSY:
		http_set_header(r, "Retry-After", "1");
		return http_reply_error(r, 429, "too_many_processes", NULL,
			"target %s allows %d processes at once and has that many: retry later", t->name, t->max_running);
	case -ESHUTDOWN:
		return http_reply_error(r, 503, "shutting_down", NULL, "the server is shutting down");
	case -ENOSPC:
		return reply_disk_low(r);
	default:
		return http_reply_error(r, 500, "internal", NULL, "could not create the process: %s", strerror(-rc));
	}
}

/* Starts the process s describes and replies 201: at once, or with ?wait=
 * once it has ended or the wait has passed. */
static enum MHD_Result spawn_and_reply(struct http_req *r, struct proc_spawn *s, bool has_wait, double wait)
{
	struct wait *w = NULL;
	char id[PROC_ID_MAX], location[64];
	if (has_wait) {
		/* Armed by proc_spawn() before the worker starts: it cannot miss the end. */
		if (!(w = wait_attach(r, "")))
			return out_of_memory(r);
		s->waiter = &w->waiter;
		s->wait_s = wait_slice(wait);
		s->wake = wait_fired;
	}
	int rc = proc_spawn(s, id);
	if (rc < 0)
		return reply_spawn_error(r, rc, s->target);
	snprintf(location, sizeof location, "/processes/%s", id);
	http_set_header(r, "Location", location);
	if (!w)
		return reply_record(r, 201, id);
	/* A wake that came already is kept by r until http_suspend(). */
	snprintf(w->id, sizeof w->id, "%s", id);
	w->deadline = wait_deadline_after(wait);
	return http_suspend(r, resume_create);
}

enum MHD_Result processes_create(struct http_req *r)
{
	enum MHD_Result res;
	struct create_request c;
	cJSON *details = NULL, *canonical = NULL, *more = NULL;
	char **envp = NULL, **argv = NULL;
	/* The worker's identity is filled in by the engine. */
	struct target_ctx ctx = { .id = "", .name = "" };
	double wait = 0;
	int has_wait = http_query_seconds(r, "wait", &wait);
	if (has_wait < 0)
		return http_reply_invalid(r, "wait", "must be a number of seconds from 0 to " NUMBER_SECONDS_MAX_TEXT);
	cJSON *body = body_json(r, &res);
	if (!body)
		return res;
	if (!cJSON_IsObject(body)) {
		res = http_reply_error(r, 400, "invalid_argument", NULL,
			"the request body must be a JSON object such as {\"target\": \"worker\"}");
		goto out;
	}
	check_fields(body, &c, &details);

	/* An unknown target is a missing resource; everything else wrong with the
	 * request is reported at once, one details entry per field. */
	const struct target *t = cJSON_IsString(c.target) ? target_find(c.target->valuestring) : NULL;
	if (cJSON_IsString(c.target) && !t) {
		res = http_reply_error(r, 404, "not_found", NULL, "no target named \"%.128s\" (see GET /targets)",
				       c.target->valuestring);
		goto out;
	}
	/* Out of memory (no details) is a 500, never a spawn without the arguments. */
	if (t && target_validate(t, cJSON_IsNull(c.args) ? NULL : c.args, &canonical, &more) < 0) {
		if (!more) {
			res = http_reply_error(r, 500, "internal", NULL, "out of memory");
			goto out;
		}
		details = merge_details(details, more);
	}
	more = NULL;
	if (t && target_build_env(t, cJSON_IsObject(c.env) ? c.env : NULL, &ctx, &envp, &more) < 0) {
		if (!more) {
			res = out_of_memory(r);
			goto out;
		}
		details = merge_details(details, more);
	}
	if (details) {
		res = http_reply_error(r, 400, "invalid_argument", details, "the request has invalid fields");
		details = NULL;
		goto out;
	}
	if (t->kind == TARGET_EXEC && target_build_argv(t, canonical, &argv) < 0) {
		res = http_reply_error(r, 500, "internal", NULL, "could not build the command line of %s", t->name);
		goto out;
	}

	struct proc_spawn s = {
		.target = t,
		.args_sent = c.args && !cJSON_IsNull(c.args) ? c.args : NULL,
		.canonical = canonical,
		.name = cJSON_IsString(c.name) ? c.name->valuestring : NULL,
		.daemon = cJSON_IsTrue(c.daemon),
		.timeout = effective_timeout(c.timeout, t),
		.stdin_data = cJSON_IsString(c.stdin_data) ? c.stdin_data->valuestring : NULL,
		.stdin_open = cJSON_IsTrue(c.stdin_open),
		.envp = envp,
		.argv = argv,
	};
	res = spawn_and_reply(r, &s, has_wait > 0, wait);
out:
	target_free_argv(argv);
	target_free_argv(envp);
	cJSON_Delete(canonical);
	cJSON_Delete(details);
	cJSON_Delete(body);
	return res;
}

/* ---- read ---------------------------------------------------------------- */

enum MHD_Result processes_get(struct http_req *r)
{
	return reply_record(r, 200, r->params[0]);
}

enum MHD_Result processes_list(struct http_req *r)
{
	static const char *const states[] = { "queued", "running", "exited", "failed", "lost", NULL };
	struct proc_filter f = {
		.state = http_query(r, "state"),
		.target = http_query(r, "target"),
		.name = http_query(r, "name"),
		.after = http_query(r, "after"),
		.alive = -1,
		.limit = 100,
	};
	const char *alive = http_query(r, "alive");
	if (alive && strcmp(alive, "true") != 0 && strcmp(alive, "false") != 0)
		return http_reply_invalid(r, "alive", "must be true or false");
	if (alive)
		f.alive = strcmp(alive, "true") == 0;
	const char *limit = http_query(r, "limit");
	if (limit) {
		char *end;
		long n = strtol(limit, &end, 10);
		if (!*limit || *end || n < 1 || n > 1000)
			return http_reply_invalid(r, "limit", "must be an integer from 1 to 1000");
		f.limit = (int)n;
	}
	if (f.state) {
		bool ok = false;
		for (const char *const *s = states; *s && !ok; s++)
			ok = strcmp(*s, f.state) == 0;
		if (!ok)
			return http_reply_invalid(r, "state", "must be one of queued, running, exited, failed, lost");
	}
	int err = 0;
	cJSON *list = proc_list_json(&f, &err);
	if (!list && err == -EINVAL)
		return http_reply_invalid(r, "after", "is not a cursor this server gave out (use the \"next\" of a previous page)");
	if (!list)
		return http_reply_error(r, 500, "internal", NULL, "could not list the processes: %s", strerror(-err));
	return http_reply_json(r, 200, list);
}

/* ---- join ---------------------------------------------------------------- */

static enum MHD_Result resume_join(struct http_req *r)
{
	struct wait *w = r->state;
	double left = wait_left(w);
	if (left == 0)
		return reply_record(r, 200, w->id);
	if (stream_peer_gone(r->conn))
		return MHD_NO;          /* no one to answer: free the connection */
	int rc = proc_wait(w->id, wait_slice(left), &w->waiter, wait_fired);
	if (rc == -ENOENT)
		return not_found(r, w->id);
	if (rc == 0)
		return http_suspend(r, resume_join);
	return reply_record(r, 200, w->id);
}

enum MHD_Result processes_join(struct http_req *r)
{
	double timeout = -1;
	if (http_query_seconds(r, "timeout", &timeout) < 0)
		return http_reply_invalid(r, "timeout", "must be a number of seconds from 0 to " NUMBER_SECONDS_MAX_TEXT);
	struct wait *w = wait_attach(r, r->params[0]);
	if (!w)
		return out_of_memory(r);
	w->deadline = wait_deadline_after(timeout);
	return resume_join(r);
}

/* ---- signals ------------------------------------------------------------- */

static enum MHD_Result send_signal(struct http_req *r, int sig, enum proc_reason reason, bool ended_is_conflict)
{
	const char *id = r->params[0];
	int rc = proc_signal(id, sig, reason);
	if (rc == -ENOENT)
		return not_found(r, id);
	if (rc == -ESRCH) {
		if (ended_is_conflict)
			return http_reply_error(r, 409, "not_running", NULL, "process %s is not running", id);
		return reply_record(r, 200, id);        /* like multiprocessing: a no-op */
	}
	if (rc < 0)
		return http_reply_error(r, 500, "internal", NULL, "could not signal process %s: %s", id, strerror(-rc));
	return reply_record(r, 202, id);
}

enum MHD_Result processes_terminate(struct http_req *r)
{
	return send_signal(r, SIGTERM, PROC_REASON_TERMINATE, false);
}

enum MHD_Result processes_kill(struct http_req *r)
{
	return send_signal(r, SIGKILL, PROC_REASON_KILL, false);
}

enum MHD_Result processes_signal(struct http_req *r)
{
	static const char *const known[] = { "signal", NULL };
	enum MHD_Result res;
	cJSON *body = body_json(r, &res), *details = NULL;
	if (!body)
		return res;
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		return http_reply_error(r, 400, "invalid_argument", NULL,
					"the request body must be a JSON object such as {\"signal\": \"SIGUSR1\"}");
	}
	body_unknown_keys(body, known, &details);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(body, "signal");
	int sig = -1;
	int64_t number;
	if (cJSON_IsString(s))
		sig = signame_number(s->valuestring);
	else if (cJSON_IsNumber(s) && number_int64(s->valuedouble, &number) && number >= 1 && number <= 31)
		sig = (int)number;
	if (sig < 0)
		add_detail(&details, "signal", "must be a signal name such as \"SIGUSR1\" or a number from 1 to 31");
	cJSON_Delete(body);
	if (details)
		return http_reply_error(r, 400, "invalid_argument", details, "invalid signal request");
	return send_signal(r, sig, PROC_REASON_SIGNAL, true);
}

/* ---- stdin --------------------------------------------------------------- */

enum MHD_Result processes_stdin(struct http_req *r)
{
	const char *id = r->params[0], *eof = http_query(r, "eof");
	if (eof && strcmp(eof, "true") != 0 && strcmp(eof, "false") != 0)
		return http_reply_invalid(r, "eof", "must be true or false");
	ssize_t n = proc_write_stdin(id, r->body ? r->body : "", r->body_len, eof && strcmp(eof, "true") == 0);
	if (n == -ENOENT)
		return not_found(r, id);
	if (n == -ESRCH)
		return http_reply_error(r, 409, "not_running", NULL, "process %s is not running", id);
	if (n == -EPIPE)
		return http_reply_error(r, 409, "conflict", NULL,
			"the stdin of process %s is closed (start it with \"stdin_open\": true to write to it)", id);
	if (n == -ENOBUFS)
		return http_reply_error(r, 409, "conflict", NULL,
			"process %s has %d bytes of stdin pending already: retry once it has read them", id, PROC_STDIN_MAX);
	if (n < 0)
		return http_reply_error(r, 500, "internal", NULL, "could not write to process %s: %s", id, strerror((int)-n));
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "bytes", (double)n);
	return http_reply_json(r, 202, j);
}

/* ---- delete -------------------------------------------------------------- */

static enum MHD_Result resume_delete(struct http_req *r)
{
	struct wait *w = r->state;
	cJSON *final = NULL;
	/* A client gone mid-wait leaves the process terminated (its SIGKILL
	 * after the grace still comes) and the record in place. */
	if (stream_peer_gone(r->conn))
		return MHD_NO;
	int rc = proc_remove(w->id, w->grace, wait_slice(-1), &w->waiter, wait_fired, &final);
	if (rc == -ENOENT)
		return not_found(r, w->id);
	if (rc == 0)
		return http_suspend(r, resume_delete);
	return http_reply_json(r, 200, final);
}

enum MHD_Result processes_delete(struct http_req *r)
{
	double grace = DEFAULT_GRACE_S;
	if (http_query_seconds(r, "grace", &grace) < 0)
		return http_reply_invalid(r, "grace", "must be a number of seconds from 0 to " NUMBER_SECONDS_MAX_TEXT);
	struct wait *w = wait_attach(r, r->params[0]);
	if (!w)
		return out_of_memory(r);
	w->grace = grace;
	return resume_delete(r);
}
