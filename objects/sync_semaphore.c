/* sync_semaphore — /sync/semaphores (multiprocessing.Semaphore and
 * BoundedSemaphore): value permits; each acquire takes one and is a grant of
 * its owner (a worker, or a client with a lease), so a holder that dies or
 * lapses gives its permits back. A release by a holder gives one of its
 * permits back; one by a caller that holds none raises the value, as
 * multiprocessing allows, except past the bound of a bounded semaphore
 * (409 conflict). The stored value counts the held permits as free: after a
 * restart, grants of the run before are gone and their permits back.
 */
#include "objects/sync.h"

#include <math.h>
#include <string.h>

#include "lib/number.h"
#include "lib/ts.h"

struct semaphore {
	long value;             /* free permits */
	long initial;
	bool bounded;
};

static struct semaphore *sem(const struct obj *o) { return o->state; }

static long held(const struct obj *o)
{
	long n = 0;
	for (const struct obj_grant *g = o->grants; g; g = g->next)
		n += g->count;
	return n;
}

static int sem_create(struct obj *o, const cJSON *options, struct obj_call *c)
{
	static const char *const known[] = { "value", "bounded", NULL };
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(options, "value");
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(options, "bounded");
	if (obj_options_known(options, known, c) < 0)
		return -1;
	if (v && !(cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e9 &&
		   v->valuedouble == floor(v->valuedouble)))
		return obj_fail(c, 400, "invalid_argument", "value", "value must be an integer from 0 to 1000000000");
	if (b && !cJSON_IsBool(b))
		return obj_fail(c, 400, "invalid_argument", "bounded", "bounded must be true or false");
	sem(o)->value = sem(o)->initial = v ? (long)v->valuedouble : 1;
	sem(o)->bounded = cJSON_IsTrue(b);
	o->options = cJSON_CreateObject();
	cJSON_AddNumberToObject(o->options, "value", (double)sem(o)->initial);
	cJSON_AddBoolToObject(o->options, "bounded", sem(o)->bounded);
	return 0;
}

static void sem_describe(const struct obj *o, cJSON *into)
{
	cJSON_AddNumberToObject(into, "value", (double)sem(o)->value);
	cJSON_AddNumberToObject(into, "initial", (double)sem(o)->initial);
	cJSON_AddBoolToObject(into, "bounded", sem(o)->bounded);
	cJSON_AddItemToObject(into, "holders", obj_holders_json(o));
	cJSON_AddNumberToObject(into, "waiters", (double)obj_waiting(o, 0));
	cJSON_AddNumberToObject(into, "fence", (double)o->fence);
}

static cJSON *sem_save(const struct obj *o)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "value", (double)(sem(o)->value + held(o)));
	return j;
}

static void sem_load(struct obj *o, const cJSON *state)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(state, "value");
	if (cJSON_IsNumber(v) && v->valuedouble >= 0)
		sem(o)->value = (long)v->valuedouble;
}

static cJSON *acquired(const struct obj *o, bool yes)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "acquired", yes);
	if (o)
		cJSON_AddNumberToObject(j, "value", (double)sem(o)->value);
	return j;
}

static cJSON *sem_timeout_result(void) { return acquired(NULL, false); }

static void sem_grant_lost(struct obj *o, struct obj_grant *g) { sem(o)->value += g->count; }

/* One more permit to an owner: its grant counts it (one grant per owner). */
static struct obj_grant *take_permit(struct obj *o, const struct obj_owner *owner, double lease)
{
	struct obj_grant *g = obj_grant_of(o, owner);
	sem(o)->value--;
	if (g) {
		g->count++;
		return g;
	}
	if (!(g = obj_grant_new(o, owner, lease, 1)))
		sem(o)->value++;
	return g;
}

static void sem_serve(struct obj *o)
{
	struct obj_waiter *w;
	while (sem(o)->value > 0 && (w = obj_peek_alive(o, 0))) {
		struct obj_grant *g = obj_grant_of(o, &w->owner);
		if (g) {                /* a second permit of one owner: no new grant */
			sem(o)->value--;
			g->count++;
			cJSON *r = acquired(o, true);
			obj_grant_json(g, r);
			obj_finish(w, OBJ_DONE, r);
			continue;
		}
		sem(o)->value--;
		obj_grant_waiter(o, w, 1, acquired(o, true));
	}
}

static int op_acquire(struct obj *o, struct obj_call *c)
{
	struct obj_owner owner = { 0 };
	double lease;
	if (obj_call_lease(c, &lease) < 0)
		return -1;
	obj_acquirer(c, &owner);
	if (sem(o)->value > 0 && !obj_peek_alive(o, 0)) {
		struct obj_grant *g = take_permit(o, &owner, lease);
		if (!g)
			return obj_fail(c, 500, "internal", NULL, "out of memory");
		c->result = acquired(o, true);
		obj_grant_json(g, c->result);
		return 0;
	}
	int r = obj_wait(o, 0, c);
	if (r == 1) {
		c->waiter->owner = owner;
		c->waiter->lease_s = lease;
	}
	return r;
}

static int op_release(struct obj *o, struct obj_call *c)
{
	struct obj_owner owner = { 0 };
	struct obj_grant *g = obj_call_owner(c, &owner) ? obj_grant_of(o, &owner) : NULL;
	if (g && g->count > 1) {
		g->count--;
		sem(o)->value++;
		sem_serve(o);
	} else if (g)
		obj_grant_release(o, g);
	else if (sem(o)->bounded && sem(o)->value + held(o) + 1 > sem(o)->initial)
		return obj_fail(c, 409, "conflict", NULL, "releasing %s would raise it past its bound %ld",
				o->name, sem(o)->initial);
	else {
		sem(o)->value++;        /* multiprocessing's Semaphore: anyone may release */
		obj_save(o);
		sem_serve(o);
	}
	c->result = cJSON_CreateObject();
	cJSON_AddBoolToObject(c->result, "released", true);
	cJSON_AddNumberToObject(c->result, "value", (double)sem(o)->value);
	return 0;
}

static int op_renew(struct obj *o, struct obj_call *c)
{
	struct obj_owner owner = { 0 };
	double lease;
	if (!obj_call_owner(c, &owner))
		return obj_fail(c, 400, "invalid_argument", "owner", "owner is required: the owner the acquire answered");
	struct obj_grant *g = obj_grant_of(o, &owner);
	if (!g)
		return obj_fail(c, 409, "not_owner", NULL, "%s holds no permit of %s", owner.id, o->name);
	if (obj_call_lease(c, &lease) < 0)
		return -1;
	if (g->expires_ms)
		g->expires_ms = ts_wall_ms() + number_ms(lease);
	c->result = acquired(o, true);
	obj_grant_json(g, c->result);
	return 0;
}

static const struct obj_op sem_ops[] = {
	{ "acquire", op_acquire }, { "release", op_release }, { "renew", op_renew }, { NULL, NULL },
};

const struct obj_kind sync_semaphore_kind = {
	.folder = "sync/semaphores", .list_key = "semaphores", .state_size = sizeof(struct semaphore),
	.create = sem_create, .describe = sem_describe, .save = sem_save, .load = sem_load,
	.grant_lost = sem_grant_lost, .serve = sem_serve, .timeout_result = sem_timeout_result, .ops = sem_ops,
};
