/* events — GET /events: the lifecycle events of every process (created,
 * started, exited, removed) as a live NDJSON or SSE stream, for dashboards.
 * Starts with the events after ?since=SEQ or the SSE Last-Event-ID, else with
 * the next event; a subscriber too far behind gets a "gap" line. */
#ifndef SPAWND_HANDLERS_EVENTS_H
#define SPAWND_HANDLERS_EVENTS_H

#include "server/http.h"

enum MHD_Result events_get(struct http_req *r);

#endif
