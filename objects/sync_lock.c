/* sync_lock — /sync/locks (multiprocessing.Lock and RLock): one holder at a
 * time, with its fence; a reentrant lock counts its holder's acquires.
 * Waiters queue in arrival order and a release grants the lock to the oldest
 * one still there, and to no one else (no herd). Conditions (sync_condition.c)
 * park their re-acquiring waiters on the same queue.
 *
 * An outside client holds with a lease ("lease": S) and is known by the owner
 * id its acquire answer names; it re-enters a reentrant lock by sending that
 * owner back. A worker is known by its token and needs no lease.
 */
#include "objects/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/container.h"
#include "lib/number.h"
#include "lib/ts.h"

struct lock { bool reentrant; };

static bool reentrant(const struct obj *o) { return ((const struct lock *)o->state)->reentrant; }

static int lock_create(struct obj *o, const cJSON *options, struct obj_call *c)
{
	static const char *const known[] = { "reentrant", NULL };
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(options, "reentrant");
	if (obj_options_known(options, known, c) < 0)
		return -1;
	if (r && !cJSON_IsBool(r))
		return obj_fail(c, 400, "invalid_argument", "reentrant", "reentrant must be true or false");
	((struct lock *)o->state)->reentrant = cJSON_IsTrue(r);
	o->options = cJSON_CreateObject();
	cJSON_AddBoolToObject(o->options, "reentrant", cJSON_IsTrue(r));
	return 0;
}

struct obj *sync_lock_new_private(const char *name, bool is_reentrant)
{
	struct obj *o = calloc(1, sizeof *o);
	struct lock *l = calloc(1, sizeof *l);
	if (!o || !l) {
		free(o);
		free(l);
		return NULL;
	}
	o->kind = &sync_lock_kind;
	o->refs = 1;
	o->state = l;
	l->reentrant = is_reentrant;
	snprintf(o->name, sizeof o->name, "%s", name);
	o->options = cJSON_CreateObject();
	return o;
}

void sync_lock_describe(const struct obj *o, cJSON *into)
{
	cJSON_AddBoolToObject(into, "reentrant", reentrant(o));
	cJSON_AddBoolToObject(into, "locked", o->grants != NULL);
	cJSON_AddItemToObject(into, "holders", obj_holders_json(o));
	cJSON_AddNumberToObject(into, "waiters", (double)obj_waiting(o, 0));
	cJSON_AddNumberToObject(into, "fence", (double)o->fence);
}

static cJSON *acquired(bool yes)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "acquired", yes);
	return j;
}

static cJSON *lock_timeout_result(void) { return acquired(false); }

void sync_lock_serve(struct obj *o)
{
	struct obj_waiter *w;
	while (!o->grants && (w = obj_peek_alive(o, 0))) {
		cJSON *result = acquired(true);
		if (w->op == SYNC_COND_REACQUIRE)
			cJSON_AddBoolToObject(result, "notified", w->timed_flag);
		obj_grant_waiter(o, w, w->n > 0 ? w->n : 1, result);
	}
}

int sync_lock_acquire(struct obj *o, struct obj_call *c)
{
	struct obj_owner owner = { 0 };
	double lease;
	if (obj_call_lease(c, &lease) < 0)
		return -1;
	obj_acquirer(c, &owner);
	struct obj_grant *g = o->grants;
	if (g && reentrant(o) && g->owner.worker == owner.worker && strcmp(g->owner.id, owner.id) == 0) {
		g->count++;
		if (g->expires_ms)
			g->expires_ms = ts_wall_ms() + number_ms(lease);
		c->result = acquired(true);
		obj_grant_json(g, c->result);
		cJSON_AddNumberToObject(c->result, "count", (double)g->count);
		return 0;
	}
	if (!g && !obj_peek_alive(o, 0)) {
		if (!(g = obj_grant_new(o, &owner, lease, 1)))
			return obj_fail(c, 500, "internal", NULL, "out of memory");
		c->result = acquired(true);
		obj_grant_json(g, c->result);
		return 0;
	}
	int r = obj_wait(o, 0, c);
	if (r == 1) {
		c->waiter->owner = owner;
		c->waiter->lease_s = lease;
		c->waiter->op = SYNC_ACQUIRE;
		c->waiter->n = 1;
	}
	return r;
}

/* The grant of o that c's caller names, or NULL with 400/409 in c. */
static struct obj_grant *callers_grant(struct obj *o, struct obj_call *c)
{
	struct obj_owner owner = { 0 };
	if (!obj_call_owner(c, &owner)) {
		obj_fail(c, 400, "invalid_argument", "owner", "owner is required: the owner the acquire answered");
		return NULL;
	}
	struct obj_grant *g = obj_grant_of(o, &owner);
	if (!g)
		obj_fail(c, 409, "not_owner", NULL, "%s does not hold %s (released, lapsed or never acquired)",
			 owner.id, o->name);
	return g;
}

int sync_lock_release(struct obj *o, struct obj_call *c)
{
	struct obj_grant *g = callers_grant(o, c);
	if (!g)
		return -1;
	c->result = cJSON_CreateObject();
	cJSON_AddBoolToObject(c->result, "released", true);
	cJSON_AddNumberToObject(c->result, "count", (double)--g->count);
	if (g->count <= 0)
		obj_grant_release(o, g);
	return 0;
}

int sync_lock_renew(struct obj *o, struct obj_call *c)
{
	double lease;
	struct obj_grant *g = callers_grant(o, c);
	if (!g || obj_call_lease(c, &lease) < 0)
		return -1;
	if (g->expires_ms)
		g->expires_ms = ts_wall_ms() + number_ms(lease);
	g->lease_s = lease;
	c->result = acquired(true);
	obj_grant_json(g, c->result);
	return 0;
}

static const struct obj_op lock_ops[] = {
	{ "acquire", sync_lock_acquire }, { "release", sync_lock_release }, { "renew", sync_lock_renew }, { NULL, NULL },
};

const struct obj_kind sync_lock_kind = {
	.folder = "sync/locks", .list_key = "locks", .state_size = sizeof(struct lock),
	.create = lock_create, .describe = sync_lock_describe, .serve = sync_lock_serve,
	.timeout_result = lock_timeout_result, .ops = lock_ops,
};
