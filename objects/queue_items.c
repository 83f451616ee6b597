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

#define HEAD_KEY "-head"        /* sorts before every seq key: loaded first */
#define BATCH_SUFFIX '+'        /* "<seq>+": a batch row; "<seq>": a row of one item */

/* 16 lowercase hex digits of seq at key (17 bytes), by hand: a put or a
 * get of a batch writes a key or two, and snprintf was a visible part of it. */
static void seq_key(uint64_t seq, char key[17])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--, seq >>= 4)
		key[i] = hex[seq & 15];
	key[16] = '\0';
}

/* The item's stored and answered text. A number goes through
 * number_format() (its integer path is a few divisions); cJSON prints
 * every number with %1.15g and reads it back with sscanf, the most of a
 * put's CPU when the items are numbers. */
static char *item_text(const cJSON *v)
{
	if (cJSON_IsNumber(v)) {
		char buf[32];
		number_format(buf, sizeof buf, v->valuedouble);
		return strdup(buf);
	}
	return number_print_json(v);
}

/* An in-flight or requeued item's own row: {"item": text, "deliveries": n}. */
static void entry_write(struct obj *o, const struct item *it)
{
	static const char head[] = "{\"item\":", mid[] = ",\"deliveries\":";
	char key[17], count[NUMBER_INT64_TEXT_MAX + 1];
	if (o->in_memory)
		return;                 /* persist.c would drop it: spare the printing */
	size_t tlen = strlen(it->text), clen = number_int64_text(count, it->deliveries);
	char *text = malloc(sizeof head + tlen + sizeof mid + clen + 1);
	if (!text)
		return;
	char *p = mempcpy(text, head, sizeof head - 1);
	p = mempcpy(p, it->text, tlen);
	p = mempcpy(p, mid, sizeof mid - 1);
	p = mempcpy(p, count, clen);
	memcpy(p, "}", 2);
	seq_key(it->seq, key);
	obj_entry_put(o, key, text);
	free(text);
}

static void entry_drop(struct obj *o, const struct item *it)
{
	char key[17];
	seq_key(it->seq, key);
	obj_entry_remove(o, key);
}

static void batch_key(uint64_t first, char key[18])
{
	seq_key(first, key);
	key[16] = BATCH_SUFFIX;
	key[17] = '\0';
}

/* The batch row of n items from first: their texts as one JSON array. */
static void batch_write(struct obj *o, uint64_t first, struct item *from, long n)
{
	char key[18];
	size_t len = 3;
	long i = 0;
	for (struct item *it = from; it && i < n; it = it->next, i++)
		len += strlen(it->text) + 1;
	char *text = malloc(len), *p = text;
	if (!text)
		return;
	*p++ = '[';
	for (i = 0; from && i < n; from = from->next, i++) {
		if (i)
			*p++ = ',';
		p = stpcpy(p, from->text);
	}
	memcpy(p, "]", 2);
	batch_key(first, key);
	obj_entry_put(o, key, text);
	free(text);
}

/* Notes the batch row first as having no item left, for the next head
 * write to remove. False when out of memory. */
static bool mark_stale(struct obj *o, uint64_t first)
{
	uint64_t *stale = realloc(qu(o)->stale, (qu(o)->stale_n + 1) * sizeof *stale);
	if (!stale)
		return false;
	stale[qu(o)->stale_n++] = first;
	qu(o)->stale = stale;
	return true;
}

void queue_save_head(struct obj *o)
{
	char text[96], hex[17];
	if (o->in_memory)
		return;
	seq_key(qu(o)->consumed, hex);
	snprintf(text, sizeof text, "{\"consumed\":\"%s\",\"taken\":%ld}", hex, qu(o)->taken);
	obj_entry_put(o, HEAD_KEY, text);
	for (size_t i = 0; i < qu(o)->stale_n; i++) {
		char key[18];
		batch_key(qu(o)->stale[i], key);
		obj_entry_remove(o, key);
	}
	free(qu(o)->stale);
	qu(o)->stale = NULL;
	qu(o)->stale_n = 0;
}

cJSON *queue_save(const struct obj *o)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "taken", (double)qu(o)->taken);
	return j;
}

static void load_taken(struct obj *o, const cJSON *state)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(state, "taken");
	if (cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble <= NUMBER_SAFE_MAX)
		qu(o)->taken = (long)t->valuedouble;
}

/* The object row's state: taken, as written before the head entry existed
 * (the head entry, loaded after it, has the newer figure). */
void queue_load(struct obj *o, const cJSON *state)
{
	load_taken(o, state);
}

/* Puts it into the queue in seq order: rows come in key order, but an
 * in-flight item's row ("<seq>") may sort after a batch row holding later
 * seqs, so it walks back from the tail (rarely more than a step). */
static void insert_sorted(struct obj *o, struct item *it)
{
	struct list *l = &qu(o)->items;
	struct item *after = l->tail;
	while (after && after->seq > it->seq)
		after = after->prev;
	if (after && after->seq == it->seq) {
		/* In a batch row and in a row of its own: the server ended between
		 * the commit of its lease and the one that moved consumed past it.
		 * The row of its own is the later (its deliveries counted). */
		struct item *drop = it->batch ? it : after, *keep = it->batch ? after : it;
		if (drop == after) {
			list_unlink(l, after);
			item_free(after);
			insert_sorted(o, keep);
		} else
			item_free(drop);
		return;
	}
	if (!after) {
		list_push(l, it, true);
	} else {
		it->prev = after;
		it->next = after->next;
		if (after->next) after->next->prev = it; else l->tail = it;
		after->next = it;
		l->n++;
	}
	if (it->seq < qu(o)->head_seq)
		qu(o)->head_seq = it->seq;
	if (it->seq >= qu(o)->tail_seq)
		qu(o)->tail_seq = it->seq + 1;
}

static struct item *item_new(uint64_t seq, const cJSON *v, long deliveries)
{
	struct item *it = calloc(1, sizeof *it);
	if (it && !(it->text = item_text(v))) {
		free(it);
		return NULL;
	}
	if (it) {
		it->seq = seq;
		it->deliveries = deliveries;
	}
	return it;
}

/* A batch row: its items from consumed on, in order; the seqs below it
 * are still used up (never given again, so no key is written twice). */
static void load_batch(struct obj *o, uint64_t first, const cJSON *items)
{
	struct batch *b = calloc(1, sizeof *b);
	const cJSON *v;
	uint64_t seq = first;
	if (!b)
		return;
	b->first = first;
	b->left = 1;            /* held while loading: a duplicate dropped (insert_sorted) frees no batch here */
	cJSON_ArrayForEach(v, items) {
		struct item *it = seq >= qu(o)->consumed ? item_new(seq, v, 0) : NULL;
		if (it) {
			it->batch = b;
			b->left++;
			insert_sorted(o, it);
		}
		seq++;
	}
	if (seq > qu(o)->tail_seq)
		qu(o)->tail_seq = seq;
	if (--b->left == 0) {
		/* Fully consumed: its removal was lost with the server. Removed
		 * with the next head write (the store is not written while loading);
		 * out of memory it stays, harmless: skipped at every load. */
		(void)mark_stale(o, first);
		free(b);
	}
}

/* Entries come in key order: the head entry, then the item rows. */
void queue_load_entry(struct obj *o, const char *key, const cJSON *value)
{
	char *end;
	uint64_t seq = strtoull(key, &end, 16);
	if (strcmp(key, HEAD_KEY) == 0) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(value, "consumed");
		if (cJSON_IsString(c) && strlen(c->valuestring) == 16)
			qu(o)->consumed = strtoull(c->valuestring, NULL, 16);
		load_taken(o, value);
		if (qu(o)->consumed > qu(o)->tail_seq)
			qu(o)->tail_seq = qu(o)->consumed;      /* seqs below it are used up */
		return;
	}
	if (end != key + 16)
		return;
	if (end[0] == BATCH_SUFFIX && !end[1] && cJSON_IsArray(value)) {
		load_batch(o, seq, value);
		return;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(value, "item");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(value, "deliveries");
	struct item *it = !*end && v ? item_new(seq, v, cJSON_IsNumber(d) && d->valuedouble >= 0 ?
					       (long)d->valuedouble : 0) : NULL;
	if (it)
		insert_sorted(o, it);
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

/* Takes the head item out of its batch row: the row's items below it are
 * gone (consumed moves past it; the caller stores it), and the row with
 * them once it was the last. */
static void leave_batch(struct obj *o, struct item *it)
{
	struct batch *b = it->batch;
	char key[18];
	if (!b)
		return;
	qu(o)->consumed = it->seq + 1;
	it->batch = NULL;
	if (--b->left > 0)
		return;
	/* Removed after the head entry that says its items are consumed (and
	 * after the rows of the leased ones), never before: the writes of one
	 * get may be split between two commits, and a crash between them must
	 * leave an extra row behind (dropped at load), not lose items. */
	if (o->in_memory || !mark_stale(o, b->first)) {
		batch_key(b->first, key);
		obj_entry_remove(o, key);
	}
	free(b);
}

/* Takes the head item: in flight under g (part: its place in a batch, 0
 * for a single get), in a row of its own with its deliveries, or final
 * without one. */
static void take_head(struct obj *o, struct obj_grant *g, long part)
{
	struct item *it = qu(o)->items.head;
	bool own_row = !it->batch;
	list_unlink(&qu(o)->items, it);
	it->deliveries++;
	leave_batch(o, it);
	if (!g) {
		qu(o)->taken++;
		if (own_row)
			entry_drop(o, it);
		item_free(it);
		return;
	}
	it->fence = g->fence;
	it->part = part;
	list_push(&qu(o)->flight, it, false);
	entry_write(o, it);
}

/* The text as a raw node: printed as it is, never re-parsed or re-printed. */
static cJSON *raw_text(const char *text)
{
	return cJSON_CreateRaw(text);
}

static cJSON *raw_count(long n)
{
	char buf[NUMBER_INT64_TEXT_MAX + 1];
	number_int64_text(buf, n);
	return cJSON_CreateRaw(buf);
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
	cJSON_AddItemToObject(r, "item", raw_text(it->text));
	cJSON_AddItemToObject(r, "deliveries", raw_count(it->deliveries + 1));
	bool from_batch = it->batch != NULL;
	take_head(o, g, 0);
	if (!g || from_batch)
		queue_save_head(o);
	if (!g)
		return r;
	char receipt[48];
	receipt_text(it, receipt);
	cJSON_AddStringToObject(r, "receipt", receipt);
	lease_answer(o, t, g, r);
	return r;
}

/* Up to t->max head items for t, in order, under one lease whose count is
 * the items not yet acknowledged (so the holders list shows one holder): the
 * answer, or NULL when out of memory (the items stay). The head entry is
 * stored once for the batch. */
static cJSON *hand_out_batch(struct obj *o, const struct taker *t)
{
	long n = (long)qu(o)->items.n < t->max ? (long)qu(o)->items.n : t->max;
	cJSON *r = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(r, "items"), *deliveries = cJSON_AddArrayToObject(r, "deliveries");
	cJSON *receipts = t->lease_s > 0 ? cJSON_AddArrayToObject(r, "receipts") : NULL;
	struct obj_grant *g = NULL;
	bool from_batch = false;
	if (!items || !deliveries || (t->lease_s > 0 && (!receipts || !(g = lease_new(o, t, n))))) {
		cJSON_Delete(r);
		return NULL;
	}
	for (long part = 1; part <= n; part++) {
		struct item *it = qu(o)->items.head;
		char receipt[48];
		cJSON_AddItemToArray(items, raw_text(it->text));
		cJSON_AddItemToArray(deliveries, raw_count(it->deliveries + 1));
		from_batch |= it->batch != NULL;
		take_head(o, g, part);
		if (g) {
			receipt_text(it, receipt);
			cJSON_AddItemToArray(receipts, cJSON_CreateString(receipt));
		}
	}
	if (!g || from_batch)
		queue_save_head(o);
	if (g)
		lease_answer(o, t, g, r);
	return r;
}

cJSON *queue_hand_out(struct obj *o, const struct taker *t)
{
	return t->max ? hand_out_batch(o, t) : hand_out_one(o, t);
}

/* One batch row for the whole put (one row write, whatever its size);
 * items that cannot be printed or allocated are dropped, as before. */
void queue_enqueue(struct obj *o, cJSON *items)
{
	struct batch *b = o->in_memory ? NULL : calloc(1, sizeof *b);
	struct item *first = NULL;
	const cJSON *v;
	if (b)
		b->first = qu(o)->tail_seq;
	cJSON_ArrayForEach(v, items) {
		struct item *it = item_new(qu(o)->tail_seq, v, 0);
		if (!it)
			continue;
		qu(o)->tail_seq++;
		it->batch = b;
		if (b)
			b->left++;
		list_push(&qu(o)->items, it, false);
		if (!first)
			first = it;
	}
	if (b && b->left)
		batch_write(o, b->first, first, b->left);
	else
		free(b);
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
