/* output — GET /processes/{id}/output: captured output as NDJSON (default),
 * Server-Sent Events, or raw bytes, from any offset. */
#ifndef SPAWND_HANDLERS_OUTPUT_H
#define SPAWND_HANDLERS_OUTPUT_H

#include "server/http.h"

enum MHD_Result output_get(struct http_req *r);

#endif
