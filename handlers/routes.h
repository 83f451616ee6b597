/* routes — where each request goes: the API's one table of {method, path
 * pattern, handler}, matched by server/router.c. main.c hands routes_dispatch
 * to http_start(), so the HTTP plumbing never includes a handler. */
#ifndef SPAWND_HANDLERS_ROUTES_H
#define SPAWND_HANDLERS_ROUTES_H

#include "server/http.h"

enum MHD_Result routes_dispatch(struct http_req *r);
/* http_config's admit: refuses a request by its Host, Origin or token. */
enum MHD_Result routes_admit(struct http_req *r);

struct route;
/* The table itself (n rows), for the router's fuzzer. */
const struct route *routes_table(size_t *n);

#endif
