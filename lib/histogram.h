/* histogram — a Prometheus histogram of durations: fixed bucket bounds, one
 * atomic counter per bucket and an atomic sum, so observing is a bucket
 * search and two relaxed atomic adds, from any thread, with no lock.
 *
 * A histogram is a static or embedded value, set up with HISTOGRAM_INIT (the
 * counters start at 0); nothing to release. The bounds array (nanoseconds,
 * ascending, at most HISTOGRAM_BUCKETS_MAX) must outlive it.
 * Reading while others observe is fine: each counter is read once, and the
 * +Inf bucket and _count are the same total, so the text is always
 * consistent (only _sum may include an observation the buckets do not yet).
 */
#ifndef SPAWND_HISTOGRAM_H
#define SPAWND_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HISTOGRAM_BUCKETS_MAX 16

struct histogram {
	const uint64_t *bounds_ns;      /* upper bounds (le), ascending */
	size_t nbounds;
	_Atomic uint64_t counts[HISTOGRAM_BUCKETS_MAX + 1];     /* [nbounds]: above the last bound */
	_Atomic uint64_t sum_ns;
};

#define HISTOGRAM_INIT(bounds) { (bounds), sizeof(bounds) / sizeof((bounds)[0]), { 0 }, 0 }

/* Counts one duration of ns nanoseconds. */
void histogram_observe(struct histogram *h, uint64_t ns);

/* Writes h's samples in Prometheus text format: name_bucket{LABELS,le="…"},
 * name_sum (seconds) and name_count; labels is "" or `a="x",b="y"` (already
 * escaped). The # HELP and # TYPE lines are the caller's (once per family). */
void histogram_write(FILE *out, const char *name, const char *labels, const struct histogram *h);

/* The monotonic clock in nanoseconds (what observations are measured with). */
uint64_t histogram_now_ns(void);

#endif
