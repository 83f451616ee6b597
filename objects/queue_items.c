/* queue_items — a queue's items (objects/queue.c has the design note):
 * their entries in the store, handing them out to a getter (one, or a
 * batch under one lease), and taking them back when a lease is lost or
 * acknowledging them by receipt.
 *
 * Why a file of its own: the kind's operations and waiters read as one
 * piece (queue.c), and what happens to an item between its put and its
 * acknowledgement as another.
 */
#define _GNU_SOURCE
#include "objects/queue_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/number.h"
#include "lib/ts.h"

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

cJSON *queue_save(const struct obj *o)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "taken", (double)qu(o)->taken);
	return j;
}

void queue_load(struct obj *o, const cJSON *state)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(state, "taken");
	if (cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble <= NUMBER_SAFE_MAX)
		qu(o)->taken = (long)t->valuedouble;
}

/* Entries come in key order: each goes to the tail. */
void queue_load_entry(struct obj *o, const char *key, const cJSON *value)
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

/* ---- handing items out ---------------------------------------------------- */

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

cJSON *queue_hand_out(struct obj *o, const struct taker *t)
{
	return t->max ? hand_out_batch(o, t) : hand_out_one(o, t);
}

void queue_enqueue(struct obj *o, cJSON *items)
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

/* The registry took back a lease (lapsed, its worker ended, or not
 * delivered): its items not yet acknowledged go back to the head under new
 * keys, in the order they were got (the flight list's, walked from the tail). */
void queue_grant_lost(struct obj *o, struct obj_grant *g)
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

int queue_ack_receipt(struct obj *o, const char *receipt, struct obj_call *c)
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
