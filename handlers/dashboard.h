/* dashboard — spawnd's own web page (GET / and GET /assets/{name}): static
 * files built into the binary (handlers/dash_assets.h), served with their
 * type, an ETag (If-None-Match answers 304) and a strict
 * Content-Security-Policy. The page itself talks to the API like any client.
 * Threads: any HTTP thread; no state. */
#ifndef SPAWND_DASHBOARD_H
#define SPAWND_DASHBOARD_H

#include "server/http.h"

enum MHD_Result dashboard_index(struct http_req *r);
enum MHD_Result dashboard_asset(struct http_req *r);

#endif
