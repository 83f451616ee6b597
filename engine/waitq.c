/* waitq — see waitq.h. A doubly linked list per queue (cancel is O(1)), and
 * a singly linked batch through fire_next, kept apart from the queue links so
 * that a callback of the batch may re-arm an entry the batch still holds. */
#include "engine/waitq.h"

static void unlink_entry(struct waitq_entry *e)
{
	struct waitq *q = e->q;
	if (e->prev) e->prev->next = e->next; else q->head = e->next;
	if (e->next) e->next->prev = e->prev; else q->tail = e->prev;
	e->next = e->prev = NULL;
	e->q = NULL;
}

static void batch_add(struct waitq_batch *b, struct waitq_entry *e)
{
	unlink_entry(e);
	e->fire_next = NULL;
	if (b->tail)
		b->tail->fire_next = e;
	else
		b->head = e;
	b->tail = e;
}

void waitq_arm(struct waitq *q, struct waitq_entry *e, int64_t deadline_ms, unsigned flags,
	       void (*fn)(struct waitq_entry *e))
{
	if (e->q)               /* linking it twice would corrupt its queue */
		unlink_entry(e);
	e->q = q;
	e->fn = fn;
	e->flags = flags;
	e->deadline_ms = deadline_ms;
	e->next = NULL;
	e->prev = q->tail;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
}

void waitq_cancel(struct waitq_entry *e)
{
	if (e->q)
		unlink_entry(e);
}

/* Moves up to n entries, oldest first, that want any of flags (0: every one). */
static size_t move_matching(struct waitq *q, size_t n, unsigned flags, struct waitq_batch *b)
{
	size_t woken = 0;
	for (struct waitq_entry *e = q->head, *next; e && woken < n; e = next) {
		next = e->next;
		if (!flags || (e->flags & flags)) {
			batch_add(b, e);
			woken++;
		}
	}
	return woken;
}

size_t waitq_wake(struct waitq *q, size_t n, struct waitq_batch *b)
{
	return move_matching(q, n, 0, b);
}

size_t waitq_wake_flagged(struct waitq *q, unsigned flags, struct waitq_batch *b)
{
	return flags ? move_matching(q, SIZE_MAX, flags, b) : 0;
}

int64_t waitq_expire(struct waitq *q, int64_t now, struct waitq_batch *b)
{
	int64_t next = 0;
	for (struct waitq_entry *e = q->head, *n; e; e = n) {
		n = e->next;
		if (!e->deadline_ms)
			continue;
		if (now >= e->deadline_ms)
			batch_add(b, e);
		else if (!next || e->deadline_ms < next)
			next = e->deadline_ms;
	}
	return next;
}

void waitq_batch_move(struct waitq_batch *dst, struct waitq_batch *src)
{
	if (!src->head)
		return;
	if (dst->tail)
		dst->tail->fire_next = src->head;
	else
		dst->head = src->head;
	dst->tail = src->tail;
	src->head = src->tail = NULL;
}

void waitq_fire(struct waitq_batch *b)
{
	struct waitq_entry *e = b->head;
	b->head = b->tail = NULL;
	while (e) {
		struct waitq_entry *next = e->fire_next;
		e->fire_next = NULL;
		e->fn(e);       /* may free e's owner: next is read first */
		e = next;
	}
}
