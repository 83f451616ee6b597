/* namespace — the /namespaces kind of shared object (API.md "Shared
 * objects": multiprocessing's Manager().Namespace() and dict()), a struct
 * obj_kind (objects/kind.h) listed in objects_kinds[] (kinds.c).
 *
 * Its operations, called by handlers/namespaces.c through objects_call()
 * with a JSON body (no route reaches them as POST .../{op}):
 *   key_get {key}, key_put {key, value, if_match?, if_none_match?},
 *   key_delete {key, if_match?}   -> {key, value, version, namespace_version}
 *   wait {wait_version}           -> {name, version, values, changed}, waits
 *   change {after}                -> the next change, caught_up, or a resync
 */
#ifndef SPAWND_OBJECTS_NAMESPACE_H
#define SPAWND_OBJECTS_NAMESPACE_H

#include "objects/kind.h"

extern const struct obj_kind namespace_kind;

#endif
