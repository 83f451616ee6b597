/* worker_api — the shared-object functions of include/spawnd_target.h, which
 * C targets (builtin and plugin) call in their worker.
 *
 * Each function is one request through targets/worker_http.c and one look at
 * the answer. The answer's shape is the HTTP API's (API.md "Shared objects"),
 * so this file only maps it: outcome fields to 1/0, statuses to negative
 * errno values (errno_of()), values back to JSON text.
 *
 * Values are taken as JSON text and checked with cJSON before they are put in
 * a body, so a caller's text can never close the body's object early and add
 * fields of its own; the text sent is the caller's own (its numbers exactly as
 * written). Values coming back are printed with number_print_json(), so an
 * integer stays digits.
 *
 * SPAWND_FOREVER loops over the server's longest wait: each round trip times
 * out harmlessly (nothing is taken by a wait that answers "not yet"), so
 * looping is the same as one longer wait. Not for barriers, where a timeout
 * breaks the barrier.
 *
 * Linked into spawnd and into the fork server (whose workers call it), and
 * exported to plugins by targets/plugin.dynlist.
 */
#define _GNU_SOURCE
#include "include/spawnd_target.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "lib/number.h"
#include "targets/worker_http.h"

#define PATH_MAX_LEN 1024

static const char *const folders[] = {
	[SPAWND_QUEUE] = "queues", [SPAWND_EVENT] = "sync/events", [SPAWND_LOCK] = "sync/locks",
	[SPAWND_SEMAPHORE] = "sync/semaphores", [SPAWND_CONDITION] = "sync/conditions",
	[SPAWND_BARRIER] = "sync/barriers", [SPAWND_NAMESPACE] = "namespaces",
};

static int errno_of(const struct worker_reply *r)
{
	switch (r->status) {
	case 400: return -EINVAL;
	case 401: return -EACCES;
	case 403: return -EPERM;
	case 404: return -ENOENT;
	case 409: return strcmp(r->code, "not_owner") == 0 ? -EPERM : -EEXIST;
	case 412: return -ESTALE;
	case 413: return -E2BIG;
	case 429: return -EAGAIN;
	case 503: return strcmp(r->code, "shutting_down") == 0 ? -ESHUTDOWN : -EAGAIN;
	default: return -EIO;
	}
}

/* The name rule of objects and keys (a target's): 1-128 characters of
 * [A-Za-z0-9_.-], not starting with '.' or '-'. Checked here, so a name never
 * needs escaping in a path (a decoded "%2F" would route elsewhere). */
static bool name_valid(const char *name)
{
	size_t n = name ? strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") : 0;
	return n >= 1 && n <= 128 && !name[n] && name[0] != '.' && name[0] != '-';
}

/* "/FOLDER/NAME[/OP][?timeout=T]"; timeout < 0: none. 0 or -errno. */
static int object_path(char *buf, enum spawnd_object_kind kind, const char *name, const char *op, double timeout)
{
	if ((unsigned)kind >= sizeof folders / sizeof *folders || !name_valid(name) || isnan(timeout))
		return -EINVAL;
	int n = snprintf(buf, PATH_MAX_LEN, "/%s/%s%s%s", folders[kind], name, op ? "/" : "", op ? op : "");
	if (timeout >= 0)
		n += snprintf(buf + n, PATH_MAX_LEN - (size_t)n, op && strchr(op, '?') ? "&timeout=%.6f" : "?timeout=%.6f",
			      timeout > NUMBER_SECONDS_MAX ? NUMBER_SECONDS_MAX : timeout);
	return 0;
}

/* One request; 0 with *rep (caller frees rep->json) on a 2xx answer, else -errno. */
static int request(const char *method, const char *path, const char *body, struct worker_reply *rep)
{
	int r = worker_http_call(method, path, body, body ? strlen(body) : 0, rep);
	if (r == 0 && (rep->status < 200 || rep->status > 299)) {
		r = errno_of(rep);
		cJSON_Delete(rep->json);
		rep->json = NULL;
	}
	return r;
}

/* POST /FOLDER/NAME/OP[?timeout] with body; *json gets the answer (caller frees). */
static int op(enum spawnd_object_kind kind, const char *name, const char *opname, double timeout,
	      const char *body, cJSON **json)
{
	char path[PATH_MAX_LEN];
	struct worker_reply rep;
	int r = object_path(path, kind, name, opname, timeout);
	if (r == 0)
		r = request("POST", path, body, &rep);
	*json = r == 0 ? rep.json : NULL;
	return r;
}

static bool field_true(const cJSON *json, const char *field)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, field));
}

/* An operation whose answer is one boolean outcome field: 1, 0 or -errno.
 * A negative timeout repeats it until the outcome is true. */
static int op_outcome(enum spawnd_object_kind kind, const char *name, const char *opname, double timeout,
		      const char *body, const char *field, bool want, cJSON **json)
{
	for (;;) {
		cJSON *j;
		int r = op(kind, name, opname, timeout, body, &j);
		if (r < 0)
			return r;
		bool done = field_true(j, field) == want;
		if (done || timeout >= 0) {
			if (json)
				*json = j;
			else
				cJSON_Delete(j);
			return done ? 1 : 0;
		}
		cJSON_Delete(j);
	}
}

static int op_plain(enum spawnd_object_kind kind, const char *name, const char *opname, const char *body)
{
	cJSON *j;
	int r = op(kind, name, opname, -1, body, &j);
	cJSON_Delete(j);
	return r;
}

/* NULL-safe JSON-text check: one whole value. */
static bool json_valid(const char *text)
{
	const char *end;
	cJSON *j = text ? cJSON_ParseWithOpts(text, &end, true) : NULL;
	cJSON_Delete(j);
	return j != NULL;
}

/* "{"<field>": <text>}" (text checked), malloc'd, or NULL. */
static char *wrap(const char *field, const char *text)
{
	char *s;
	return asprintf(&s, "{\"%s\": %s}", field, text) < 0 ? NULL : s;
}

static int print_value(const cJSON *v, char **out)
{
	*out = v ? number_print_json(v) : NULL;
	return *out ? 0 : v ? -ENOMEM : -EIO;
}

static void read_grant(const cJSON *j, struct spawnd_grant *grant)
{
	const cJSON *fence = cJSON_GetObjectItemCaseSensitive(j, "fence");
	if (!grant)
		return;
	int64_t n = 0;
	grant->fence = cJSON_IsNumber(fence) && number_int64(fence->valuedouble, &n) ? n : 0;
	grant->abandoned = field_true(j, "abandoned");
}

/* ---- objects ---- */

int spawnd_object_create(enum spawnd_object_kind kind, const char *name, const char *options_json)
{
	char path[PATH_MAX_LEN];
	struct worker_reply rep;
	const char *body = options_json ? options_json : "{}";
	int r = object_path(path, kind, name, NULL, -1);
	if (r < 0)
		return r;
	if (!json_valid(body))
		return -EINVAL;
	r = request("PUT", path, body, &rep);
	cJSON_Delete(rep.json);
	return r < 0 ? r : rep.status == 201;
}

int spawnd_object_delete(enum spawnd_object_kind kind, const char *name)
{
	char path[PATH_MAX_LEN];
	struct worker_reply rep;
	int r = object_path(path, kind, name, NULL, -1);
	if (r == 0 && (r = request("DELETE", path, NULL, &rep)) == 0)
		cJSON_Delete(rep.json);
	return r;
}

/* ---- queues ---- */

int spawnd_queue_put(const char *queue, const char *item_json, double timeout)
{
	if (!json_valid(item_json))
		return -EINVAL;
	char *body = wrap("item", item_json);
	int r = body ? op_outcome(SPAWND_QUEUE, queue, "put", timeout, body, "full", false, NULL) : -ENOMEM;
	free(body);
	return r;
}

int spawnd_queue_get(const char *queue, double timeout, char **item_json)
{
	cJSON *j = NULL;
	*item_json = NULL;
	int r = op_outcome(SPAWND_QUEUE, queue, "get", timeout, NULL, "empty", false, &j);
	if (r == 1) {
		int p = print_value(cJSON_GetObjectItemCaseSensitive(j, "item"), item_json);
		r = p < 0 ? p : 1;
	}
	cJSON_Delete(j);
	return r;
}

int spawnd_queue_get_many(const char *queue, int max, double timeout, char **items_json)
{
	char opname[32];
	cJSON *j = NULL;
	*items_json = NULL;
	if (max < 1 || max > 1000)
		return -EINVAL;
	snprintf(opname, sizeof opname, "get?max=%d", max);
	int r = op_outcome(SPAWND_QUEUE, queue, opname, timeout, NULL, "empty", false, &j);
	if (r == 1) {
		int p = print_value(cJSON_GetObjectItemCaseSensitive(j, "items"), items_json);
		r = p < 0 ? p : 1;
	}
	cJSON_Delete(j);
	return r;
}

int spawnd_queue_task_done(const char *queue)
{
	int r = op_plain(SPAWND_QUEUE, queue, "task_done", NULL);
	return r == -EEXIST ? -EOVERFLOW : r;
}

int spawnd_queue_join(const char *queue, double timeout)
{
	for (;;) {
		cJSON *j;
		int r = op(SPAWND_QUEUE, queue, "join", timeout, NULL, &j);
		if (r < 0)
			return r;
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "unfinished");
		bool done = cJSON_IsNumber(n) && n->valuedouble == 0;
		cJSON_Delete(j);
		if (done || timeout >= 0)
			return done;
	}
}

/* ---- events ---- */

int spawnd_event_set(const char *event) { return op_plain(SPAWND_EVENT, event, "set", NULL); }
int spawnd_event_clear(const char *event) { return op_plain(SPAWND_EVENT, event, "clear", NULL); }

int spawnd_event_wait(const char *event, double timeout)
{
	return op_outcome(SPAWND_EVENT, event, "wait", timeout, NULL, "set", true, NULL);
}

/* ---- locks, semaphores, conditions ---- */

static int acquire(enum spawnd_object_kind kind, const char *name, double timeout, struct spawnd_grant *grant)
{
	cJSON *j = NULL;
	int r = op_outcome(kind, name, "acquire", timeout, NULL, "acquired", true, &j);
	if (r == 1)
		read_grant(j, grant);
	cJSON_Delete(j);
	return r;
}

static int release(enum spawnd_object_kind kind, const char *name)
{
	int r = op_plain(kind, name, "release", NULL);
	return r == -EEXIST ? -EOVERFLOW : r;
}

int spawnd_lock_acquire(const char *lock, double timeout, struct spawnd_grant *grant)
{
	return acquire(SPAWND_LOCK, lock, timeout, grant);
}

int spawnd_lock_release(const char *lock) { return release(SPAWND_LOCK, lock); }

int spawnd_semaphore_acquire(const char *semaphore, double timeout, struct spawnd_grant *grant)
{
	return acquire(SPAWND_SEMAPHORE, semaphore, timeout, grant);
}

int spawnd_semaphore_release(const char *semaphore) { return release(SPAWND_SEMAPHORE, semaphore); }

int spawnd_condition_acquire(const char *condition, double timeout, struct spawnd_grant *grant)
{
	return acquire(SPAWND_CONDITION, condition, timeout, grant);
}

int spawnd_condition_release(const char *condition) { return release(SPAWND_CONDITION, condition); }

int spawnd_condition_wait(const char *condition, double timeout)
{
	return op_outcome(SPAWND_CONDITION, condition, "wait", timeout, NULL, "notified", true, NULL);
}

static int notify(const char *condition, const char *opname, const char *body)
{
	cJSON *j;
	int r = op(SPAWND_CONDITION, condition, opname, -1, body, &j);
	const cJSON *woken = cJSON_GetObjectItemCaseSensitive(j, "woken");
	if (r == 0)
		r = cJSON_IsNumber(woken) ? (int)woken->valueint : -EIO;
	cJSON_Delete(j);
	return r;
}

int spawnd_condition_notify(const char *condition, int n)
{
	char body[48];
	if (n < 0)
		return -EINVAL;
	snprintf(body, sizeof body, "{\"n\": %d}", n);
	return notify(condition, "notify", body);
}

int spawnd_condition_notify_all(const char *condition) { return notify(condition, "notify_all", NULL); }

/* ---- barriers ---- */

int spawnd_barrier_wait(const char *barrier, double timeout)
{
	cJSON *j;
	int r = op(SPAWND_BARRIER, barrier, "wait", timeout, NULL, &j);
	const cJSON *index = cJSON_GetObjectItemCaseSensitive(j, "index");
	if (r == 0)
		r = field_true(j, "broken") ? -EPIPE : cJSON_IsNumber(index) ? index->valueint : -EIO;
	cJSON_Delete(j);
	return r;
}

/* ---- namespaces ---- */

static int key_path(char *buf, const char *ns, const char *key)
{
	int r = object_path(buf, SPAWND_NAMESPACE, ns, "keys", -1);
	if (r == 0 && !name_valid(key))
		return -EINVAL;
	if (r == 0)
		snprintf(buf + strlen(buf), PATH_MAX_LEN - strlen(buf), "/%s", key);
	return r;
}

int spawnd_namespace_get(const char *ns, const char *key, char **value_json)
{
	char path[PATH_MAX_LEN];
	struct worker_reply rep;
	*value_json = NULL;
	int r = key_path(path, ns, key);
	if (r == 0 && (r = request("GET", path, NULL, &rep)) == 0) {
		r = print_value(cJSON_GetObjectItemCaseSensitive(rep.json, "value"), value_json);
		cJSON_Delete(rep.json);
	}
	return r;
}

int spawnd_namespace_set(const char *ns, const char *key, const char *value_json)
{
	char path[PATH_MAX_LEN];
	struct worker_reply rep;
	int r = key_path(path, ns, key);
	if (r == 0 && !json_valid(value_json))
		r = -EINVAL;
	if (r == 0 && (r = request("PUT", path, value_json, &rep)) == 0)
		cJSON_Delete(rep.json);
	return r;
}
