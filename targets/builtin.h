/* builtin — the targets every spawnd build has (API.md's table).
 *
 * The table is static and const: it lives forever and is never changed.
 * The functions run in the worker (a fresh single-threaded child with fds 0-2)
 * and write with write(2), retrying short writes and EINTR.
 */
#ifndef SPAWND_BUILTIN_H
#define SPAWND_BUILTIN_H

#include <stddef.h>
#include "targets/target.h"

/* The builtin targets, in registry order; *count receives their number. */
const struct target *builtin_targets(size_t *count);

#endif
