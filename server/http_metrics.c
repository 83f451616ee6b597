/* http_metrics — see http_metrics.h.
 *
 * Why a full array of statuses per route (100-599, ~4 KB a route) rather
 * than a list of the known ones: any status a handler or libmicrohttpd
 * sends is counted as itself, and counting stays one index, no search. */
#include "server/http_metrics.h"

#include <stdatomic.h>

#define STATUSES (HTTP_METRICS_STATUS_MAX - HTTP_METRICS_STATUS_MIN + 1)

/* From a local request (well under a millisecond) to a long poll (?wait=,
 * a follow: those land in +Inf). */
static const uint64_t bounds_ns[] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,
	50000000, 100000000, 250000000, 1000000000, 5000000000, 30000000000,
};

static _Atomic uint64_t requests[HTTP_METRICS_ROUTES + 1][STATUSES];
static struct histogram durations[HTTP_METRICS_ROUTES + 1] = {
	[0 ... HTTP_METRICS_ROUTES] = HISTOGRAM_INIT(bounds_ns),
};

static bool in_range(int route, unsigned status)
{
	return route >= 0 && route <= HTTP_METRICS_ROUTES &&
	       status >= HTTP_METRICS_STATUS_MIN && status <= HTTP_METRICS_STATUS_MAX;
}

void http_metrics_count(int route, unsigned status, uint64_t ns)
{
	if (!in_range(route, status))
		return;
	atomic_fetch_add_explicit(&requests[route][status - HTTP_METRICS_STATUS_MIN], 1, memory_order_relaxed);
	histogram_observe(&durations[route], ns);
}

uint64_t http_metrics_requests(int route, unsigned status)
{
	if (!in_range(route, status))
		return 0;
	return atomic_load_explicit(&requests[route][status - HTTP_METRICS_STATUS_MIN], memory_order_relaxed);
}

bool http_metrics_status_seen(unsigned status)
{
	for (int r = 0; r <= HTTP_METRICS_ROUTES; r++)
		if (http_metrics_requests(r, status))
			return true;
	return false;
}

const struct histogram *http_metrics_duration(int route)
{
	return route >= 0 && route <= HTTP_METRICS_ROUTES ? &durations[route] : NULL;
}
