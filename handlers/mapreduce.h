/* mapreduce — the /mapreduce resource: POST /mapreduce (?wait=) starts a
 * job (engine/mapreduce.h), GET /mapreduce/{id} (?wait=) reads it. Waits as
 * in handlers/pools.h. */
#ifndef SPAWND_HANDLERS_MAPREDUCE_H
#define SPAWND_HANDLERS_MAPREDUCE_H

#include "server/http.h"

enum MHD_Result mapreduce_create(struct http_req *r);
enum MHD_Result mapreduce_get(struct http_req *r);

#endif
