/* holders — grants and waiters of a shared object (kind.h).
 *
 * A grant is given only to an owner that can still take it: a worker whose
 * token is valid (engine/worker.h; the end hook runs after the token is
 * revoked, so a worker that ended is either refused here or released by the
 * hook) and a waiter whose client is still connected (w->alive, a poll of its
 * socket: a client that closed its connection while it waited takes nothing).
 * A grant that lapses or whose worker ended is "lost": the kind gets the
 * permit back and the next holder is told "abandoned".
 */
#define _GNU_SOURCE
#include "objects/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "engine/worker.h"
#include "lib/container.h"
#include "lib/log.h"
#include "lib/number.h"
#include "lib/ts.h"

#define FENCE_RESERVE 1024      /* fences handed out per write of the high-water mark */

int obj_fail(struct obj_call *c, int status, const char *code, const char *field, const char *fmt, ...)
{
	va_list ap;
	c->status = status;
	c->code = code;
	snprintf(c->field, sizeof c->field, "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof c->message, fmt, ap);
	va_end(ap);
	return -1;
}

int obj_options_known(const cJSON *options, const char *const *known, struct obj_call *c)
{
	const cJSON *item;
	cJSON_ArrayForEach(item, options) {
		const char *const *k = known;
		while (*k && strcmp(*k, item->string) != 0)
			k++;
		if (!*k)
			return obj_fail(c, 400, "invalid_argument", item->string, "unknown option %.64s", item->string);
	}
	return 0;
}

static bool owner_live(const struct obj_owner *owner)
{
	return !owner->worker || worker_running(owner->id);
}

static uint64_t next_fence(struct obj *o)
{
	if (++o->fence > o->fence_reserved) {
		o->fence_reserved = o->fence + FENCE_RESERVE;
		obj_save(o);
	}
	return o->fence;
}

struct obj_grant *obj_grant_new(struct obj *o, const struct obj_owner *owner, double lease_s, long count)
{
	struct obj_grant *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->owner = *owner;
	g->fence = next_fence(o);
	g->lease_s = owner->worker ? 0 : lease_s;
	g->expires_ms = owner->worker ? 0 : ts_wall_ms() + number_ms(lease_s);
	g->count = count;
	g->abandoned = o->abandoned;
	o->abandoned = false;
	struct obj_grant **tail = &o->grants;
	while (*tail)
		tail = &(*tail)->next;
	*tail = g;
	return g;
}

struct obj_grant *obj_grant_of(struct obj *o, const struct obj_owner *owner)
{
	for (struct obj_grant *g = o->grants; g; g = g->next)
		if (g->owner.worker == owner->worker && strcmp(g->owner.id, owner->id) == 0)
			return g;
	return NULL;
}

void obj_grant_json(const struct obj_grant *g, cJSON *into)
{
	char ts[TS_RFC3339_LEN];
	cJSON_AddStringToObject(into, "owner", g->owner.id);
	cJSON_AddNumberToObject(into, "fence", (double)g->fence);
	if (g->expires_ms) {
		ts_format(g->expires_ms, ts);
		cJSON_AddStringToObject(into, "expires_at", ts);
	} else
		cJSON_AddNullToObject(into, "expires_at");
	cJSON_AddBoolToObject(into, "abandoned", g->abandoned);
}

cJSON *obj_holders_json(const struct obj *o)
{
	cJSON *a = cJSON_CreateArray();
	for (const struct obj_grant *g = o->grants; g; g = g->next) {
		cJSON *h = cJSON_CreateObject();
		obj_grant_json(g, h);
		cJSON_AddBoolToObject(h, "worker", g->owner.worker);
		cJSON_AddNumberToObject(h, "count", (double)g->count);
		cJSON_AddItemToArray(a, h);
	}
	return a;
}

/* Unlinks g and gives its permit back; abandoned: its holder did not release it. */
static void take_back(struct obj *o, struct obj_grant *g, bool abandoned)
{
	for (struct obj_grant **pp = &o->grants; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	if (abandoned) {
		o->abandoned = true;
		obj_count_abandoned(o->kind);
	}
	if (o->kind->grant_lost)
		o->kind->grant_lost(o, g);
	free(g);
}

void obj_grant_release(struct obj *o, struct obj_grant *g)
{
	take_back(o, g, false);
	o->kind->serve(o);
}

void obj_undo_grant(struct obj *o, uint64_t fence)
{
	for (struct obj_grant *g = o->grants; g; g = g->next)
		if (g->fence == fence) {
			obj_grant_release(o, g);
			return;
		}
}

void obj_lapse(struct obj *o, int64_t now)
{
	bool lost = false;
	for (struct obj_grant *g = o->grants, *next; g; g = next) {
		next = g->next;
		if (g->expires_ms && g->expires_ms <= now) {
			log_event(LOG_INFO, "lease lapsed", "kind=%s name=%s fence=%llu", o->kind->folder, o->name,
				  (unsigned long long)g->fence);
			take_back(o, g, true);
			lost = true;
		}
	}
	if (lost)
		o->kind->serve(o);
}

void obj_owner_ended(struct obj *o, const char *id)
{
	bool lost = false;
	for (struct obj_grant *g = o->grants, *next; g; g = next) {
		next = g->next;
		if (g->owner.worker && strcmp(g->owner.id, id) == 0) {
			take_back(o, g, true);
			lost = true;
		}
	}
	for (int q = 0; q < OBJ_QUEUES; q++)
		for (struct waitq_entry *e = o->queues[q].head, *next; e; e = next) {
			next = e->next;
			struct obj_waiter *w = container_of(e, struct obj_waiter, entry);
			if (w->owner.worker && strcmp(w->owner.id, id) == 0)
				obj_finish(w, OBJ_GONE, NULL);
		}
	if (lost)
		o->kind->serve(o);
}

bool obj_call_owner(const struct obj_call *c, struct obj_owner *out)
{
	const cJSON *owner = cJSON_GetObjectItemCaseSensitive(c->body, "owner");
	if (c->caller->worker && (!cJSON_IsString(owner) || strcmp(owner->valuestring, c->caller->id) == 0)) {
		*out = *c->caller;
		return true;
	}
	if (!cJSON_IsString(owner) || strlen(owner->valuestring) >= sizeof out->id)
		return false;
	out->worker = false;    /* a named owner is a client's lease: a worker's grant is its own */
	snprintf(out->id, sizeof out->id, "%s", owner->valuestring);
	return true;
}

int obj_call_lease(struct obj_call *c, double *lease_s)
{
	const cJSON *lease = cJSON_GetObjectItemCaseSensitive(c->body, "lease");
	*lease_s = 0;
	if (lease && !cJSON_IsNull(lease)) {
		if (!cJSON_IsNumber(lease) || !(lease->valuedouble > 0) || lease->valuedouble > NUMBER_SECONDS_MAX)
			return obj_fail(c, 400, "invalid_argument", "lease",
					"lease must be a number of seconds above 0, at most " NUMBER_SECONDS_MAX_TEXT);
		*lease_s = lease->valuedouble;
	}
	if (!c->caller->worker && *lease_s == 0)
		return obj_fail(c, 400, "invalid_argument", "lease",
				"a caller that is not a worker must give a lease (seconds): nothing would release it");
	return 0;
}

/* ---- waiters ------------------------------------------------------------- */

int obj_wait(struct obj *o, int queue, struct obj_call *c)
{
	struct obj_waiter *w = c->waiter;
	if (c->timeout_s <= 0 || !w) {          /* a poll: the false outcome at once */
		c->result = o->kind->timeout_result();
		return 0;
	}
	w->obj = o;
	o->refs++;
	w->owner = *c->caller;
	w->outcome = OBJ_WAITING;
	waitq_arm(&o->queues[queue], &w->entry, ts_mono_ms() + number_ms(c->timeout_s), 0, NULL);
	return 1;
}

void obj_grant_waiter(struct obj *o, struct obj_waiter *w, long count, cJSON *result)
{
	struct obj_grant *g = obj_grant_new(o, &w->owner, w->lease_s, count);
	if (!g) {
		cJSON_Delete(result);
		return;         /* out of memory: it waits on (until its deadline) */
	}
	w->fence = g->fence;
	w->grant_obj = o;
	o->refs++;
	obj_grant_json(g, result);
	obj_finish(w, OBJ_DONE, result);
}

void obj_client_owner(struct obj_owner *out)
{
	static uint64_t counter;
	uint64_t r = 0;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
		r = (uint64_t)ts_mono_ms() * 2654435761u;
	r ^= ++counter;         /* distinct even if the random source failed */
	out->worker = false;
	snprintf(out->id, sizeof out->id, "c-%016llx", (unsigned long long)r);
}

void obj_acquirer(const struct obj_call *c, struct obj_owner *out)
{
	const cJSON *owner = cJSON_GetObjectItemCaseSensitive(c->body, "owner");
	if (c->caller->worker)
		*out = *c->caller;
	else if (cJSON_IsString(owner) && strncmp(owner->valuestring, "c-", 2) == 0 &&
		 strlen(owner->valuestring) < sizeof out->id) {
		out->worker = false;
		snprintf(out->id, sizeof out->id, "%s", owner->valuestring);
	} else
		obj_client_owner(out);
}

void obj_finish(struct obj_waiter *w, enum obj_outcome outcome, cJSON *result)
{
	waitq_cancel(&w->entry);
	w->outcome = outcome;
	cJSON_Delete(w->result);
	w->result = result;
	objects_batch_push(w);
}

struct obj_waiter *obj_peek_alive(struct obj *o, int queue)
{
	struct waitq_entry *e;
	while ((e = o->queues[queue].head)) {
		struct obj_waiter *w = container_of(e, struct obj_waiter, entry);
		if (owner_live(&w->owner) && (!w->alive || w->alive(w)))
			return w;
		obj_finish(w, OBJ_GONE, NULL);
	}
	return NULL;
}

size_t obj_waiting(const struct obj *o, int queue)
{
	size_t n = 0;
	for (const struct waitq_entry *e = o->queues[queue].head; e; e = e->next)
		n++;
	return n;
}

void obj_tick_waiters(struct obj *o, int64_t mono_now, bool look_at_clients)
{
	bool left = false;
	for (int q = 0; q < OBJ_QUEUES; q++)
		for (struct waitq_entry *e = o->queues[q].head, *next; e; e = next) {
			next = e->next;
			struct obj_waiter *w = container_of(e, struct obj_waiter, entry);
			if (look_at_clients && w->alive && !w->alive(w)) {
				obj_finish(w, OBJ_GONE, NULL);
				left = true;
			} else if (e->deadline_ms <= mono_now) {
				if (o->kind->timed_out) {
					/* It may finish other waiters too (a barrier breaks for
					 * all), next among them: look again from the head. */
					o->kind->timed_out(o, w);
					next = o->queues[q].head;
				} else
					obj_finish(w, OBJ_DONE, o->kind->timeout_result());
				left = true;
			}
		}
	/* Not from inside the loop: serve() may finish the entry next points at. */
	if (left && o->kind->serve_after_tick)
		o->kind->serve(o);
}
