/* sync — the synchronisation kinds of shared objects (API.md "Shared
 * objects": events, locks, semaphores, conditions, barriers), each a
 * struct obj_kind (objects/kind.h) listed in objects_kinds[] (kinds.c).
 * sync_lock.c's holder logic is shared with conditions, which are bound to a
 * lock (a named one, or one of their own).
 */
#ifndef SPAWND_OBJECTS_SYNC_H
#define SPAWND_OBJECTS_SYNC_H

#include "objects/kind.h"

extern const struct obj_kind sync_event_kind, sync_lock_kind, sync_semaphore_kind, sync_condition_kind,
	sync_barrier_kind;

/* What a waiter on a lock's queue is: a plain acquire, or a condition's
 * waiter taking its lock again (w->timed_flag: it was notified). */
enum sync_lock_wait { SYNC_ACQUIRE, SYNC_COND_REACQUIRE };

/* A lock object of its own for a condition (not in the registry). */
struct obj *sync_lock_new_private(const char *name, bool reentrant);
/* The lock kind's operations and description, for a condition's lock. */
int sync_lock_acquire(struct obj *lock, struct obj_call *c);
int sync_lock_release(struct obj *lock, struct obj_call *c);
int sync_lock_renew(struct obj *lock, struct obj_call *c);
void sync_lock_describe(const struct obj *lock, cJSON *into);
/* Grants the lock to the waiters at its queue's head while it is free. */
void sync_lock_serve(struct obj *lock);

#endif
