/* api_timeline — GET /processes/{id}/timeline (issue 16, step 3): every
 * lifecycle event of one process, oldest first: created, started with the
 * record's pid, each signal sent with why (signal, terminate, timeout), and
 * the end (exited with the record's exitcode, signal and reason); a queued
 * process terminated before it starts never has "started"; the events stay
 * with the record across a restart, and a process that was running when
 * spawnd was killed ends its timeline with "lost". Unknown ids are 404.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

#define ID_CAP 128

/* The events of id as "created started signal:SIGTERM:terminate exited" (cap bytes). */
static bool events_of(struct server *s, const char *id, char *out, size_t cap, cJSON **events)
{
	struct resp *r = get(s, "/processes/%s/timeline", id);
	cJSON *list = r->status == 200 ? cJSON_GetObjectItem(r->json, "events") : NULL;
	size_t used = 0;
	out[0] = '\0';
	if (!cJSON_IsArray(list) || !jstr(r->json, "id") || strcmp(jstr(r->json, "id"), id) != 0)
		return false;
	cJSON *e;
	cJSON_ArrayForEach(e, list) {
		const char *sig = jstr(e, "signal"), *why = jstr(e, "reason");
		if (!rfc3339_ms(jstr(e, "ts") ? jstr(e, "ts") : ""))
			return false;
		if (strcmp(jstr(e, "event"), "signal") == 0)
			used += (size_t)snprintf(out + used, cap - used, "%ssignal:%s:%s", used ? " " : "",
						 sig ? sig : "?", why ? why : "?");
		else
			used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? " " : "", jstr(e, "event"));
		if (used >= cap)
			return false;
	}
	if (events)
		*events = cJSON_Duplicate(list, true);
	return true;
}

static void test_a_worker_from_start_to_end(void)
{
	struct server *s = server_start(NULL);
	char id[ID_CAP], got[512], why[256];
	cJSON *events = NULL;
	CHECK(s);
	struct resp *r = spawn(s, "{\"target\": \"worker\"}", 5);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	CHECK_MSG(events_of(s, id, got, sizeof got, &events), "no timeline for %s", id);
	CHECK_STR(got, "created started exited");
	cJSON *started = cJSON_GetArrayItem(events, 1), *ended = cJSON_GetArrayItem(events, 2);
	CHECK_INT(jint(started, "pid", -1), jint(r->json, "pid", -2));
	CHECK_INT(jint(ended, "exitcode", -1), 0);
	CHECK_STR(jstr(ended, "reason"), "exit");
	CHECK_MSG(strcmp(jstr(cJSON_GetArrayItem(events, 0), "ts"), jstr(ended, "ts")) <= 0, "events out of order");
	cJSON_Delete(events);
	r = get(s, "/processes/nosuchid/timeline");
	CHECK_STATUS(r, 404);
	CHECK_STR(err_code(r), "not_found");
	r = get(s, "/processes/..%%2f/timeline");
	CHECK_STATUS(r, 404);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

/* Signals sent are events, with who sent them; the one that ends it is in "exited". */
static void test_signals_are_events(void)
{
	struct server *s = server_start(NULL);
	char id[ID_CAP], got[512], why[256];
	CHECK(s);
	struct resp *r = spawn(s, "{\"target\": \"sleep\", \"args\": [60]}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	r = postf(s, "{\"signal\": \"SIGCONT\"}", "/processes/%s/signal", id);
	CHECK_STATUS(r, 202);
	r = postf(s, NULL, "/processes/%s/terminate", id);
	CHECK_STATUS(r, 202);
	r = join(s, id, 10);
	CHECK_INT(jint(r->json, "exitcode", 0), -15);
	CHECK(events_of(s, id, got, sizeof got, NULL));
	CHECK_STR(got, "created started signal:SIGCONT:signal signal:SIGTERM:terminate exited");
	/* A time limit's SIGTERM says "timeout". */
	r = spawn(s, "{\"target\": \"sleep\", \"args\": [60], \"timeout\": 0.2}", 10);
	CHECK(take_id(r, id));
	CHECK(events_of(s, id, got, sizeof got, NULL));
	CHECK_STR(got, "created started signal:SIGTERM:timeout exited");
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_queued_then_terminated(void)
{
	struct server *s = server_start("--max-running 1");
	char first[ID_CAP], id[ID_CAP], got[512], why[256];
	CHECK(s);
	struct resp *r = spawn(s, "{\"target\": \"sleep\", \"args\": [60]}", -1);
	CHECK(take_id(r, first));
	r = spawn(s, "{\"target\": \"sleep\", \"args\": [60]}", -1);
	CHECK(take_id(r, id));
	r = postf(s, NULL, "/processes/%s/terminate", id);
	CHECK_STATUS(r, 202);
	CHECK(events_of(s, id, got, sizeof got, NULL));
	CHECK_STR(got, "created queued signal:SIGTERM:terminate exited");
	r = postf(s, NULL, "/processes/%s/kill", first);
	CHECK_STATUS(r, 202);
	join(s, first, 10);
	CHECK(events_of(s, first, got, sizeof got, NULL));
	CHECK_STR(got, "created started signal:SIGKILL:kill exited");
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

/* Kept with the record: the same after a restart; a worker spawnd lost ends "lost". */
static void test_survives_a_restart(void)
{
	struct server *s = server_start(NULL);
	char done[ID_CAP], running[ID_CAP], before[512], after[512], why[256];
	CHECK(s);
	struct resp *r = spawn(s, "{\"target\": \"exit\", \"args\": [3]}", 5);
	CHECK(take_id(r, done));
	r = spawn(s, "{\"target\": \"sleep\", \"args\": [60]}", -1);
	CHECK(take_id(r, running));
	CHECK(events_of(s, done, before, sizeof before, NULL));
	CHECK_MSG(server_restart(s, SIGKILL) == 0, "restart failed");
	CHECK(events_of(s, done, after, sizeof after, NULL));
	CHECK_STR(after, before);
	CHECK(events_of(s, running, after, sizeof after, NULL));
	CHECK_STR(after, "created started lost");
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

int main(void)
{
	RUN(test_a_worker_from_start_to_end);
	RUN(test_signals_are_events);
	RUN(test_queued_then_terminated);
	RUN(test_survives_a_restart);
	return CHECK_EXIT();
}
