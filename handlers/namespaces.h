/* namespaces — the routes of /namespaces that are the namespace kind's own
 * (objects/namespace.h): GET /namespaces/{name} (a describe, a wait for a
 * version with ?wait_version=N&timeout=S, or a follow stream of changes
 * with ?follow=true) and GET|PUT|DELETE /namespaces/{name}/keys/{key}
 * (If-Match / If-None-Match, ETag). PUT, DELETE and the list of
 * /namespaces are handlers/objects.h's, as for every kind.
 */
#ifndef SPAWND_HANDLERS_NAMESPACES_H
#define SPAWND_HANDLERS_NAMESPACES_H

#include "server/http.h"

enum MHD_Result namespaces_get(struct http_req *r);
enum MHD_Result namespaces_key_get(struct http_req *r);
enum MHD_Result namespaces_key_put(struct http_req *r);
enum MHD_Result namespaces_key_delete(struct http_req *r);

#endif
