/* queue_internal — what objects/queue.c (the kind: options, waiters, the
 * operations) and objects/queue_items.c (the items: their entries in the
 * store, handing them out, taking them back) share. Not for other modules.
 * Everything here runs with the objects lock held.
 */
#ifndef SPAWND_OBJECTS_QUEUE_INTERNAL_H
#define SPAWND_OBJECTS_QUEUE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "objects/kind.h"

enum { Q_GET, Q_PUT, Q_JOIN };        /* a queue's waiter queues (w->op) */
#define SEQ_MIDDLE (UINT64_C(1) << 63)

/* A stored batch row: the items of one put, at seqs first, first + 1, ...
 * (queue_items.c). left counts its items still queued in it; the row goes
 * when the last is taken. */
struct batch {
	uint64_t first;
	long left;
};

struct item {
	struct item *next, *prev;
	uint64_t seq;           /* its place in the queue (and its row's key) */
	uint64_t fence;         /* in flight: its grant's (the receipt) */
	long part;              /* in flight from a batch get: its place in it (receipt "fence.part"); 0 single */
	long deliveries;
	struct batch *batch;    /* the batch row it is stored in; NULL: a row of its own (or none) */
	char *text;             /* the item as JSON text, printed once at its put */
};

struct list { struct item *head, *tail; size_t n; };

struct queue {
	long maxsize;                   /* 0: unbounded */
	struct list items, flight;      /* queued; handed out under a lease */
	long taken;                     /* got without a lease, not task_done yet */
	uint64_t head_seq, tail_seq;    /* the next keys: head_seq - 1 at the head, tail_seq at the tail */
	uint64_t consumed;              /* stored: every batch row's items below this seq are gone */
	uint64_t *stale;                /* loaded batch rows with no item left: removed at the next head write */
	size_t stale_n;
};

static inline struct queue *qu(const struct obj *o) { return o->state; }

static inline void list_unlink(struct list *l, struct item *it)
{
	if (it->prev) it->prev->next = it->next; else l->head = it->next;
	if (it->next) it->next->prev = it->prev; else l->tail = it->prev;
	it->next = it->prev = NULL;
	l->n--;
}

static inline void list_push(struct list *l, struct item *it, bool at_head)
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

/* Frees it; its batch too when it was the batch's last item. */
static inline void item_free(struct item *it)
{
	if (it->batch && --it->batch->left <= 0)
		free(it->batch);
	free(it->text);
	free(it);
}

static inline long unfinished(const struct obj *o)
{
	return (long)(qu(o)->items.n + qu(o)->flight.n) + qu(o)->taken;
}

/* Who takes an item, and on what terms. */
struct taker {
	struct obj_owner owner;
	double lease_s;                 /* 0: final */
	long max;                       /* 0: a single get; else a batch of up to max items */
	struct obj_waiter *w;           /* a waiter (NULL: the call itself) */
};

/* queue_items.c */
/* The kind's save, load and load_entry (kind.h). */
cJSON *queue_save(const struct obj *o);
void queue_load(struct obj *o, const cJSON *state);
void queue_load_entry(struct obj *o, const char *key, const cJSON *value);
/* Appends items (an array, consumed) at the tail, stored as one batch row. */
void queue_enqueue(struct obj *o, cJSON *items);
/* The head item (or up to t->max of them) for t: the answer. NULL when out
 * of memory (the items stay). The queue must not be empty. */
cJSON *queue_hand_out(struct obj *o, const struct taker *t);
/* The kind's grant_lost (kind.h): a lease's items back at the head. */
void queue_grant_lost(struct obj *o, struct obj_grant *g);
/* Stores taken and consumed (the queue's "head" entry). */
void queue_save_head(struct obj *o);
/* Acknowledges the item in flight under receipt: 0, or -1 with a 409 in c. */
int queue_ack_receipt(struct obj *o, const char *receipt, struct obj_call *c);

#endif
