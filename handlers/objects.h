/* objects — the HTTP face of the shared objects (objects/objects.h), the
 * same for every kind: PUT/GET/DELETE /{kind}/{name}, GET /{kind}, and
 * POST /{kind}/{name}/{operation}. The kind, the name and the operation come
 * from the path (the route table lists each route); what each does is the
 * kind's. A blocking operation suspends its request (no thread waits) until
 * its waiter is finished.
 */
#ifndef SPAWND_HANDLERS_OBJECTS_H
#define SPAWND_HANDLERS_OBJECTS_H

#include "server/http.h"

/* timeout_s: the default and maximum ?timeout= (the object_timeout setting). */
void objects_handlers_init(double timeout_s);

enum MHD_Result objects_list_route(struct http_req *r);
enum MHD_Result objects_put_route(struct http_req *r);
enum MHD_Result objects_get_route(struct http_req *r);
enum MHD_Result objects_delete_route(struct http_req *r);
enum MHD_Result objects_op_route(struct http_req *r);

#endif
