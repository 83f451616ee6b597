/* sync_barrier — /sync/barriers (multiprocessing.Barrier): parties waiters
 * meet; when the last one arrives every one of them is answered its index
 * (0 to parties - 1, in arrival order) and the barrier starts over. A waiter
 * that times out, or abort, breaks it: every waiter then, and every later
 * wait until reset, gets {"broken": true}. A waiter whose client vanished
 * does not count as arrived.
 */
#include "objects/sync.h"

#include <math.h>

#include "lib/container.h"

struct barrier {
	long parties;
	bool broken;
};

static struct barrier *bar(const struct obj *o) { return o->state; }

static int bar_create(struct obj *o, const cJSON *options, struct obj_call *c)
{
	static const char *const known[] = { "parties", NULL };
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(options, "parties");
	if (obj_options_known(options, known, c) < 0)
		return -1;
	if (!(cJSON_IsNumber(p) && p->valuedouble >= 1 && p->valuedouble <= 100000 &&
	      p->valuedouble == floor(p->valuedouble)))
		return obj_fail(c, 400, "invalid_argument", "parties", "parties is required: an integer from 1 to 100000");
	bar(o)->parties = (long)p->valuedouble;
	o->options = cJSON_CreateObject();
	cJSON_AddNumberToObject(o->options, "parties", (double)bar(o)->parties);
	return 0;
}

static void bar_describe(const struct obj *o, cJSON *into)
{
	cJSON_AddNumberToObject(into, "parties", (double)bar(o)->parties);
	cJSON_AddNumberToObject(into, "waiting", (double)obj_waiting(o, 0));
	cJSON_AddBoolToObject(into, "broken", bar(o)->broken);
}

static cJSON *broken(void)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "broken", true);
	return j;
}

static cJSON *index_answer(long i)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "index", (double)i);
	return j;
}

static void break_all(struct obj *o)
{
	bar(o)->broken = true;
	while (o->queues[0].head)
		obj_finish(container_of(o->queues[0].head, struct obj_waiter, entry), OBJ_DONE, broken());
}

static void bar_timed_out(struct obj *o, struct obj_waiter *w)
{
	(void)w;
	break_all(o);
}

static void bar_serve(struct obj *o) { (void)o; }

/* The waiters there, after dropping those whose client has gone. */
static long arrived(struct obj *o)
{
	long n = 0;
	for (struct waitq_entry *e = o->queues[0].head, *next; e; e = next) {
		next = e->next;
		struct obj_waiter *w = container_of(e, struct obj_waiter, entry);
		if (w->alive && !w->alive(w))
			obj_finish(w, OBJ_GONE, NULL);
		else
			n++;
	}
	return n;
}

static int op_wait(struct obj *o, struct obj_call *c)
{
	if (bar(o)->broken) {
		c->result = broken();
		return 0;
	}
	long n = arrived(o);
	if (n + 1 < bar(o)->parties) {
		if (c->timeout_s <= 0) {        /* it would time out at once: that breaks it */
			break_all(o);
			c->result = broken();
			return 0;
		}
		return obj_wait(o, 0, c);
	}
	for (long i = 0; i < n; i++)
		obj_finish(container_of(o->queues[0].head, struct obj_waiter, entry), OBJ_DONE, index_answer(i));
	c->result = index_answer(n);
	return 0;
}

static int op_abort(struct obj *o, struct obj_call *c)
{
	break_all(o);
	c->result = broken();
	return 0;
}

static int op_reset(struct obj *o, struct obj_call *c)
{
	break_all(o);           /* who waits now sees it broken, as in multiprocessing */
	bar(o)->broken = false;
	c->result = cJSON_CreateObject();
	cJSON_AddBoolToObject(c->result, "broken", false);
	return 0;
}

static const struct obj_op bar_ops[] = {
	{ "wait", op_wait }, { "abort", op_abort }, { "reset", op_reset }, { NULL, NULL },
};

const struct obj_kind sync_barrier_kind = {
	.folder = "sync/barriers", .list_key = "barriers", .state_size = sizeof(struct barrier),
	.create = bar_create, .describe = bar_describe, .serve = bar_serve, .timed_out = bar_timed_out,
	.timeout_result = broken, .ops = bar_ops,
};
