/* routes — see routes.h. One line per endpoint of openapi/openapi.yaml. */
#include "handlers/routes.h"

#include "handlers/events.h"
#include "handlers/health.h"
#include "handlers/metrics.h"
#include "handlers/output.h"
#include "handlers/mapreduce.h"
#include "handlers/pools.h"
#include "handlers/processes.h"
#include "handlers/targets.h"
#include "server/auth.h"
#include "server/origin.h"
#include "server/router.h"

static enum MHD_Result metrics_route(struct http_req *r);

/* method, pattern, handler, flags (ROUTE_PUBLIC: no token needed). */
static const struct route routes[] = {
	{ "POST",   "/processes",                  processes_create,      0 },
	{ "GET",    "/processes",                  processes_list,        0 },
	{ "GET",    "/processes/{id}",             processes_get,         0 },
	{ "DELETE", "/processes/{id}",             processes_delete,      0 },
	{ "POST",   "/processes/{id}/join",        processes_join,        0 },
	{ "POST",   "/processes/{id}/terminate",   processes_terminate,   0 },
	{ "POST",   "/processes/{id}/kill",        processes_kill,        0 },
	{ "POST",   "/processes/{id}/signal",      processes_signal,      0 },
	{ "POST",   "/processes/{id}/stdin",       processes_stdin,       0 },
	{ "GET",    "/processes/{id}/output",      output_get,            0 },
	{ "GET",    "/events",                     events_get,            0 },
	{ "GET",    "/targets",                    targets_list,          0 },
	{ "GET",    "/targets/{name}",             targets_get,           0 },
	{ "POST",   "/targets/reload",             targets_reload,        0 },
	{ "GET",    "/healthz",                    health_get,            ROUTE_PUBLIC },
	{ "GET",    "/metrics",                    metrics_route,         0 },
	{ "GET",    "/openapi.yaml",               openapi_get,           0 },
	/* pools (handlers/pools.h) */
	{ "POST",   "/pools",                      pools_create,          0 },
	{ "GET",    "/pools",                      pools_list,            0 },
	{ "GET",    "/pools/{id}",                 pools_get,             0 },
	{ "DELETE", "/pools/{id}",                 pools_delete,          0 },
	{ "POST",   "/pools/{id}/close",           pools_close,           0 },
	{ "POST",   "/pools/{id}/terminate",       pools_terminate,       0 },
	{ "POST",   "/pools/{id}/join",            pools_join,            0 },
	{ "POST",   "/pools/{id}/map",             pools_map,             0 },
	{ "POST",   "/pools/{id}/apply",           pools_apply,           0 },
	{ "GET",    "/pools/{id}/jobs/{job}",      pools_job_get,         0 },
	{ "GET",    "/pools/{id}/jobs/{job}/results", pools_job_results,  0 },
	{ "POST",   "/mapreduce",                  mapreduce_create,      0 },
	{ "GET",    "/mapreduce/{id}",             mapreduce_get,         0 },
};

/* /metrics labels requests by this table's templates. */
static enum MHD_Result metrics_route(struct http_req *r)
{
	return metrics_get(r, routes, sizeof routes / sizeof routes[0]);
}

enum MHD_Result routes_dispatch(struct http_req *r)
{
	return router_dispatch(routes, sizeof routes / sizeof routes[0], r);
}

/* Before the body: Host and Origin, then the token (server/origin.h, server/auth.h). */
enum MHD_Result routes_admit(struct http_req *r)
{
	const struct route *row = router_find(routes, sizeof routes / sizeof routes[0], r);
	enum MHD_Result res = origin_check(r);
	if (r->replied)
		return res;
	return auth_check(r, row && (row->flags & ROUTE_PUBLIC));
}
