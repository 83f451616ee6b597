/* queue — /queues (multiprocessing.Queue and JoinableQueue): a FIFO of JSON
 * items with an optional maxsize, blocking put and get, task_done and join,
 * and leased gets whose items come back unless acknowledged.
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
 * Persistence: each item is an entry under a 16-hex-digit sequence key
 * {"item", "deliveries"}; keys grow at the tail from 2^63 and shrink at the
 * head below it, so the store's key order is the queue's order. An item in
 * flight keeps its entry (rewritten with its deliveries), so after a restart
 * or a kill -9 it is back in the queue; an acknowledged or final one is
 * removed before the answer is sent (objects_sync()). taken is the object's
 * state. A queue created with "durable": false (for speed, as a
 * multiprocessing.Queue) stores nothing, not even itself (obj->in_memory):
 * it and its items are gone at a restart, and its answers wait for no disk.
 */
#define _GNU_SOURCE
#include "objects/queue.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/number.h"
#include "lib/ts.h"

enum { Q_GET, Q_PUT, Q_JOIN };
#define SEQ_MIDDLE (UINT64_C(1) << 63)
#define MAXSIZE_MAX 1e9
#define BATCH_MAX 1000          /* items of one get ?max= */

struct item {
	struct item *next, *prev;
	uint64_t seq;           /* its entry's key */
	uint64_t fence;         /* in flight: its grant's (the receipt) */
	long part;              /* in flight from a batch get: its place in it (receipt "fence.part"); 0 single */
	long deliveries;
	cJSON *value;
};

struct list { struct item *head, *tail; size_t n; };

struct queue {
	long maxsize;                   /* 0: unbounded */
	struct list items, flight;      /* queued; handed out under a lease */
	long taken;                     /* got without a lease, not task_done yet */
	uint64_t head_seq, tail_seq;    /* the next keys: head_seq - 1 at the head, tail_seq at the tail */
};

static struct queue *qu(const struct obj *o) { return o->state; }

static void list_unlink(struct list *l, struct item *it)
{
	if (it->prev) it->prev->next = it->next; else l->head = it->next;
	if (it->next) it->next->prev = it->prev; else l->tail = it->prev;
	it->next = it->prev = NULL;
	l->n--;
}

static void list_push(struct list *l, struct item *it, bool at_head)
{
	if (at_head) {
		it->prev = NULL;
		it->next = l->head;
		if (l->head) l->head->prev = it; else l->tail = it;
		l->head = it;
	} else {
		it->next = NULL;
		it->prev = l->tail;
		if (l->tail) l->tail->next = it; else l->head = it;
		l->tail = it;
	}
	l->n++;
}

static void item_free(struct item *it)
{
	cJSON_Delete(it->value);
	free(it);
}

static long unfinished(const struct obj *o)
{
	return (long)(qu(o)->items.n + qu(o)->flight.n) + qu(o)->taken;
}

/* ---- persistence ---------------------------------------------------------- */

static void seq_key(uint64_t seq, char key[17])
{
	snprintf(key, 17, "%016" PRIx64, seq);
}

static void entry_write(struct obj *o, const struct item *it)
{
	char key[17];
	if (o->in_memory)
		return;                 /* persist.c would drop it: spare the printing */
	cJSON *j = cJSON_CreateObject();
	cJSON_AddItemToObject(j, "item", cJSON_Duplicate(it->value, true));
	cJSON_AddNumberToObject(j, "deliveries", (double)it->deliveries);
	char *text = number_print_json(j);
	cJSON_Delete(j);
	seq_key(it->seq, key);
	if (text)
		obj_entry_put(o, key, text);
	free(text);
}

static void entry_drop(struct obj *o, const struct item *it)
{
	char key[17];
	seq_key(it->seq, key);
	obj_entry_remove(o, key);
}

static cJSON *queue_save(const struct obj *o)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "taken", (double)qu(o)->taken);
	return j;
}

static void queue_load(struct obj *o, const cJSON *state)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(state, "taken");
	if (cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble <= NUMBER_SAFE_MAX)
		qu(o)->taken = (long)t->valuedouble;
}

/* Entries come in key order: each goes to the tail. */
static void queue_load_entry(struct obj *o, const char *key, const cJSON *value)
{
	char *end;
	uint64_t seq = strtoull(key, &end, 16);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(value, "item");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(value, "deliveries");
	struct item *it = calloc(1, sizeof *it);
	if (!it || *end || strlen(key) != 16 || !v || !(it->value = cJSON_Duplicate(v, true))) {
		free(it);
		return;
	}
	it->seq = seq;
	it->deliveries = cJSON_IsNumber(d) && d->valuedouble >= 0 ? (long)d->valuedouble : 0;
	list_push(&qu(o)->items, it, false);
	if (seq < qu(o)->head_seq)
		qu(o)->head_seq = seq;
	if (seq >= qu(o)->tail_seq)
		qu(o)->tail_seq = seq + 1;
}

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

/* ---- handing items out ---------------------------------------------------- */

/* Who takes an item, and on what terms. */
struct taker {
	struct obj_owner owner;
	double lease_s;                 /* 0: final */
	long max;                       /* 0: a single get; else a batch of up to max items */
	struct obj_waiter *w;           /* a waiter (NULL: the call itself) */
};

/* A lease on count items for t. A worker's grant has no expiry of its own:
 * a queue's lease holds for it too. */
static struct obj_grant *lease_new(struct obj *o, const struct taker *t, long count)
{
	struct obj_grant *g = obj_grant_new(o, &t->owner, t->lease_s, count);
	if (g) {
		g->lease_s = t->lease_s;
		g->expires_ms = ts_wall_ms() + number_ms(t->lease_s);
	}
	return g;
}

/* The grant's fields in the answer r; a waiter's grant is undone by the
 * registry if the answer is not delivered. */
static void lease_answer(struct obj *o, const struct taker *t, const struct obj_grant *g, cJSON *r)
{
	obj_grant_json(g, r);
	cJSON_DeleteItemFromObject(r, "abandoned");
	cJSON_DeleteItemFromObject(r, "fence");
	if (t->w) {
		t->w->fence = g->fence;
		t->w->grant_obj = o;
		o->refs++;
	}
}

static void receipt_text(const struct item *it, char receipt[48])
{
	if (it->part)
		snprintf(receipt, 48, "%" PRIu64 ".%ld", it->fence, it->part);
	else
		snprintf(receipt, 48, "%" PRIu64, it->fence);
}

/* Takes the head item: in flight under g (part: its place in a batch, 0
 * for a single get), or final without one. Its value is copied into r's
 * "item" (a single get) or appended to r's "items" array. */
static void take_head(struct obj *o, struct obj_grant *g, long part)
{
	struct item *it = qu(o)->items.head;
	list_unlink(&qu(o)->items, it);
	it->deliveries++;
	if (!g) {
		qu(o)->taken++;
		entry_drop(o, it);
		item_free(it);
		return;
	}
	it->fence = g->fence;
	it->part = part;
	list_push(&qu(o)->flight, it, false);
	entry_write(o, it);
}

/* The head item for t: its answer. NULL when out of memory (the item stays). */
static cJSON *hand_out_one(struct obj *o, const struct taker *t)
{
	struct item *it = qu(o)->items.head;
	cJSON *r = cJSON_CreateObject();
	struct obj_grant *g = NULL;
	if (!r || (t->lease_s > 0 && !(g = lease_new(o, t, 1)))) {
		cJSON_Delete(r);
		return NULL;
	}
	cJSON_AddItemToObject(r, "item", cJSON_Duplicate(it->value, true));
	cJSON_AddNumberToObject(r, "deliveries", (double)it->deliveries + 1);
	take_head(o, g, 0);
	if (!g) {
		obj_save(o);
		return r;
	}
	char receipt[48];
	receipt_text(it, receipt);
	cJSON_AddStringToObject(r, "receipt", receipt);
	lease_answer(o, t, g, r);
	return r;
}

/* Up to t->max head items for t, in order, under one lease whose count is
 * the items not yet acknowledged (so the holders list shows one holder): the
 * answer, or NULL when out of memory (the items stay). */
static cJSON *hand_out_batch(struct obj *o, const struct taker *t)
{
	long n = (long)qu(o)->items.n < t->max ? (long)qu(o)->items.n : t->max;
	cJSON *r = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(r, "items"), *deliveries = cJSON_AddArrayToObject(r, "deliveries");
	cJSON *receipts = t->lease_s > 0 ? cJSON_AddArrayToObject(r, "receipts") : NULL;
	struct obj_grant *g = NULL;
	if (!items || !deliveries || (t->lease_s > 0 && (!receipts || !(g = lease_new(o, t, n))))) {
		cJSON_Delete(r);
		return NULL;
	}
	for (long part = 1; part <= n; part++) {
		struct item *it = qu(o)->items.head;
		char receipt[48];
		cJSON_AddItemToArray(items, cJSON_Duplicate(it->value, true));
		cJSON_AddItemToArray(deliveries, cJSON_CreateNumber((double)it->deliveries + 1));
		take_head(o, g, part);
		if (g) {
			receipt_text(it, receipt);
			cJSON_AddItemToArray(receipts, cJSON_CreateString(receipt));
		}
	}
	if (g)
		lease_answer(o, t, g, r);
	else
		obj_save(o);            /* taken, once for the batch */
	return r;
}

static cJSON *hand_out(struct obj *o, const struct taker *t)
{
	return t->max ? hand_out_batch(o, t) : hand_out_one(o, t);
}

/* Appends items (an array, consumed) at the tail. */
static void enqueue(struct obj *o, cJSON *items)
{
	cJSON *v;
	while ((v = cJSON_DetachItemFromArray(items, 0))) {
		struct item *it = calloc(1, sizeof *it);
		if (!it) {
			cJSON_Delete(v);
			continue;
		}
		it->value = v;
		it->seq = qu(o)->tail_seq++;
		list_push(&qu(o)->items, it, false);
		entry_write(o, it);
	}
	cJSON_Delete(items);
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
			cJSON *r = hand_out(o, &t);
			if (!r)
				break;
			obj_finish(w, OBJ_DONE, r);
		}
		while ((w = obj_peek_alive(o, Q_PUT)) && fits(o, w->n)) {
			enqueue(o, w->payload);
			w->payload = NULL;
			obj_finish(w, OBJ_DONE, answer("size", (double)qu(o)->items.n));
			moved = true;
		}
	}
	struct obj_waiter *w;
	while (unfinished(o) == 0 && (w = obj_peek_alive(o, Q_JOIN)))
		obj_finish(w, OBJ_DONE, answer("unfinished", 0));
}

/* The registry took back a lease (lapsed, its worker ended, or not
 * delivered): its items not yet acknowledged go back to the head under new
 * keys, in the order they were got (the flight list's, walked from the tail). */
static void queue_grant_lost(struct obj *o, struct obj_grant *g)
{
	for (struct item *it = qu(o)->flight.tail, *prev; it; it = prev) {
		prev = it->prev;
		if (it->fence != g->fence)
			continue;
		list_unlink(&qu(o)->flight, it);
		entry_drop(o, it);
		it->fence = 0;
		it->part = 0;
		it->seq = --qu(o)->head_seq;
		list_push(&qu(o)->items, it, true);
		entry_write(o, it);
	}
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
		enqueue(o, items);
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
	if (!t.owner.worker)
		obj_client_owner(&t.owner);     /* each client lease is a holder of its own */
	if (qu(o)->items.n && !obj_peek_alive(o, Q_GET)) {
		if (!(c->result = hand_out(o, &t)))
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

/* Acknowledges the item in flight under receipt: 0, or -1 with a 409. */
static int ack_receipt(struct obj *o, const char *receipt, struct obj_call *c)
{
	uint64_t fence = 0;
	long part = 0;
	char *end = NULL;
	if (receipt[0] >= '0' && receipt[0] <= '9')
		fence = strtoull(receipt, &end, 10);
	if (fence && *end == '.' && end[1] >= '1' && end[1] <= '9')
		part = strtol(end + 1, &end, 10);
	struct item *it = qu(o)->flight.head;
	while (it && !(fence && *end == '\0' && it->fence == fence && it->part == part))
		it = it->next;
	if (!it)
		return obj_fail(c, 409, "not_owner", NULL,
				"no item of %s is in flight under receipt %.40s: acknowledged already, or its lease"
				" lapsed and it went back to the queue", o->name, receipt);
	list_unlink(&qu(o)->flight, it);
	entry_drop(o, it);
	item_free(it);
	for (struct obj_grant *g = o->grants; g; g = g->next)
		if (g->fence == fence) {
			if (--g->count <= 0)            /* the last of its batch */
				obj_grant_release(o, g);        /* grant_lost finds no item now */
			break;
		}
	return 0;
}

static int op_task_done(struct obj *o, struct obj_call *c)
{
	const cJSON *receipt = cJSON_GetObjectItemCaseSensitive(c->body, "receipt");
	if (receipt && !cJSON_IsNull(receipt)) {
		if (!cJSON_IsString(receipt))
			return obj_fail(c, 400, "invalid_argument", "receipt", "receipt must be the string a get answered");
		if (ack_receipt(o, receipt->valuestring, c) < 0)
			return -1;
	} else if (qu(o)->taken > 0) {
		qu(o)->taken--;
		obj_save(o);
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
