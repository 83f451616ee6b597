/* engine — the state every engine module shares: the engine lock, the engine
 * thread's epoll set and wake-up eventfd, its timer bookkeeping, the batch of
 * waiters to fire, and the shutting-down flag. Nothing else is global: the
 * records and their lists are proc_table's, the event ring is events'.
 *
 * Locks: one, the engine lock (engine_lock()). It guards every record, every
 * list, the store, the event ring and every wait queue. It is never held
 * while calling the fork server or running a waiter's callback.
 * Fds: engine_open() creates the epoll fd and the wake eventfd (both
 * close-on-exec); engine_close() closes them. The pipes in the epoll set
 * belong to their records (see proc_record.h).
 */
#ifndef SPAWND_ENGINE_H
#define SPAWND_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/proc_waiter.h"
#include "engine/waitq.h"

void engine_lock(void);
void engine_unlock(void);

/* 0 or -errno. */
int engine_open(void);
void engine_close(void);
int engine_epoll_fd(void);
int engine_wake_fd(void);
/* Makes the engine thread's epoll_wait return (any thread, lock or not). */
void engine_wake(void);

/* Timers (lock held). A deadline set by another thread: the engine thread is
 * woken only when it is earlier than the one it sleeps until, so a join with
 * a timeout costs no wake-up. */
void engine_timer_added(int64_t deadline_ms);
/* The engine thread recomputes every timer on its next turn. */
void engine_timers_changed(void);
bool engine_timers_due(int64_t now);
void engine_timers_set(int64_t next);   /* the earliest timer, 0: none */
int64_t engine_next_timer(void);

/* Waiters on the engine's queues (lock held). */
void engine_arm(struct waitq *q, struct proc_waiter *w, double timeout_s, unsigned flags,
		void (*fn)(struct proc_waiter *w));
void engine_wake_all(struct waitq *q);
void engine_wake_flagged(struct waitq *q, unsigned flags);
int64_t engine_expire(struct waitq *q, int64_t now);    /* the next deadline, 0: none */
/* Takes the lock itself. */
void engine_cancel(struct proc_waiter *w);
/* Runs the callbacks of every waiter woken so far. Call WITHOUT the lock. */
void engine_fire(void);

bool engine_shutting_down(void);        /* lock held */
void engine_set_shutting_down(void);    /* lock held */

#endif
