/* router — the generic matcher: finds a request's handler in a table of
 * {method, path pattern, handler} (the table itself is the handlers', see
 * handlers/routes.c). Path parameters ({id}, {name}) match one segment of
 * [A-Za-z0-9_.-] (never "." or ".."), at most 128 bytes, and land in
 * r->params: a name from a request is only ever looked up in a table. HEAD is
 * answered as GET. A known path with another method gets 405 with Allow
 * (OPTIONS: 204 with Allow, the CORS preflight); anything else 404.
 */
#ifndef SPAWND_ROUTER_H
#define SPAWND_ROUTER_H

#include <stddef.h>

#include "server/http.h"

enum route_flags {
	ROUTE_PUBLIC = 1 << 0,   /* needs no token (/healthz) */
};

struct route {
	const char *method;
	const char *pattern;
	http_handler *handler;
	enum route_flags flags;
};

/* Runs the handler of the first route of routes[0..n) matching r, or replies
 * 404/405/204 itself. */
/* The route of routes[0..n) matching r's method and path, or NULL; sets
 * r->route (and r->params) as dispatching would, so an answer given before
 * dispatch (a refused token) is counted by its route. */
const struct route *router_find(const struct route *routes, size_t n, struct http_req *r);

enum MHD_Result router_dispatch(const struct route *routes, size_t n, struct http_req *r);

#endif
