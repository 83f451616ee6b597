/* registry — every target spawnd may run, found by name; and the rules for
 * the names a target or an argument may take.
 *
 * Order: builtins (targets/builtin.h), then plugin targets (installed once at
 * startup), then the current exec set (swapped on reload). Names are looked up
 * in tables, never turned into paths.
 *
 * Threads: targets_set_plugins() runs once before any thread starts. The exec
 * set is swapped atomically by targets_set_exec() while request threads call
 * target_find() and targets_for_each() without a lock. Targets returned stay
 * valid until targets_release() (at exit): old sets are retired, never freed
 * while the server runs.
 */
#ifndef SPAWND_REGISTRY_H
#define SPAWND_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include "targets/exec_file.h"
#include "targets/target.h"

/* --- names --- */

/* True when name is a plausible target name: 1-128 bytes of [A-Za-z0-9_.-]. */
bool target_name_valid(const char *name);
/* True when a target may be declared (exec file, plugin) with this name: valid,
 * and not starting with '.' or '-'. TARGET_NAME_RULE says so to the user. */
bool target_name_declarable(const char *name);
#define TARGET_NAME_RULE "must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"
#define TARGET_ARG_NAME_MAX 64  /* longest argument name a declared target may use */
/* True when s is a C identifier ([A-Za-z_][A-Za-z0-9_]*) of at most max bytes:
 * argument names, environment names. */
bool target_identifier(const char *s, size_t max);

/* --- lookup --- */

/* Looks up a target by exact name. NULL when there is none (or the name is
 * not a plausible target name). Never builds a path from the name. */
const struct target *target_find(const char *name);

/* The same for a name of len bytes that may hold NUL bytes (a decoded URL path
 * segment): a NUL anywhere makes it no target. */
const struct target *target_find_len(const char *name, size_t len);

/* Like target_find() but only among builtin and plugin targets (the names an
 * exec target may not take). */
const struct target *target_find_static(const char *name);

/* Calls visit for every target in registry order (builtins, plugins, then the
 * exec set current when the call began). */
void targets_for_each(void (*visit)(const struct target *t, void *data), void *data);

/* --- the sets --- */

/* Registers the plugin targets (searched after the builtins, before the exec
 * targets). Call once at startup, before any thread starts; the array must
 * live as long as the process. */
void targets_set_plugins(const struct target *targets, size_t count);

/* Installs f (from exec_load_file(), may be NULL for none) as the current set
 * of exec targets; safe while other threads call target_find(). The registry
 * takes ownership of f. The previous set is NOT freed: callers hold target
 * pointers (requests, running processes) without reference counts, so every
 * set ever installed stays valid until targets_release(). A reload thus costs
 * the memory of one parsed file. */
void targets_set_exec(struct exec_file *f);

/* Frees every exec set installed (at exit, when no thread uses a target). */
void targets_release(void);

#endif
