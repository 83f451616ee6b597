/* queue — the /queues kind of shared object (API.md "Shared objects":
 * multiprocessing's Queue and JoinableQueue), a struct obj_kind
 * (objects/kind.h) listed in objects_kinds[] (kinds.c). */
#ifndef SPAWND_OBJECTS_QUEUE_H
#define SPAWND_OBJECTS_QUEUE_H

#include "objects/kind.h"

extern const struct obj_kind queue_kind;

#endif
