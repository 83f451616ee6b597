/* sync_event — /sync/events (multiprocessing.Event): a durable flag; wait
 * returns at once when it is set, else waits until set (every waiter is
 * answered by the one set: none is lost, QUALITY 23) or its timeout
 * ({"set": false}). No grants: nothing is owned. */
#include "objects/sync.h"

#include <stdlib.h>

struct event { bool set; };

static struct event *ev(const struct obj *o) { return o->state; }

static int event_create(struct obj *o, const cJSON *options, struct obj_call *c)
{
	static const char *const known[] = { NULL };
	if (obj_options_known(options, known, c) < 0)
		return -1;
	o->options = cJSON_CreateObject();
	return 0;
}

static void event_describe(const struct obj *o, cJSON *into)
{
	cJSON_AddBoolToObject(into, "set", ev(o)->set);
	cJSON_AddNumberToObject(into, "waiters", (double)obj_waiting(o, 0));
}

static cJSON *set_answer(bool set)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "set", set);
	return j;
}

static cJSON *event_save(const struct obj *o) { return set_answer(ev(o)->set); }

static void event_load(struct obj *o, const cJSON *state)
{
	ev(o)->set = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "set"));
}

static cJSON *event_timeout_result(void) { return set_answer(false); }

static void event_serve(struct obj *o)
{
	struct obj_waiter *w;
	while (ev(o)->set && (w = obj_peek_alive(o, 0)))
		obj_finish(w, OBJ_DONE, set_answer(true));
}

static int op_set(struct obj *o, struct obj_call *c)
{
	if (!ev(o)->set) {
		ev(o)->set = true;
		obj_save(o);
	}
	event_serve(o);
	c->result = set_answer(true);
	return 0;
}

static int op_clear(struct obj *o, struct obj_call *c)
{
	if (ev(o)->set) {
		ev(o)->set = false;
		obj_save(o);
	}
	c->result = set_answer(false);
	return 0;
}

static int op_wait(struct obj *o, struct obj_call *c)
{
	if (ev(o)->set) {
		c->result = set_answer(true);
		return 0;
	}
	return obj_wait(o, 0, c);
}

static const struct obj_op event_ops[] = {
	{ "set", op_set }, { "clear", op_clear }, { "wait", op_wait }, { NULL, NULL },
};

const struct obj_kind sync_event_kind = {
	.folder = "sync/events", .list_key = "events", .state_size = sizeof(struct event),
	.create = event_create, .describe = event_describe, .save = event_save, .load = event_load,
	.serve = event_serve, .timeout_result = event_timeout_result, .ops = event_ops,
};
