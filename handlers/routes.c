/* routes — see routes.h. One line per endpoint of openapi/openapi.yaml. */
#include "handlers/routes.h"

#include "handlers/events.h"
#include "handlers/health.h"
#include "handlers/metrics.h"
#include "handlers/output.h"
#include "handlers/processes.h"
#include "handlers/targets.h"
#include "server/router.h"

static enum MHD_Result metrics_route(struct http_req *r);

static const struct route routes[] = {
	{ "POST",   "/processes",                  processes_create },
	{ "GET",    "/processes",                  processes_list },
	{ "GET",    "/processes/{id}",             processes_get },
	{ "DELETE", "/processes/{id}",             processes_delete },
	{ "POST",   "/processes/{id}/join",        processes_join },
	{ "POST",   "/processes/{id}/terminate",   processes_terminate },
	{ "POST",   "/processes/{id}/kill",        processes_kill },
	{ "POST",   "/processes/{id}/signal",      processes_signal },
	{ "POST",   "/processes/{id}/stdin",       processes_stdin },
	{ "GET",    "/processes/{id}/output",      output_get },
	{ "GET",    "/events",                     events_get },
	{ "GET",    "/targets",                    targets_list },
	{ "GET",    "/targets/{name}",             targets_get },
	{ "POST",   "/targets/reload",             targets_reload },
	{ "GET",    "/healthz",                    health_get },
	{ "GET",    "/metrics",                    metrics_route },
	{ "GET",    "/openapi.yaml",               openapi_get },
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
