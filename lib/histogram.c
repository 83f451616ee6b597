/* histogram — see histogram.h.
 *
 * Why per-bucket (not cumulative) counters: an observation then touches one
 * bucket, not every bucket above it; the cumulative counts Prometheus wants
 * are summed at read time, which is rare (a scrape) next to observing. */
#include "lib/histogram.h"

#include <time.h>

void histogram_observe(struct histogram *h, uint64_t ns)
{
	size_t i = 0;
	while (i < h->nbounds && ns > h->bounds_ns[i])
		i++;
	atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void histogram_write(FILE *out, const char *name, const char *labels, const struct histogram *h)
{
	const char *sep = labels[0] ? "," : "";
	uint64_t total = 0;
	for (size_t i = 0; i <= h->nbounds; i++) {
		total += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
		if (i < h->nbounds)
			fprintf(out, "%s_bucket{%s%sle=\"%.9g\"} %llu\n", name, labels, sep,
				(double)h->bounds_ns[i] / 1e9, (unsigned long long)total);
		else
			fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
				(unsigned long long)total);
	}
	uint64_t sum = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
	const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
	fprintf(out, "%s_sum%s%s%s %.9f\n", name, open, labels, close, (double)sum / 1e9);
	fprintf(out, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)total);
}

uint64_t histogram_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
