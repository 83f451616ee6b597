#include "handlers/targets.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "lib/log.h"
#include "targets/describe.h"
#include "targets/exec_load.h"
#include "targets/registry.h"

static const char *targets_path;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

void targets_file_init(const char *path)
{
	targets_path = path;
}

int targets_file_reload(char *err, size_t errlen)
{
	struct exec_file *f = NULL;
	if (!targets_path) {
		snprintf(err, errlen, "no targets file is configured (start spawnd with --targets FILE)");
		return -ENOENT;
	}
	pthread_mutex_lock(&reload_lock);      /* one reload at a time: SIGHUP and POST */
	int r = exec_load_file(targets_path, &f, err, errlen);
	if (r == 0)
		targets_set_exec(f);
	pthread_mutex_unlock(&reload_lock);
	if (r < 0)
		log_event(LOG_ERROR, "targets reload failed, keeping the current set", "error=\"%s\"", err);
	else
		log_event(LOG_INFO, "targets loaded", "file=\"%s\" exec_targets=%zu", targets_path, exec_file_count(f));
	return r;
}

enum MHD_Result targets_reload(struct http_req *r)
{
	char err[1024];
	if (targets_file_reload(err, sizeof err) < 0)
		return http_reply_error(r, 409, "conflict", NULL, "targets not reloaded, the current set stays: %s", err);
	return http_reply_json(r, 200, targets_list_json());
}

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
