/* processes — the /processes resource: create (with ?wait=), list, get,
 * join, terminate, kill, signal, delete, and writing to a worker's stdin. */
#ifndef SPAWND_HANDLERS_PROCESSES_H
#define SPAWND_HANDLERS_PROCESSES_H

#include "server/http.h"

enum MHD_Result processes_create(struct http_req *r);
enum MHD_Result processes_list(struct http_req *r);
enum MHD_Result processes_get(struct http_req *r);
enum MHD_Result processes_join(struct http_req *r);
enum MHD_Result processes_terminate(struct http_req *r);
enum MHD_Result processes_kill(struct http_req *r);
enum MHD_Result processes_signal(struct http_req *r);
enum MHD_Result processes_delete(struct http_req *r);
enum MHD_Result processes_stdin(struct http_req *r);

#endif
