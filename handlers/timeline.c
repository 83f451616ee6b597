/* timeline — see timeline.h. The answer is {"id", "events": [...]}: an
 * object, not a bare array, so fields can be added later. */
#include "handlers/timeline.h"

#include "engine/proc.h"

enum MHD_Result timeline_get(struct http_req *r)
{
	cJSON *events = proc_timeline_json(r->params[0]);
	if (!events)
		return http_reply_error(r, 404, "not_found", NULL, "no such process: %s", r->params[0]);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "id", r->params[0]);
	cJSON_AddItemToObject(j, "events", events);
	return http_reply_json(r, 200, j);
}
