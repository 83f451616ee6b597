/* proc_metrics — see proc_metrics.h.
 *
 * Why counters by target name in a table of their own: the targets are
 * const tables of the registry (an exec set is swapped on reload, never
 * changed), so nothing can be hung on them. A record finds its target's
 * counters once, when it is created (the engine lock is held then anyway);
 * from then on its transitions only add to atomics through p->metrics.
 *
 * The table is a hash of name -> counters, written only under the engine
 * lock (lookups at creation, and a scrape that adds the registry's new
 * names); counters are never freed while the server runs, so records and
 * readers hold plain pointers. A scrape walks them through the "all" list,
 * which grows at its tail with release stores, without the lock.
 */
#include "engine/proc_metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/proc_json.h"
#include "engine/proc_record.h"
#include "engine/proc_table.h"
#include "targets/registry.h"

#define BUCKETS 256

struct proc_metrics_target {
	struct proc_metrics_target *bucket_next;        /* engine lock */
	_Atomic(struct proc_metrics_target *) all_next;
	_Atomic uint64_t started, ended[PROC_METRICS_REASONS];
	char name[];
};

static struct proc_metrics_target *buckets[BUCKETS];
static _Atomic(struct proc_metrics_target *) all_head;
static struct proc_metrics_target *all_tail;             /* engine lock */

/* Spawn latency: a fork takes a millisecond or so; a queued process waits
 * for a slot (seconds, minutes). Durations: from a blink to an hour. */
static const uint64_t latency_bounds_ns[] = {
	250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
	100000000, 250000000, 1000000000, 5000000000, 30000000000, 300000000000,
};
static const uint64_t duration_bounds_ns[] = {
	10000000, 50000000, 100000000, 500000000, 1000000000, 5000000000, 10000000000,
	30000000000, 60000000000, 300000000000, 900000000000, 3600000000000,
};
static struct histogram spawn_latency = HISTOGRAM_INIT(latency_bounds_ns);
static struct histogram duration = HISTOGRAM_INIT(duration_bounds_ns);
static _Atomic uint64_t output_bytes[2];
static _Atomic uint64_t dropped_bytes[2][2];     /* [stream][enum proc_drop_reason] */

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;       /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % BUCKETS;
}

/* The counters of target name, made if new; NULL when out of memory. Lock held. */
static struct proc_metrics_target *target_counters(const char *name)
{
	unsigned b = hash(name);
	struct proc_metrics_target *t;
	for (t = buckets[b]; t; t = t->bucket_next)
		if (strcmp(t->name, name) == 0)
			return t;
	size_t len = strlen(name);
	if (!(t = calloc(1, sizeof *t + len + 1)))
		return NULL;
	memcpy(t->name, name, len + 1);
	t->bucket_next = buckets[b];
	buckets[b] = t;
	if (all_tail)
		atomic_store_explicit(&all_tail->all_next, t, memory_order_release);
	else
		atomic_store_explicit(&all_head, t, memory_order_release);
	all_tail = t;
	return t;
}

static void add_target(const struct target *t, void *arg)
{
	target_counters(t->name);
}

void proc_metrics_targets(void (*visit)(const char *target, const struct proc_target_counts *c, void *arg),
			  void *arg)
{
	engine_lock();
	targets_for_each(add_target, NULL);
	engine_unlock();
	for (struct proc_metrics_target *t = atomic_load_explicit(&all_head, memory_order_acquire); t;
	     t = atomic_load_explicit(&t->all_next, memory_order_acquire)) {
		struct proc_target_counts c;
		c.started = atomic_load_explicit(&t->started, memory_order_relaxed);
		for (int r = 0; r < PROC_METRICS_REASONS; r++)
			c.ended[r] = atomic_load_explicit(&t->ended[r], memory_order_relaxed);
		visit(t->name, &c, arg);
	}
}

const char *proc_metrics_reason_name(int reason)
{
	return reason >= 0 && reason < PROC_METRICS_REASONS ? proc_reason_name((enum proc_reason)reason) : NULL;
}

const struct histogram *proc_metrics_spawn_latency(void) { return &spawn_latency; }
const struct histogram *proc_metrics_duration(void) { return &duration; }

uint64_t proc_metrics_output_bytes(enum proc_stream s)
{
	return atomic_load_explicit(&output_bytes[s], memory_order_relaxed);
}

int proc_metrics_store_check(void)
{
	engine_lock();
	int r = store_check(proc_table_store());
	engine_unlock();
	return r;
}

static bool alive(int state)
{
	return state != PROC_LINGERING && state != PROC_EXITED && state != PROC_FAILED;
}

void proc_metrics_moved(struct proc *p, int was)
{
	uint64_t now = histogram_now_ns();
	if (!p->metrics)        /* a new record, or one the store gave back */
		p->metrics = target_counters(p->rec.target);
	if (was == PROC_NEW)
		p->accepted_ns = now;
	if (p->state == PROC_RUNNING && was == PROC_STARTING) {
		p->started_ns = now;
		if (p->accepted_ns)
			histogram_observe(&spawn_latency, now - p->accepted_ns);
		if (p->metrics)
			atomic_fetch_add_explicit(&p->metrics->started, 1, memory_order_relaxed);
	}
	if (alive(was) && !alive(p->state)) {
		if (p->started_ns)
			histogram_observe(&duration, now - p->started_ns);
		if (p->metrics && p->rec.reason >= 0 && p->rec.reason < PROC_METRICS_REASONS)
			atomic_fetch_add_explicit(&p->metrics->ended[p->rec.reason], 1, memory_order_relaxed);
	}
}

uint64_t proc_metrics_output_dropped(enum proc_stream s, enum proc_drop_reason why)
{
	return atomic_load_explicit(&dropped_bytes[s][why], memory_order_relaxed);
}

void proc_metrics_dropped(enum proc_stream s, enum proc_drop_reason why, size_t len)
{
	atomic_fetch_add_explicit(&dropped_bytes[s][why], len, memory_order_relaxed);
}

void proc_metrics_output(enum proc_stream s, size_t len)
{
	atomic_fetch_add_explicit(&output_bytes[s], len, memory_order_relaxed);
}
