/* metrics — GET /metrics: every counter of the server in Prometheus text
 * format 0.0.4 (the families are listed in the README, "Metrics"). */
#ifndef SPAWND_HANDLERS_METRICS_H
#define SPAWND_HANDLERS_METRICS_H

#include <stddef.h>

#include "server/http.h"
#include "server/router.h"

/* routes[0..n) is the route table, whose templates label the requests. */
enum MHD_Result metrics_get(struct http_req *r, const struct route *routes, size_t n);

#endif
