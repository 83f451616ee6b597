/* process — joining a process and turning its end into an exit code.
 *
 * Design: a join is a series of POST .../join?timeout=30 rather than one
 * request without a timeout, so no request stays silent for longer than a
 * proxy or NAT table would keep an idle connection; a join that times out
 * is not an error (the record says alive), the loop just asks again.
 */
#define _GNU_SOURCE
#include "cli/process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/common.h"
#include "cli/http.h"

#define JOIN_SLICE_S 30.0

char *process_path(const char *id, const char *suffix)
{
	char *esc = http_escape(id), *path = NULL;
	if (esc && asprintf(&path, "/processes/%s%s", esc, suffix) < 0)
		path = NULL;
	free(esc);
	return path;
}

static double monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int process_join(const char *id, double timeout_s, cJSON **record)
{
	double deadline = monotonic_s() + timeout_s;

	*record = NULL;
	for (;;) {
		double slice = timeout_s < 0 ? JOIN_SLICE_S : deadline - monotonic_s();
		char suffix[64], *path;
		struct http_resp r;

		if (slice > JOIN_SLICE_S)
			slice = JOIN_SLICE_S;
		snprintf(suffix, sizeof suffix, "/join?timeout=%.3f", slice > 0 ? slice : 0);
		if (!(path = process_path(id, suffix)))
			return EXIT_CLI;
		http_json("POST", path, NULL, &r);
		free(path);
		if (r.status != 200 || !cJSON_IsObject(r.json)) {
			int rc = http_fail(&r, "join");
			http_resp_release(&r);
			return rc;
		}
		bool alive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "alive"));
		if (!alive || (timeout_s >= 0 && monotonic_s() >= deadline)) {
			*record = r.json;
			r.json = NULL;
			http_resp_release(&r);
			return 0;
		}
		http_resp_release(&r);
	}
}

int process_exit_code(const cJSON *record)
{
	const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "state"));
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "id"));
	const char *error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(record, "error"));
	int code = cli_exit_code(record);

	if (state && strcmp(state, "failed") == 0)
		cli_msg("process %s failed to start: %s", id ? id : "", error ? error : "(no reason given)");
	else if (state && strcmp(state, "lost") == 0)
		cli_msg("process %s was lost: the server stopped while it ran", id ? id : "");
	else if (code < 0)
		cli_msg("process %s has not ended", id ? id : "");
	return code < 0 ? EXIT_CLI : code;
}
