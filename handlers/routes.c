/* routes — see routes.h. One line per endpoint of openapi/openapi.yaml. */
#include "handlers/routes.h"

#include "handlers/dashboard.h"
#include "handlers/events.h"
#include "handlers/health.h"
#include "handlers/metrics.h"
#include "handlers/namespaces.h"
#include "handlers/objects.h"
#include "handlers/output.h"
#include "handlers/mapreduce.h"
#include "handlers/pools.h"
#include "handlers/processes.h"
#include "handlers/search.h"
#include "handlers/session.h"
#include "handlers/targets.h"
#include "handlers/timeline.h"
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
	/* Shared objects (handlers/objects.c): the kind, name and operation come from the path. */
	{ "GET",    "/sync/events",                  objects_list_route,    0 },
	{ "PUT",    "/sync/events/{name}",           objects_put_route,     0 },
	{ "GET",    "/sync/events/{name}",           objects_get_route,     0 },
	{ "DELETE", "/sync/events/{name}",           objects_delete_route,  0 },
	{ "POST",   "/sync/events/{name}/set",       objects_op_route,      0 },
	{ "POST",   "/sync/events/{name}/clear",     objects_op_route,      0 },
	{ "POST",   "/sync/events/{name}/wait",      objects_op_route,      0 },
	{ "GET",    "/sync/locks",                   objects_list_route,    0 },
	{ "PUT",    "/sync/locks/{name}",            objects_put_route,     0 },
	{ "GET",    "/sync/locks/{name}",            objects_get_route,     0 },
	{ "DELETE", "/sync/locks/{name}",            objects_delete_route,  0 },
	{ "POST",   "/sync/locks/{name}/acquire",    objects_op_route,      0 },
	{ "POST",   "/sync/locks/{name}/release",    objects_op_route,      0 },
	{ "POST",   "/sync/locks/{name}/renew",      objects_op_route,      0 },
	{ "GET",    "/sync/semaphores",              objects_list_route,    0 },
	{ "PUT",    "/sync/semaphores/{name}",       objects_put_route,     0 },
	{ "GET",    "/sync/semaphores/{name}",       objects_get_route,     0 },
	{ "DELETE", "/sync/semaphores/{name}",       objects_delete_route,  0 },
	{ "POST",   "/sync/semaphores/{name}/acquire",  objects_op_route,      0 },
	{ "POST",   "/sync/semaphores/{name}/release",  objects_op_route,      0 },
	{ "POST",   "/sync/semaphores/{name}/renew",  objects_op_route,      0 },
	{ "GET",    "/sync/conditions",              objects_list_route,    0 },
	{ "PUT",    "/sync/conditions/{name}",       objects_put_route,     0 },
	{ "GET",    "/sync/conditions/{name}",       objects_get_route,     0 },
	{ "DELETE", "/sync/conditions/{name}",       objects_delete_route,  0 },
	{ "POST",   "/sync/conditions/{name}/acquire",  objects_op_route,      0 },
	{ "POST",   "/sync/conditions/{name}/release",  objects_op_route,      0 },
	{ "POST",   "/sync/conditions/{name}/renew",  objects_op_route,      0 },
	{ "POST",   "/sync/conditions/{name}/wait",  objects_op_route,      0 },
	{ "POST",   "/sync/conditions/{name}/notify",  objects_op_route,      0 },
	{ "POST",   "/sync/conditions/{name}/notify_all",  objects_op_route,      0 },
	{ "GET",    "/sync/barriers",                objects_list_route,    0 },
	{ "PUT",    "/sync/barriers/{name}",         objects_put_route,     0 },
	{ "GET",    "/sync/barriers/{name}",         objects_get_route,     0 },
	{ "DELETE", "/sync/barriers/{name}",         objects_delete_route,  0 },
	{ "POST",   "/sync/barriers/{name}/wait",    objects_op_route,      0 },
	{ "POST",   "/sync/barriers/{name}/abort",   objects_op_route,      0 },
	{ "POST",   "/sync/barriers/{name}/reset",   objects_op_route,      0 },
	/* The dashboard's files hold no data (the page asks the API, with its session). */
	{ "GET",    "/processes/{id}/timeline",    timeline_get,          0 },
	{ "GET",    "/search",                     search_get,            0 },
	/* How a browser gets in: each checks what it is given itself (handlers/session.h). */
	{ "POST",   "/session",                    session_post,          ROUTE_PUBLIC },
	{ "GET",    "/session",                    session_get,           ROUTE_PUBLIC },
	{ "DELETE", "/session",                    session_delete,        ROUTE_PUBLIC },
	{ "GET",    "/",                           dashboard_index,       ROUTE_PUBLIC },
	{ "GET",    "/assets/{name}",              dashboard_asset,       ROUTE_PUBLIC },
	/* Queues (objects/queue.c). */
	{ "GET",    "/queues",                       objects_list_route,    0 },
	{ "PUT",    "/queues/{name}",                objects_put_route,     0 },
	{ "GET",    "/queues/{name}",                objects_get_route,     0 },
	{ "DELETE", "/queues/{name}",                objects_delete_route,  0 },
	{ "POST",   "/queues/{name}/put",            objects_op_route,      0 },
	{ "POST",   "/queues/{name}/get",            objects_op_route,      0 },
	{ "POST",   "/queues/{name}/task_done",      objects_op_route,      0 },
	{ "POST",   "/queues/{name}/join",           objects_op_route,      0 },
	/* Namespaces (objects/namespace.c, handlers/namespaces.c). */
	{ "GET",    "/namespaces",                   objects_list_route,    0 },
	{ "PUT",    "/namespaces/{name}",            objects_put_route,     0 },
	{ "GET",    "/namespaces/{name}",            namespaces_get,        0 },
	{ "DELETE", "/namespaces/{name}",            objects_delete_route,  0 },
	{ "GET",    "/namespaces/{name}/keys/{key}", namespaces_key_get,    0 },
	{ "PUT",    "/namespaces/{name}/keys/{key}", namespaces_key_put,    0 },
	{ "DELETE", "/namespaces/{name}/keys/{key}", namespaces_key_delete, 0 },
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
	{ "GET",    "/pools/{id}/jobs",            pools_job_list,        0 },
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
	/* Over a connection limit only /healthz and an operator get in (server/connlimit.h). */
	if (r->over_limit && !(row && (row->flags & ROUTE_PUBLIC)) && !auth_is_admin(r))
		return http_reply_over_limit(r);
	return auth_check(r, row && (row->flags & ROUTE_PUBLIC));
}

/* For the router's fuzzer (tests/fuzz/fuzz_request.c): the real table. */
const struct route *routes_table(size_t *n)
{
	*n = sizeof routes / sizeof routes[0];
	return routes;
}
