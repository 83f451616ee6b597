#include "handlers/targets.h"

#include "targets/target.h"

enum MHD_Result targets_list(struct http_req *r)
{
	return http_reply_json(r, 200, targets_list_json());
}

enum MHD_Result targets_get(struct http_req *r)
{
	const struct target *t = target_find(r->params[0]);
	if (!t)
		return http_reply_error(r, 404, "not_found", NULL, "no target named %s (see GET /targets)", r->params[0]);
	return http_reply_json(r, 200, target_to_json(t));
}
