/* timeline — GET /processes/{id}/timeline: every lifecycle event of one
 * process (created, queued, started, signal, exited, failed, lost), oldest
 * first, kept with its record (engine/proc_timeline.h). */
#ifndef SPAWND_HANDLERS_TIMELINE_H
#define SPAWND_HANDLERS_TIMELINE_H

#include "server/http.h"

enum MHD_Result timeline_get(struct http_req *r);

#endif
