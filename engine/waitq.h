/* waitq — a wait queue: waiters that sleep until something happens or their
 * deadline passes, woken in arrival order (FIFO).
 *
 * One queue per thing that can be waited on: a process's end, the next
 * lifecycle event, and later a shared lock or queue (several queues per
 * object, "wake exactly n" in arrival order). A wake-up moves entries from
 * their queue to a batch; the batch's callbacks are run later, by
 * waitq_fire(), so that they never run under the lock.
 *
 * Locking rule: a waitq has no lock of its own. Arming, cancelling, waking,
 * expiring and adding to a batch are done with the lock of the queue's owner
 * held (for the engine's queues: engine_lock(), see engine/engine.h).
 * waitq_fire() is called with NO lock held: a callback may take the lock, arm
 * its entry again, or free the entry's owner.
 *
 * Ownership: an entry is embedded in its owner (an HTTP request, a stream),
 * which keeps it alive from waitq_arm() until its callback has run or
 * waitq_cancel() has returned. Each armed entry's callback runs exactly once,
 * unless it is cancelled first. A queue never frees anything.
 */
#ifndef SPAWND_WAITQ_H
#define SPAWND_WAITQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct waitq;

struct waitq_entry {
	struct waitq_entry *next, *prev;        /* on its queue */
	struct waitq *q;                        /* the queue it is armed on; NULL: not armed */
	struct waitq_entry *fire_next;          /* on a batch (apart: it may be re-armed meanwhile) */
	int64_t deadline_ms;                    /* monotonic; 0 = none */
	unsigned flags;                         /* the owner's: which wake-ups it wants */
	void (*fn)(struct waitq_entry *e);
};

struct waitq { struct waitq_entry *head, *tail; };
struct waitq_batch { struct waitq_entry *head, *tail; };

#define WAITQ_INIT { NULL, NULL }

/* Appends e (the newest waiter). An entry armed already is moved. */
void waitq_arm(struct waitq *q, struct waitq_entry *e, int64_t deadline_ms, unsigned flags,
	       void (*fn)(struct waitq_entry *e));
static inline bool waitq_armed(const struct waitq_entry *e) { return e->q != NULL; }
static inline bool waitq_empty(const struct waitq *q) { return q->head == NULL; }
/* Unlinks e if it is armed; its callback will not run (unless it was woken already). */
void waitq_cancel(struct waitq_entry *e);
/* Moves the n oldest entries (SIZE_MAX: all) to b, in order; returns how many. */
size_t waitq_wake(struct waitq *q, size_t n, struct waitq_batch *b);
/* Moves the entries with any of flags (!= 0) to b, in order; returns how many. */
size_t waitq_wake_flagged(struct waitq *q, unsigned flags, struct waitq_batch *b);
/* Moves the entries whose deadline is <= now to b; returns the earliest
 * deadline left (0: none). */
int64_t waitq_expire(struct waitq *q, int64_t now, struct waitq_batch *b);
/* Appends src's entries to dst and empties src. */
void waitq_batch_move(struct waitq_batch *dst, struct waitq_batch *src);
/* Runs b's callbacks in order and empties b. No lock held. */
void waitq_fire(struct waitq_batch *b);

#endif
