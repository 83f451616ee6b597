/* targets — GET /targets and GET /targets/{name}. */
#ifndef SPAWND_HANDLERS_TARGETS_H
#define SPAWND_HANDLERS_TARGETS_H

#include "server/http.h"

enum MHD_Result targets_list(struct http_req *r);
enum MHD_Result targets_get(struct http_req *r);

#endif
