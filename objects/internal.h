/* internal — what objects/registry.c and objects/holders.c share. Not for
 * kinds or handlers. Everything here runs with the objects lock held. */
#ifndef SPAWND_OBJECTS_INTERNAL_H
#define SPAWND_OBJECTS_INTERNAL_H

#include "objects/kind.h"

/* The registry's list of live objects. */
struct obj *objects_first(void);
/* Moves a finished waiter onto the batch fired when the lock is dropped. */
void objects_batch_push(struct obj_waiter *w);
/* Takes back the leases of o that have lapsed by now (wall ms). */
void obj_lapse(struct obj *o, int64_t now);
/* Takes back every grant of a worker that ended; finishes its waiters. */
void obj_owner_ended(struct obj *o, const char *id);
/* Drops the waiters whose client has gone; answers the ones past their deadline. */
void obj_tick_waiters(struct obj *o, int64_t mono_now, bool look_at_clients);
/* Gives back the grant of fence (one a waiter got and could not deliver). */
void obj_undo_grant(struct obj *o, uint64_t fence);

#endif
