/* objects — the HTTP face of the shared objects (objects/objects.h), the
 * same for every kind: PUT/GET/DELETE /{kind}/{name}, GET /{kind}, and
 * POST /{kind}/{name}/{operation}. The kind, the name and the operation come
 * from the path (the route table lists each route); what each does is the
 * kind's. A blocking operation suspends its request (no thread waits) until
 * its waiter is finished.
 */
#ifndef SPAWND_HANDLERS_OBJECTS_H
#define SPAWND_HANDLERS_OBJECTS_H

#include <cjson/cJSON.h>

#include "server/http.h"

/* timeout_s: the default and maximum ?timeout= (the object_timeout setting). */
void objects_handlers_init(double timeout_s);

enum MHD_Result objects_list_route(struct http_req *r);
enum MHD_Result objects_put_route(struct http_req *r);
enum MHD_Result objects_get_route(struct http_req *r);
enum MHD_Result objects_delete_route(struct http_req *r);
enum MHD_Result objects_op_route(struct http_req *r);

/* For handlers of a kind's own routes (handlers/namespaces.c). */
/* Sets headers of an answer from it (an ETag) just before it is sent. */
typedef void objects_decorate(struct http_req *r, const cJSON *result);
/* ?timeout=: true and the seconds (the maximum when absent, clamped to it),
 * or false and a 400 in *res. */
bool objects_read_timeout(struct http_req *r, double *timeout_s, enum MHD_Result *res);
/* Runs op of folder/name for r with body (consumed; NULL none): replies, or
 * suspends r until its waiter is finished, as POST /{kind}/{name}/{op} does. */
enum MHD_Result objects_run(struct http_req *r, const char *folder, const char *name, const char *op, cJSON *body,
			    double timeout_s, double query_lease_s, objects_decorate *decorate);

#endif
