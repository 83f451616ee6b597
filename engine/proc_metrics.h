/* proc_metrics — the engine's counters for GET /metrics: processes started
 * and ended by target (and reason), spawn latency and process duration
 * histograms, output bytes by stream, and whether the store is writable.
 *
 * Labels are target names and reasons, never an id or a pid: one set of
 * counters per target name, made the first time a target is spawned or
 * listed, kept (with its history) while the server runs, even when a reload
 * drops the target.
 *
 * Threads: the readers run on any thread; counters are atomics, read
 * without the engine lock. The hooks (second part) are the engine's own,
 * called with the engine lock held.
 */
#ifndef SPAWND_PROC_METRICS_H
#define SPAWND_PROC_METRICS_H

#include <stdint.h>

#include "engine/proc.h"
#include "lib/histogram.h"

#define PROC_METRICS_REASONS (PROC_REASON_LOST + 1)     /* enum proc_reason's values */

struct proc_target_counts {
	uint64_t started;                       /* workers that started */
	uint64_t ended[PROC_METRICS_REASONS];   /* records that ended, by reason (spawn_error: failed) */
};

/* Calls visit with the counts of every target of the registry now (0 for the
 * ones never run) and of every target counted before (a reload may have
 * dropped it), each name once, in the order they were first seen. */
void proc_metrics_targets(void (*visit)(const char *target, const struct proc_target_counts *c, void *arg),
			  void *arg);
/* "exit", "signal", ... (API.md's reason); NULL for PROC_REASON_NONE. */
const char *proc_metrics_reason_name(int reason);
/* Request accepted (the record made) -> worker started, queueing included. */
const struct histogram *proc_metrics_spawn_latency(void);
/* Worker started -> record ended (exited and its output drained). */
const struct histogram *proc_metrics_duration(void);
uint64_t proc_metrics_output_bytes(enum proc_stream s);
/* Output bytes not kept, by stream and why (output_cap_per_process reached,
 * or not kept on disk: the state folder short of free space, a failed write). */
enum proc_drop_reason { PROC_DROP_CAP, PROC_DROP_DISK };
uint64_t proc_metrics_output_dropped(enum proc_stream s, enum proc_drop_reason why);
/* 0 if the store is writable now, else -errno (takes the engine lock). */
int proc_metrics_store_check(void);

/* --- engine hooks, lock held --- */
struct proc;
/* p has just moved from state was (an enum proc_state) to p->state. */
void proc_metrics_moved(struct proc *p, int was);
/* len bytes of a worker's stream s were captured. */
void proc_metrics_output(enum proc_stream s, size_t len);
/* len bytes of a worker's stream s were not kept. */
void proc_metrics_dropped(enum proc_stream s, enum proc_drop_reason why, size_t len);

#endif
