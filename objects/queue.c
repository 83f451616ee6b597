/* queue — /queues (multiprocessing.Queue and JoinableQueue): a FIFO of JSON
 * items with an optional maxsize, blocking put and get, task_done and join,
 * and leased gets whose items come back unless acknowledged. This file is
 * the kind (options, waiters, operations); queue_items.c what happens to an
 * item (its entry, handing it out, taking it back).
 *
 * Waiters: three FIFO queues, getters, putters and joiners. A put hands its
 * items to the oldest getters first (one item each, so a put of n items wakes
 * exactly n getters), then blocked putters move in while they fit; a putter
 * at the head that cannot fit blocks those behind it, as arrival order says.
 * A batch put is all or nothing: it waits until all its items fit.
 *
 * Leases: a get with a lease hands the item out under a grant of the
 * registry (objects/kind.h): the grant's fence is the item's receipt. The
 * registry takes the grant back when the lease lapses, when its worker ends
 * (kill -9 included) or when the answer could not be delivered; grant_lost()
 * then puts the item back at the head of the queue, where the next getter
 * takes it first. task_done with the receipt acknowledges it: the item and
 * its grant are gone, so it is never delivered again. A worker's lease lapses
 * too (unlike a lock's grant): a stuck consumer gives its item back.
 * A get without a lease is final, as in multiprocessing: the item is the
 * caller's once the answer is on its way (the client is looked at just before
 * it is handed out; one that vanishes in the last instant loses it).
 *
 * Batch gets (?max=N, an extension): up to N head items at once, waiting for
 * the first only. Under a lease the whole batch is one grant whose count is
 * its items not yet acknowledged, so a waiter still holds a single fence for
 * the registry to undo; each item's receipt is "fence.part", acknowledged on
 * its own, and when the grant is lost the rest go back to the head together,
 * in their order. Why one grant, not one per item: a dead holder, a lapse or
 * an undelivered answer is one event for the whole batch.
 *
 * Unfinished (join): items queued, in flight under a lease, and got without
 * one but not yet task_done ("taken"). task_done without a receipt counts
 * down taken only, so a leased item can only be finished by its receipt.
 *
 * Persistence: a put is one entry, a batch row "<seq>+" holding its items
 * as one JSON array (their seqs follow from the key); a queue's "-head"
 * entry holds taken and consumed, the seq below which every batch row's
 * items are gone. A get from batch rows is one write of the head entry
 * (and the removal of a row whose last item went), not one per item: a
 * batch of 50 was 50 row writes and 50 removals, most of a durable item's
 * cost. An item in flight leaves its batch row (consumed passes it) for a
 * row of its own "<seq>" {"item", "deliveries"}, rewritten with its
 * deliveries, so after a restart or a kill -9 it is back in the queue at
 * its place; requeued items (a lost lease) get such a row too, at the head.
 * An acknowledged or final item is gone before the answer is sent
 * (objects_sync()). Keys grow at the tail from 2^63 and shrink at the head
 * below it, so seq order is the queue's order; loading sorts the rows'
 * items by seq. Items are kept as the JSON text printed at their put and
 * answered as it is (cJSON raw nodes): no copy, no re-print per get.
 * A queue created with "durable": false (for speed, as a
 * multiprocessing.Queue) stores nothing, not even itself (obj->in_memory):
 * it and its items are gone at a restart, and its answers wait for no disk.
 */
#define _GNU_SOURCE
#include "objects/queue.h"
#include "objects/queue_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/number.h"
#include "lib/ts.h"

#define MAXSIZE_MAX 1e9
#define BATCH_MAX 1000          /* items of one get ?max= */

/* ---- create, describe, release -------------------------------------------- */

static int queue_create(struct obj *o, const cJSON *options, struct obj_call *c)
{
	static const char *const known[] = { "maxsize", "durable", NULL };
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(options, "maxsize");
	const cJSON *durable = cJSON_GetObjectItemCaseSensitive(options, "durable");
	if (obj_options_known(options, known, c) < 0)
		return -1;
	if (durable && !cJSON_IsBool(durable))
		return obj_fail(c, 400, "invalid_argument", "durable",
				"durable must be true (the default: every change stored before its answer) or false"
				" (kept in memory only, lost at a restart)");
	if (m && !(cJSON_IsNumber(m) && m->valuedouble >= 0 && m->valuedouble <= MAXSIZE_MAX &&
		   m->valuedouble == floor(m->valuedouble)))
		return obj_fail(c, 400, "invalid_argument", "maxsize",
				"maxsize must be an integer from 0 (unbounded) to 1000000000");
	qu(o)->maxsize = m ? (long)m->valuedouble : 0;
	qu(o)->head_seq = qu(o)->tail_seq = SEQ_MIDDLE;
	o->in_memory = cJSON_IsFalse(durable);
	o->options = cJSON_CreateObject();
	cJSON_AddNumberToObject(o->options, "maxsize", (double)qu(o)->maxsize);
	if (o->in_memory)
		cJSON_AddFalseToObject(o->options, "durable");
	return 0;
}

static void queue_describe(const struct obj *o, cJSON *into)
{
	cJSON_AddNumberToObject(into, "maxsize", (double)qu(o)->maxsize);
	cJSON_AddBoolToObject(into, "durable", !o->in_memory);
	cJSON_AddNumberToObject(into, "size", (double)qu(o)->items.n);
	cJSON_AddNumberToObject(into, "in_flight", (double)qu(o)->flight.n);
	cJSON_AddNumberToObject(into, "unfinished", (double)unfinished(o));
	cJSON_AddNumberToObject(into, "getters", (double)obj_waiting(o, Q_GET));
	cJSON_AddNumberToObject(into, "putters", (double)obj_waiting(o, Q_PUT));
	cJSON_AddNumberToObject(into, "joiners", (double)obj_waiting(o, Q_JOIN));
}

static void queue_release(struct obj *o)
{
	struct list *lists[] = { &qu(o)->items, &qu(o)->flight };
	for (size_t i = 0; i < 2; i++)
		while (lists[i]->head) {
			struct item *it = lists[i]->head;
			list_unlink(lists[i], it);
			item_free(it);
		}
	free(qu(o)->stale);
}

/* ---- answers -------------------------------------------------------------- */

static cJSON *answer(const char *key, double n)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, key, n);
	return j;
}

static cJSON *answer_true(const char *key)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddTrueToObject(j, key);
	return j;
}

/* A get that found nothing: a batch's answer has its (empty) items too. */
static cJSON *empty_answer(long max)
{
	cJSON *r = answer_true("empty");
	if (max)
		cJSON_AddArrayToObject(r, "items");
	return r;
}

static cJSON *queue_timeout_result(void) { return answer_true("empty"); }

static void queue_timed_out(struct obj *o, struct obj_waiter *w)
{
	cJSON *r = w->op == Q_GET ? empty_answer(w->n) : w->op == Q_PUT ? answer_true("full")
		: answer("unfinished", (double)unfinished(o));
	obj_finish(w, OBJ_DONE, r);
}

static bool fits(const struct obj *o, long n)
{
	return qu(o)->maxsize == 0 || (long)qu(o)->items.n + n <= qu(o)->maxsize;
}

/* Getters take items, then blocked putters move in while they fit, until
 * neither can go on; joiners are answered once nothing is unfinished. */
static void queue_serve(struct obj *o)
{
	for (bool moved = true; moved;) {
		struct obj_waiter *w;
		moved = false;
		while (qu(o)->items.n && (w = obj_peek_alive(o, Q_GET))) {
			struct taker t = { .owner = w->owner, .lease_s = w->lease_s, .max = w->n, .w = w };
			cJSON *r = queue_hand_out(o, &t);
			if (!r)
				break;
			obj_finish(w, OBJ_DONE, r);
		}
		while ((w = obj_peek_alive(o, Q_PUT)) && fits(o, w->n)) {
			queue_enqueue(o, w->payload);
			w->payload = NULL;
			obj_finish(w, OBJ_DONE, answer("size", (double)qu(o)->items.n));
			moved = true;
		}
	}
	struct obj_waiter *w;
	while (unfinished(o) == 0 && (w = obj_peek_alive(o, Q_JOIN)))
		obj_finish(w, OBJ_DONE, answer("unfinished", 0));
}

/* ---- operations ----------------------------------------------------------- */

/* The items of a put's body, as an array (caller frees), or NULL with a 400. */
static cJSON *put_items(struct obj *o, struct obj_call *c)
{
	const cJSON *one = cJSON_GetObjectItemCaseSensitive(c->body, "item");
	const cJSON *many = cJSON_GetObjectItemCaseSensitive(c->body, "items");
	cJSON *items;
	if (!one == !many) {
		obj_fail(c, 400, "invalid_argument", "item", "give either item (one JSON value) or items (an array)");
		return NULL;
	}
	if (many && (!cJSON_IsArray(many) || cJSON_GetArraySize(many) == 0)) {
		obj_fail(c, 400, "invalid_argument", "items", "items must be a non-empty array");
		return NULL;
	}
	if (one) {
		items = cJSON_CreateArray();
		cJSON_AddItemToArray(items, cJSON_Duplicate(one, true));
	} else
		items = cJSON_Duplicate(many, true);
	if (qu(o)->maxsize && cJSON_GetArraySize(items) > qu(o)->maxsize) {
		obj_fail(c, 400, "invalid_argument", many ? "items" : "item",
			 "%d items can never fit in a queue of maxsize %ld", cJSON_GetArraySize(items), qu(o)->maxsize);
		cJSON_Delete(items);
		return NULL;
	}
	return items;
}

static int op_put(struct obj *o, struct obj_call *c)
{
	cJSON *items = put_items(o, c);
	if (!items)
		return -1;
	long n = cJSON_GetArraySize(items);
	if (!obj_peek_alive(o, Q_PUT) && fits(o, n)) {
		queue_enqueue(o, items);
		queue_serve(o);
		c->result = answer("size", (double)qu(o)->items.n);
		return 0;
	}
	if (c->timeout_s <= 0 || !c->waiter) {
		cJSON_Delete(items);
		c->result = answer_true("full");
		return 0;
	}
	int r = obj_wait(o, Q_PUT, c);
	c->waiter->op = Q_PUT;
	c->waiter->n = n;
	c->waiter->payload = items;
	return r;
}

/* ?lease= or the body's "lease": 0 none, or the seconds; -1 with a 400. */
static int get_lease(struct obj_call *c, double *lease_s)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(c->body, "lease");
	*lease_s = c->query_lease_s >= 0 ? c->query_lease_s : 0;
	if (l && !cJSON_IsNull(l)) {
		if (!cJSON_IsNumber(l))
			*lease_s = -1;
		else
			*lease_s = l->valuedouble;
	} else if (c->query_lease_s < 0)
		return 0;
	if (!(*lease_s > 0) || *lease_s > NUMBER_SECONDS_MAX)
		return obj_fail(c, 400, "invalid_argument", "lease",
				"lease must be a number of seconds above 0, at most " NUMBER_SECONDS_MAX_TEXT);
	return 0;
}

/* ?max=: 0 a single get, or the batch's bound; -1 with a 400. */
static int get_max(struct obj_call *c, long *max)
{
	*max = 0;
	if (c->query_max < 0)
		return 0;
	if (!(c->query_max >= 1 && c->query_max <= BATCH_MAX && c->query_max == floor(c->query_max)))
		return obj_fail(c, 400, "invalid_argument", "max",
				"max must be a whole number of items from 1 to %d", BATCH_MAX);
	*max = (long)c->query_max;
	return 0;
}

static int op_get(struct obj *o, struct obj_call *c)
{
	struct taker t = { .owner = *c->caller };
	if (get_lease(c, &t.lease_s) < 0 || get_max(c, &t.max) < 0)
		return -1;
	if (!t.owner.worker && t.lease_s > 0)
		obj_client_owner(&t.owner);     /* each client lease is a holder of its own (a getrandom) */
	if (qu(o)->items.n && !obj_peek_alive(o, Q_GET)) {
		if (!(c->result = queue_hand_out(o, &t)))
			return obj_fail(c, 500, "internal", NULL, "out of memory");
		queue_serve(o);         /* room for a blocked putter */
		return 0;
	}
	if (c->timeout_s <= 0 || !c->waiter) {
		c->result = empty_answer(t.max);
		return 0;
	}
	int r = obj_wait(o, Q_GET, c);
	c->waiter->op = Q_GET;
	c->waiter->owner = t.owner;
	c->waiter->lease_s = t.lease_s;
	c->waiter->n = t.max;
	return r;
}

static int op_task_done(struct obj *o, struct obj_call *c)
{
	const cJSON *receipt = cJSON_GetObjectItemCaseSensitive(c->body, "receipt");
	if (receipt && !cJSON_IsNull(receipt)) {
		if (!cJSON_IsString(receipt))
			return obj_fail(c, 400, "invalid_argument", "receipt", "receipt must be the string a get answered");
		if (queue_ack_receipt(o, receipt->valuestring, c) < 0)
			return -1;
	} else if (qu(o)->taken > 0) {
		qu(o)->taken--;
		queue_save_head(o);
	} else
		return obj_fail(c, 409, "conflict", NULL,
				"task_done called more times than items were got from %s (a leased item is"
				" acknowledged with its receipt)", o->name);
	queue_serve(o);
	c->result = answer("unfinished", (double)unfinished(o));
	return 0;
}

static int op_join(struct obj *o, struct obj_call *c)
{
	if (unfinished(o) == 0 || c->timeout_s <= 0 || !c->waiter) {
		c->result = answer("unfinished", (double)unfinished(o));
		return 0;
	}
	int r = obj_wait(o, Q_JOIN, c);
	c->waiter->op = Q_JOIN;
	return r;
}

static const struct obj_op queue_ops[] = {
	{ "put", op_put }, { "get", op_get }, { "task_done", op_task_done }, { "join", op_join }, { NULL, NULL },
};

const struct obj_kind queue_kind = {
	.folder = "queues", .list_key = "queues", .state_size = sizeof(struct queue),
	.create = queue_create, .describe = queue_describe, .release = queue_release,
	.save = queue_save, .load = queue_load, .load_entry = queue_load_entry,
	.grant_lost = queue_grant_lost, .serve = queue_serve, .timed_out = queue_timed_out,
	.timeout_result = queue_timeout_result, .serve_after_tick = true, .ops = queue_ops,
};
