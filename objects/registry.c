/* registry — the shared objects' registry (objects.h): the objects lock, the
 * list of objects, creating, describing, removing, dispatching operations,
 * the batch of finished waiters, and the timer thread.
 *
 * Why a lock of its own, not the engine's: shared objects never touch a
 * process record, and a busy lock or queue must not slow the engine thread
 * that drains workers' output. The store is written under the engine lock
 * (store.h's rule), taken inside this one; the engine never calls in here
 * with its lock held (its end hook runs from its batch, outside the lock).
 *
 * Why a timer thread: deadlines of waits and lapses of leases must be acted
 * on when no request comes; one thread looks at every object every TICK_MS
 * (granting what a lapse frees) and at every waiting client's socket every
 * heartbeat. A waiting request never holds a thread: it is a suspended
 * connection with a waiter on an object's queue.
 *
 * Persistence is objects/persist.c's.
 */
#define _GNU_SOURCE
#include "objects/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/worker.h"
#include "lib/container.h"
#include "lib/log.h"
#include "lib/ts.h"

#define TICK_MS 50

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tick_cond = PTHREAD_COND_INITIALIZER;
static struct obj *objects;
static struct obj_waiter *batch_head, *batch_tail;
static double heartbeat_s = 15;
static pthread_t timer;
static bool timer_started, stopping;

/* Grants taken back from dead or lapsed holders, by kind (objects_kinds[] order). */
#define KINDS_MAX 16
static uint64_t abandoned_total[KINDS_MAX];

struct obj *objects_first(void) { return objects; }

void objects_link(struct obj *o)
{
	o->next = objects;
	objects = o;
}

void objects_batch_push(struct obj_waiter *w)
{
	w->fire_next = NULL;
	if (batch_tail)
		batch_tail->fire_next = w;
	else
		batch_head = w;
	batch_tail = w;
}

/* Drops the lock, then runs the callbacks of the waiters finished under it. */
static void unlock_and_fire(void)
{
	struct obj_waiter *w = batch_head;
	batch_head = batch_tail = NULL;
	pthread_mutex_unlock(&lock);
	while (w) {
		struct obj_waiter *next = w->fire_next;   /* w may be freed by its callback */
		w->fn(w);
		w = next;
	}
}

const struct obj_kind *obj_kind_of(const char *folder)
{
	for (const struct obj_kind *const *k = objects_kinds; *k; k++)
		if (strcmp((*k)->folder, folder) == 0)
			return *k;
	return NULL;
}

bool objects_kind_known(const char *folder) { return obj_kind_of(folder) != NULL; }

struct obj *obj_find(const char *folder, const char *name)
{
	for (struct obj *o = objects; o; o = o->next)
		if (strcmp(o->kind->folder, folder) == 0 && strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

void obj_unref(struct obj *o)
{
	if (--o->refs > 0)
		return;
	if (o->kind->release)
		o->kind->release(o);
	for (struct obj_grant *g = o->grants, *next; g; g = next) {
		next = g->next;
		free(g);
	}
	cJSON_Delete(o->options);
	free(o->state);
	free(o);
}

/* A new object of k (not in the list) from options, or NULL with c's error. */
struct obj *obj_new(const struct obj_kind *k, const char *name, const cJSON *options, struct obj_call *c)
{
	struct obj *o = calloc(1, sizeof *o);
	if (!o || !(o->state = calloc(1, k->state_size ? k->state_size : 1))) {
		free(o);
		obj_fail(c, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	o->kind = k;
	o->refs = 1;
	snprintf(o->name, sizeof o->name, "%s", name);
	if (options && !cJSON_IsObject(options)) {
		obj_fail(c, 400, "invalid_argument", "body", "the options must be a JSON object");
		obj_unref(o);
		return NULL;
	}
	if (k->create(o, options, c) < 0 || !o->options) {
		if (!c->status)
			obj_fail(c, 500, "internal", NULL, "out of memory");
		obj_unref(o);
		return NULL;
	}
	return o;
}

/* ---- the operations --------------------------------------------------------- */

static int no_object(struct obj_call *c, const char *folder, const char *name)
{
	return obj_fail(c, 404, "not_found", NULL, "no %s named %s (create it with PUT first)", folder, name);
}

int objects_create(const char *folder, const char *name, const cJSON *options, struct obj_call *c)
{
	const struct obj_kind *k = obj_kind_of(folder);
	pthread_mutex_lock(&lock);
	struct obj *o = obj_new(k, name, options, c), *old = o ? obj_find(folder, name) : NULL;
	int status = 201;
	if (!o)
		status = -1;
	else if (old) {
		status = cJSON_Compare(old->options, o->options, true) ? 200 : -1;
		if (status < 0)
			obj_fail(c, 409, "conflict", NULL, "%s %s exists with other options", folder, name);
		obj_unref(o);
		o = old;
	} else {
		objects_link(o);
		obj_save(o);
	}
	if (status > 0) {
		c->result = cJSON_CreateObject();
		cJSON_AddStringToObject(c->result, "name", o->name);
		k->describe(o, c->result);
	}
	unlock_and_fire();
	return status;
}

static cJSON *describe(const struct obj *o)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "name", o->name);
	o->kind->describe(o, j);
	return j;
}

int objects_describe(const char *folder, const char *name, struct obj_call *c)
{
	const struct obj_kind *k = obj_kind_of(folder);
	int r = 0;
	pthread_mutex_lock(&lock);
	int64_t now = ts_wall_ms();
	if (name) {
		struct obj *o = obj_find(folder, name);
		if (o) {
			obj_lapse(o, now);
			c->result = describe(o);
		} else
			r = no_object(c, folder, name);
	} else {
		cJSON *list = cJSON_CreateArray();
		for (struct obj *o = objects; o; o = o->next)
			if (o->kind == k) {
				obj_lapse(o, now);
				cJSON_AddItemToArray(list, describe(o));
			}
		c->result = cJSON_CreateObject();
		cJSON_AddItemToObject(c->result, k->list_key, list);
	}
	unlock_and_fire();
	return r < 0 ? -ENOENT : 0;
}

/* Answers every waiter of o (and of its inner object) with outcome. */
static void finish_all(struct obj *o, enum obj_outcome outcome)
{
	struct obj *in = o->kind->inner ? o->kind->inner(o) : NULL;
	for (int q = 0; q < OBJ_QUEUES; q++) {
		while (o->queues[q].head)
			obj_finish(container_of(o->queues[q].head, struct obj_waiter, entry), outcome, NULL);
		while (in && in->queues[q].head)
			obj_finish(container_of(in->queues[q].head, struct obj_waiter, entry), outcome, NULL);
	}
}

/* Unlinks o and answers its waiters 404. Lock held. */
static void unlink_object(struct obj *o)
{
	for (struct obj **pp = &objects; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	finish_all(o, OBJ_REMOVED);
}

static int kind_index(const struct obj_kind *k)
{
	for (int i = 0; objects_kinds[i] && i < KINDS_MAX; i++)
		if (objects_kinds[i] == k)
			return i;
	return -1;
}

void obj_count_abandoned(const struct obj_kind *k)
{
	int i = kind_index(k);
	if (i >= 0)
		abandoned_total[i]++;
}

static long waiters_of(const struct obj *o)
{
	long n = 0;
	for (int q = 0; q < OBJ_QUEUES; q++)
		for (const struct waitq_entry *e = o->queues[q].head; e; e = e->next)
			n++;
	return n;
}

void objects_stats(void (*fn)(const struct objects_kind_stats *s, void *arg), void *arg)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; objects_kinds[i] && i < KINDS_MAX; i++) {
		struct objects_kind_stats st = { .folder = objects_kinds[i]->folder, .abandoned = abandoned_total[i] };
		for (struct obj *o = objects; o; o = o->next) {
			if (o->kind != objects_kinds[i])
				continue;
			st.objects++;
			const struct obj *inner = o->kind->inner ? o->kind->inner(o) : NULL;
			for (const struct obj *p = o; p; p = p == o ? inner : NULL) {
				st.waiters += waiters_of(p);
				for (const struct obj_grant *g = p->grants; g; g = g->next)
					st.grants++;
			}
		}
		fn(&st, arg);
	}
	pthread_mutex_unlock(&lock);
}

int objects_remove(const char *folder, const char *name, struct obj_call *c)
{
	int r = 0;
	pthread_mutex_lock(&lock);
	struct obj *o = obj_find(folder, name);
	if (!o)
		r = -ENOENT;
	else if (o->kind->can_remove && o->kind->can_remove(o, c) < 0)
		r = -EBUSY;
	else {
		c->result = describe(o);
		unlink_object(o);
		obj_store_remove(o);
		o->removed = true;
		obj_unref(o);
	}
	if (r == -ENOENT)
		no_object(c, folder, name);
	unlock_and_fire();
	return r;
}

int objects_call(const char *folder, const char *name, const char *op, struct obj_call *c)
{
	int r = -1;
	pthread_mutex_lock(&lock);
	struct obj *o = obj_find(folder, name);
	const struct obj_op *found = NULL;
	for (const struct obj_op *x = o ? o->kind->ops : NULL; x && x->name; x++)
		if (strcmp(x->name, op) == 0)
			found = x;
	if (!o)
		no_object(c, folder, name);
	else if (!found)
		obj_fail(c, 404, "not_found", NULL, "%s has no operation %s", folder, op);
	else if (c->caller->worker && !worker_running(c->caller->id))
		obj_fail(c, 401, "unauthorized", NULL, "this worker token is not valid (its process has ended)");
	else {
		obj_lapse(o, ts_wall_ms());     /* a lapsed lease is never granted on */
		if (o->kind->inner && o->kind->inner(o))
			obj_lapse(o->kind->inner(o), ts_wall_ms());
		r = found->fn(o, c);
	}
	unlock_and_fire();
	return r;
}

void objects_waiter_init(struct obj_waiter *w, bool (*alive)(struct obj_waiter *), void (*fn)(struct obj_waiter *))
{
	memset(w, 0, sizeof *w);
	w->alive = alive;
	w->fn = fn;
}

void objects_waiter_release(struct obj_waiter *w)
{
	pthread_mutex_lock(&lock);
	struct obj *o = w->obj;
	if (o) {
		waitq_cancel(&w->entry);
		w->obj = NULL;
		obj_unref(o);
	}
	if (w->grant_obj) {
		/* Granted while its client went away: the grant goes back. */
		if (w->outcome == OBJ_DONE && !w->delivered && !w->grant_obj->removed)
			obj_undo_grant(w->grant_obj, w->fence);
		obj_unref(w->grant_obj);
		w->grant_obj = NULL;
	}
	cJSON_Delete(w->result);
	w->result = NULL;
	cJSON_Delete(w->payload);
	w->payload = NULL;
	unlock_and_fire();
}

void objects_owner_ended(const char *id)
{
	pthread_mutex_lock(&lock);
	for (struct obj *o = objects; o; o = o->next) {
		obj_owner_ended(o, id);
		if (o->kind->inner && o->kind->inner(o))
			obj_owner_ended(o->kind->inner(o), id);
	}
	unlock_and_fire();
}

/* ---- the timer, start and end ------------------------------------------------ */

static void *timer_main(void *arg)
{
	int64_t next_look = 0;
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!stopping) {
		int64_t mono = ts_mono_ms(), wall = ts_wall_ms();
		bool look = mono >= next_look;
		if (look)
			next_look = mono + (int64_t)(heartbeat_s * 1000);
		for (struct obj *o = objects; o; o = o->next) {
			struct obj *in = o->kind->inner ? o->kind->inner(o) : NULL;
			obj_lapse(o, wall);
			obj_tick_waiters(o, mono, look);
			if (in) {
				obj_lapse(in, wall);
				obj_tick_waiters(in, mono, look);
			}
		}
		unlock_and_fire();
		objects_sync();         /* what a lapse or an ended worker changed (no reply waits for it) */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&lock);
		if (!stopping)
			pthread_cond_timedwait(&tick_cond, &lock, &until);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int objects_init(const struct objects_config *cfg)
{
	if (cfg->heartbeat_s > 0)
		heartbeat_s = cfg->heartbeat_s;
	stopping = false;
	worker_set_end_hook(objects_owner_ended);
	pthread_mutex_lock(&lock);
	int r = obj_store_load(cfg->store);
	pthread_mutex_unlock(&lock);
	if (r < 0)
		return r;
	r = -pthread_create(&timer, NULL, timer_main, NULL);
	timer_started = r == 0;
	return r;
}

void objects_shutdown(void)
{
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_signal(&tick_cond);
	for (struct obj *o = objects; o; o = o->next)
		finish_all(o, OBJ_SHUTDOWN);
	unlock_and_fire();
	if (timer_started)
		pthread_join(timer, NULL);
	timer_started = false;
}

void objects_release(void)
{
	pthread_mutex_lock(&lock);
	while (objects) {
		struct obj *o = objects;
		objects = o->next;
		o->removed = true;
		obj_unref(o);
	}
	obj_store_load(NULL);
	pthread_mutex_unlock(&lock);
}
