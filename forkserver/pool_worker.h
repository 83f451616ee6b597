/* forkserver/pool_worker.h — what the pool worker's loop (pool_worker.c)
 * and its task stdout capture (pool_worker_capture.c) share. Not for use
 * elsewhere.
 */
#ifndef SPAWND_FS_POOL_WORKER_H
#define SPAWND_FS_POOL_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "targets/target.h"

#define READ_SIZE 65536
#define CAPTURE_MAP (2 << 20)           /* memfd bytes read through a mapping, not pread */

struct worker {
	int channel, real_stdout;
	const struct target *t;
	struct target_ctx ctx;
	off_t base;                     /* the memfd offset the current task started at */
	const char *map;                /* the capture's first CAPTURE_MAP bytes, or NULL */
	int notify;                     /* the capture's inotify fd (written tells), -1: lseek() each task */
	cJSON *quick;                   /* {"<key>": n}: the last integer task's args, reused */
	volatile uint64_t *progress;    /* the page shared with spawnd, or NULL */
	char *out;                      /* result lines not written yet */
	char *runs;                     /* out with its runs joined (join_runs()) */
	size_t runs_cap;
	int64_t flushed_us;             /* since when they wait: a read, or the last write (monotonic) */
	size_t out_len, out_cap;
};

/* The capture (the task's fd 1), watched (w->notify) when it can be, else
 * a memfd (w->notify -1). -1: neither. */
int capture_open(struct worker *w);
/* What the task wrote on fd 1 since it started (malloc'd, *len bytes), or
 * NULL; a task that returned a value (valued) and was not seen to write is
 * not measured. */
char *capture_take(struct worker *w, size_t *len, bool valued);
/* Once per read: bytes the watch missed go to the worker's stdout, and the
 * watch is dropped (every task measured from then on). */
void capture_check(struct worker *w);

#endif
