/* http_metrics — counts of answered requests by route and status, and their
 * durations by route, for GET /metrics.
 *
 * A route is its row in the route table (router.h), counted as row + 1;
 * 0 is "no row": an unknown path, a method a path does not allow, a body
 * refused before dispatch. So a label is always a route template, never a
 * request's own path. Counting is a few relaxed atomic adds on fixed arrays:
 * no lock, no allocation, any thread.
 */
#ifndef SPAWND_HTTP_METRICS_H
#define SPAWND_HTTP_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/histogram.h"

#define HTTP_METRICS_ROUTES 40          /* rows counted; a larger table counts the rest as 0 */
#define HTTP_METRICS_STATUS_MIN 100
#define HTTP_METRICS_STATUS_MAX 599

/* One request answered with status after ns nanoseconds (statuses outside
 * 100-599, e.g. 0 for a client gone before any answer, are not counted). */
void http_metrics_count(int route, unsigned status, uint64_t ns);
uint64_t http_metrics_requests(int route, unsigned status);
/* True when some route has answered status. */
bool http_metrics_status_seen(unsigned status);
/* NULL for a route out of range. */
const struct histogram *http_metrics_duration(int route);

#endif
