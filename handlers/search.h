/* search — GET /search: captured output searched on the server, across
 * processes: plain text or a POSIX extended regular expression, by target
 * and creation time range, newest process first, each match a line with the
 * byte offset of its start in its stream (so a client can open the output
 * there). Bounded and paginated: one request reads at most a fixed budget
 * and answers a cursor (`next`) to go on from. */
#ifndef SPAWND_HANDLERS_SEARCH_H
#define SPAWND_HANDLERS_SEARCH_H

#include "server/http.h"

enum MHD_Result search_get(struct http_req *r);

#endif
