/* internal — what objects/registry.c and objects/holders.c share. Not for
 * kinds or handlers. Everything here runs with the objects lock held. */
#ifndef SPAWND_OBJECTS_INTERNAL_H
#define SPAWND_OBJECTS_INTERNAL_H

#include "objects/kind.h"

struct store;

/* The registry's list of live objects, and adding one to it. */
struct obj *objects_first(void);
void objects_link(struct obj *o);
/* The kind of folder, or NULL; a new object of it (not linked), or NULL with c's error. */
const struct obj_kind *obj_kind_of(const char *folder);
struct obj *obj_new(const struct obj_kind *k, const char *name, const cJSON *options, struct obj_call *c);
/* persist.c: removes o's rows; takes the stored objects up again (s NULL: forget the store). */
void obj_store_remove(struct obj *o);
int obj_store_load(struct store *s);
/* Moves a finished waiter onto the batch fired when the lock is dropped. */
void objects_batch_push(struct obj_waiter *w);
/* Takes back the leases of o that have lapsed by now (wall ms). */
void obj_lapse(struct obj *o, int64_t now);
/* Takes back every grant of a worker that ended; finishes its waiters. */
void obj_owner_ended(struct obj *o, const char *id);
/* Drops the waiters whose client has gone; answers the ones past their deadline. */
void obj_tick_waiters(struct obj *o, int64_t mono_now, bool look_at_clients);
/* Counts a grant of kind k taken back from a holder that did not release it (metrics). */
void obj_count_abandoned(const struct obj_kind *k);
/* Gives back the grant of fence (one a waiter got and could not deliver). */
void obj_undo_grant(struct obj *o, uint64_t fence);

#endif
