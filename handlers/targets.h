/* targets — GET /targets, GET /targets/{name}, and POST /targets/reload (the
 * targets file read again: the same as SIGHUP). */
#ifndef SPAWND_HANDLERS_TARGETS_H
#define SPAWND_HANDLERS_TARGETS_H

#include "server/http.h"

enum MHD_Result targets_list(struct http_req *r);
enum MHD_Result targets_get(struct http_req *r);
enum MHD_Result targets_reload(struct http_req *r);

/* The targets file (NULL: none), for reloads. Set once at startup. */
void targets_file_init(const char *path);
/* Reads the targets file again and swaps the exec targets atomically; on an
 * invalid file keeps the current set. 0, or -errno with the reason in err
 * (naming the file, the target and the field). Thread-safe. */
int targets_file_reload(char *err, size_t errlen);

#endif
