/* returns — a C target's JSON result (spawnd_return_json(), include/spawnd_target.h).
 *
 * In a run started by POST /processes the value is printed on stdout (one
 * line), so it is the run's output as well. In a pool worker
 * (forkserver/pool_worker.c) it is kept and sent back as the task's result.
 * Per process: a worker is single-threaded when it calls these (the target
 * function's own threads must not return a value concurrently).
 */
#ifndef SPAWND_RETURNS_H
#define SPAWND_RETURNS_H

#include <stdbool.h>
#include <stddef.h>

/* Pool worker: keep values instead of printing them. */
void target_return_capture(bool on);
/* The value kept since the last call (compact JSON, len bytes, NUL-terminated),
 * or NULL. Borrowed: valid until the next spawnd_return_json() (one buffer
 * reused, no allocation per task). */
const char *target_return_take(size_t *len);

#endif
