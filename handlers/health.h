/* health — GET /healthz (no auth) and GET /openapi.yaml (the contract,
 * compiled into the binary). GET /metrics is handlers/metrics.h. */
#ifndef SPAWND_HANDLERS_HEALTH_H
#define SPAWND_HANDLERS_HEALTH_H

#include "server/http.h"

#define SPAWND_VERSION "0.1.0"

/* Call once at startup, for the uptime. */
void health_init(void);
/* Seconds since health_init(). */
double health_uptime(void);
enum MHD_Result health_get(struct http_req *r);
enum MHD_Result openapi_get(struct http_req *r);

#endif
