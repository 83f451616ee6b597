/* proc_waiter — what a caller of the engine embeds to wait on it (a join, a
 * DELETE, a follow stream, an /events subscriber): a wait queue entry and the
 * callback that gets the waiter back. Armed by proc_wait(), proc_remove(),
 * proc_wait_output(), events_wait() and proc_spawn(), cancelled by
 * proc_wait_cancel(); the engine owns entry while it is armed. fn runs exactly
 * once, on the engine thread or the arming thread, outside the engine lock,
 * unless proc_wait_cancel() ran first.
 */
#ifndef SPAWND_PROC_WAITER_H
#define SPAWND_PROC_WAITER_H

#include "engine/waitq.h"

struct proc_waiter {
	struct waitq_entry entry;               /* engine-owned */
	void (*fn)(struct proc_waiter *w);
};

#endif
