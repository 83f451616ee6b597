/* router — maps a request to its handler through one static table of
 * {method, path pattern, handler}. Path parameters ({id}, {name}) match one
 * segment of [A-Za-z0-9_.-] (never "." or ".."), at most 128 bytes: a name
 * from a request is only ever looked up in a table. A known path with another
 * method gets 405 with Allow; anything else 404. */
#ifndef SPAWND_ROUTER_H
#define SPAWND_ROUTER_H

#include "server/http.h"

enum MHD_Result router_dispatch(struct http_req *r);

#endif
