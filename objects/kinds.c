/* kinds — every kind of shared object the registry knows (objects/kind.h).
 * A new kind is one line here and its own file. */
#include "objects/namespace.h"
#include "objects/queue.h"
#include "objects/sync.h"

const struct obj_kind *const objects_kinds[] = {
	&sync_event_kind,
	&sync_lock_kind,
	&sync_semaphore_kind,
	&sync_condition_kind,
	&sync_barrier_kind,
	&queue_kind,
	&namespace_kind,
	NULL,
};
