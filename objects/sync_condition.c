/* sync_condition — /sync/conditions (multiprocessing.Condition): bound to a
 * named lock ("lock": "L", looked up at each use, so either may be made
 * first and a restart loads them in any order), or to a reentrant lock of its
 * own (not in the registry; its fences are kept in the condition's row).
 *
 * wait: the caller must hold the lock; it is released (all of a reentrant
 * holder's depth), the waiter parks on the condition's queue, and on notify
 * or its timeout it moves to the lock's queue to take the lock again (no
 * deadline there: as in multiprocessing, wait returns only with the lock
 * held), answered {"notified": true|false} with its new grant. notify(n)
 * moves exactly the n oldest waiters still there (fewer if fewer wait).
 */
#include "objects/sync.h"

#include <math.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/container.h"

struct condition {
	char lock_name[OBJ_NAME_MAX];   /* "" : its own */
	struct obj *own;
};

static struct condition *cond(const struct obj *o) { return o->state; }

static int cond_create(struct obj *o, const cJSON *options, struct obj_call *c)
{
	static const char *const known[] = { "lock", NULL };
	const cJSON *lock = cJSON_GetObjectItemCaseSensitive(options, "lock");
	if (obj_options_known(options, known, c) < 0)
		return -1;
	if (lock && !cJSON_IsNull(lock) && !(cJSON_IsString(lock) && lock->valuestring[0] &&
					     strlen(lock->valuestring) < OBJ_NAME_MAX))
		return obj_fail(c, 400, "invalid_argument", "lock", "lock must be the name of a lock, or null");
	o->options = cJSON_CreateObject();
	if (cJSON_IsString(lock)) {
		snprintf(cond(o)->lock_name, OBJ_NAME_MAX, "%s", lock->valuestring);
		cJSON_AddStringToObject(o->options, "lock", lock->valuestring);
		return 0;
	}
	cJSON_AddNullToObject(o->options, "lock");
	if (!(cond(o)->own = sync_lock_new_private(o->name, true)))
		return obj_fail(c, 500, "internal", NULL, "out of memory");
	cond(o)->own->persist_as = o;
	return 0;
}

static void cond_release(struct obj *o)
{
	if (cond(o)->own)
		obj_unref(cond(o)->own);
}

/* Its lock, or NULL with 409 in c (c may be NULL). */
static struct obj *lock_of(const struct obj *o, struct obj_call *c)
{
	struct obj *l = cond(o)->own ? cond(o)->own : obj_find("sync/locks", cond(o)->lock_name);
	if (!l && c)
		obj_fail(c, 409, "conflict", NULL, "the lock %s of condition %s does not exist", cond(o)->lock_name,
			 o->name);
	return l;
}

static void cond_describe(const struct obj *o, cJSON *into)
{
	struct obj *l = lock_of(o, NULL);
	if (cond(o)->own)
		cJSON_AddNullToObject(into, "lock");
	else
		cJSON_AddStringToObject(into, "lock", cond(o)->lock_name);
	cJSON_AddBoolToObject(into, "locked", l && l->grants);
	cJSON_AddItemToObject(into, "holders", l ? obj_holders_json(l) : cJSON_CreateArray());
	cJSON_AddNumberToObject(into, "waiters", (double)obj_waiting(o, 0));
	cJSON_AddNumberToObject(into, "fence", l ? (double)l->fence : 0);
}

static cJSON *cond_save(const struct obj *o)
{
	cJSON *j = cJSON_CreateObject();
	if (cond(o)->own)
		cJSON_AddNumberToObject(j, "lock_fence", (double)cond(o)->own->fence_reserved);
	return j;
}

static void cond_load(struct obj *o, const cJSON *state)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(state, "lock_fence");
	if (cond(o)->own && cJSON_IsNumber(f))
		cond(o)->own->fence = cond(o)->own->fence_reserved = (uint64_t)f->valuedouble;
}

static cJSON *notified(bool yes)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "notified", yes);
	return j;
}

static cJSON *cond_timeout_result(void) { return notified(false); }

/* w leaves the condition's queue to take the lock again (no deadline). */
static void to_lock(struct obj *o, struct obj_waiter *w, bool was_notified)
{
	struct obj *l = lock_of(o, NULL);
	if (!l) {
		obj_finish(w, OBJ_REMOVED, NULL);
		return;
	}
	w->timed_flag = was_notified;
	waitq_cancel(&w->entry);
	waitq_arm(&l->queues[0], &w->entry, INT64_MAX, 0, NULL);
}

static void cond_timed_out(struct obj *o, struct obj_waiter *w)
{
	to_lock(o, w, false);
	struct obj *l = lock_of(o, NULL);
	if (l)
		sync_lock_serve(l);
}

static void cond_serve(struct obj *o) { (void)o; }

static struct obj *cond_inner(struct obj *o) { return cond(o)->own; }

static int op_acquire(struct obj *o, struct obj_call *c)
{
	struct obj *l = lock_of(o, c);
	return l ? sync_lock_acquire(l, c) : -1;
}

static int op_release(struct obj *o, struct obj_call *c)
{
	struct obj *l = lock_of(o, c);
	return l ? sync_lock_release(l, c) : -1;
}

static int op_renew(struct obj *o, struct obj_call *c)
{
	struct obj *l = lock_of(o, c);
	return l ? sync_lock_renew(l, c) : -1;
}

static int op_wait(struct obj *o, struct obj_call *c)
{
	struct obj_owner owner = { 0 };
	struct obj *l = lock_of(o, c);
	if (!l)
		return -1;
	struct obj_grant *g = obj_call_owner(c, &owner) ? obj_grant_of(l, &owner) : NULL;
	if (!g)
		return obj_fail(c, 409, "not_owner", NULL, "wait needs the lock held: %s does not hold it",
				owner.id[0] ? owner.id : "the caller");
	if (c->timeout_s <= 0) {        /* a poll: it keeps the lock */
		c->result = notified(false);
		cJSON_AddBoolToObject(c->result, "acquired", true);
		obj_grant_json(g, c->result);
		return 0;
	}
	long depth = g->count;
	double lease = g->lease_s;
	obj_grant_release(l, g);        /* the lock goes to its next waiter meanwhile */
	int r = obj_wait(o, 0, c);
	c->waiter->owner = owner;
	c->waiter->lease_s = lease;
	c->waiter->n = depth;
	c->waiter->op = SYNC_COND_REACQUIRE;
	return r;
}

static int notify(struct obj *o, struct obj_call *c, long n)
{
	struct obj *l = lock_of(o, c);
	struct obj_waiter *w;
	long woken = 0;
	if (!l)
		return -1;
	while (woken < n && (w = obj_peek_alive(o, 0))) {
		to_lock(o, w, true);
		woken++;
	}
	sync_lock_serve(l);
	c->result = cJSON_CreateObject();
	cJSON_AddNumberToObject(c->result, "woken", (double)woken);
	return 0;
}

static int op_notify(struct obj *o, struct obj_call *c)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(c->body, "n");
	if (n && !(cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble <= 1e9 &&
		   n->valuedouble == floor(n->valuedouble)))
		return obj_fail(c, 400, "invalid_argument", "n", "n must be an integer from 0 to 1000000000");
	return notify(o, c, n ? (long)n->valuedouble : 1);
}

static int op_notify_all(struct obj *o, struct obj_call *c) { return notify(o, c, LONG_MAX); }

static const struct obj_op cond_ops[] = {
	{ "acquire", op_acquire }, { "release", op_release }, { "renew", op_renew }, { "wait", op_wait },
	{ "notify", op_notify }, { "notify_all", op_notify_all }, { NULL, NULL },
};

const struct obj_kind sync_condition_kind = {
	.folder = "sync/conditions", .list_key = "conditions", .state_size = sizeof(struct condition),
	.create = cond_create, .describe = cond_describe, .release = cond_release, .save = cond_save,
	.load = cond_load, .serve = cond_serve, .timed_out = cond_timed_out, .timeout_result = cond_timeout_result,
	.inner = cond_inner, .ops = cond_ops,
};
