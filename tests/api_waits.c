/* api_waits — no wait answers before its time.
 *
 * The other cases bound waits from above only; here each one is bounded from
 * below: POST /processes?wait=S and POST .../join?timeout=S on a worker that
 * outlives S answer no earlier than S, and DELETE ?grace=S on a worker that
 * ignores SIGTERM does not SIGKILL it before S. Times are taken with the
 * monotonic clock, before the request is sent, so the client's elapsed time is
 * never less than the server's. The one allowance below S is the server's
 * clock resolution (whole milliseconds, CLOCK_MONOTONIC truncated): a
 * deadline may fall up to 1 ms before S after the request's arrival. Upper
 * bounds are generous: a loaded machine may answer late, never early.
 */
#include "tests/harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;

#define CLOCK_SLACK_S 0.001

/* A worker that ignores SIGTERM (the disposition survives exec), says so,
 * then sleeps: only SIGKILL ends it early. */
static const char targets_json[] =
	"{\"version\": 1, \"targets\": [{\"name\": \"stubborn\", \"description\": \"Ignores SIGTERM.\","
	" \"program\": \"/bin/sh\", \"argv\": [\"-c\", \"trap '' TERM; echo ready; exec sleep 30\"]}]}";

static void kill_and_join(const char *id)
{
	struct resp *r = postf(srv, NULL, "/processes/%s/kill", id);

	CHECK_STATUS(r, 202);
	resp_free(r);
	r = join(srv, id, 10);
	CHECK_EXITED(r, -9);
	resp_free(r);
}

static void test_wait_not_before_its_time(void)
{
	static const double waits[] = { 0.3, 1.0 };

	for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
		double s = waits[i];
		struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", s);
		char id[ID_CAP];

		CHECK_STATUS(r, 201);
		CHECK(take_id(r, id));
		CHECK_MSG(jis_true(r->json, "alive"), "not alive after wait=%g: " RESP_FMT, s, RESP_ARGS(r));
		CHECK_MSG(r->seconds >= s - CLOCK_SLACK_S, "wait=%g answered after %.4f s, before its time", s,
			  r->seconds);
		CHECK_MSG(r->seconds < s + 10, "wait=%g took %.1f s", s, r->seconds);
		resp_free(r);
		kill_and_join(id);
		if (check_failure[0])
			return;
	}
}

static void test_join_not_before_its_time(void)
{
	static const double timeouts[] = { 0.3, 1.0 };
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", -1);
	char id[ID_CAP];

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
		double s = timeouts[i];
		r = join(srv, id, s);
		CHECK_STATUS(r, 200);
		CHECK_MSG(jis_true(r->json, "alive"), "not alive after join?timeout=%g: " RESP_FMT, s, RESP_ARGS(r));
		CHECK_MSG(r->seconds >= s - CLOCK_SLACK_S, "join?timeout=%g answered after %.4f s, before its time",
			  s, r->seconds);
		CHECK_MSG(r->seconds < s + 10, "join?timeout=%g took %.1f s", s, r->seconds);
		resp_free(r);
	}
	kill_and_join(id);
}

/* Starts the stubborn worker and waits until its SIGTERM trap is set. */
static pid_t start_stubborn(char *id)
{
	struct resp *r = spawn(srv, "{\"target\": \"stubborn\"}", -1);
	pid_t pid = 0;

	if (r->status == 201 && take_id(r, id)) {
		for (double deadline = now_s() + 10; now_s() < deadline; sleep_s(0.02)) {
			struct resp *g = get(srv, "/processes/%s", id);
			bool ready = jstr(g->json, "stdout") && strcmp(jstr(g->json, "stdout"), "ready\n") == 0;
			pid = (pid_t)jint(g->json, "pid", 0);
			resp_free(g);
			if (ready)
				break;
			pid = 0;
		}
	}
	resp_free(r);
	return pid;
}

/* While the DELETE is in flight the worker is watched: seen gone at a time
 * before S would mean it was killed early. The DELETE itself answers no
 * earlier than S, with the SIGKILL's record. */
static void test_delete_grace_not_before_its_time(void)
{
	const double s = 1.0;
	char id[ID_CAP] = "", path[256];
	pid_t pid = start_stubborn(id);
	double start, gone_at = -1;
	struct live *l;

	CHECK_MSG(pid > 0, "the stubborn worker %s did not report ready", id);
	snprintf(path, sizeof path, "/processes/%s?grace=%g", id, s);
	start = now_s();
	l = live_request(srv, "DELETE", path, NULL, NULL, 0, 0);
	while (!l->done && now_s() < start + s + 20) {
		bool alive = pid_alive(pid);
		double after_check = now_s();
		if (!alive && gone_at < 0)
			gone_at = after_check - start;
		live_pump(0.01);
	}
	double answered = now_s() - start;
	cJSON *final = cJSON_Parse(l->body);
	long status = l->status, exitcode = (long)jint(final, "exitcode", 0);
	bool sigkill = jstr(final, "signal") && strcmp(jstr(final, "signal"), "SIGKILL") == 0;
	cJSON_Delete(final);
	live_close(l);
	CHECK_MSG(gone_at < 0 || gone_at >= s - CLOCK_SLACK_S,
		  "the worker ignoring SIGTERM was gone %.4f s into DELETE ?grace=%g", gone_at, s);
	CHECK_MSG(status == 200, "DELETE ?grace=%g answered %ld", s, status);
	CHECK_MSG(answered >= s - CLOCK_SLACK_S, "DELETE ?grace=%g answered after %.4f s", s, answered);
	CHECK_MSG(exitcode == -9 && sigkill, "the worker ignoring SIGTERM did not end by SIGKILL: exitcode %ld",
		  exitcode);
	CHECK_MSG(!pid_alive(pid), "pid %d alive after DELETE", (int)pid);
}

static void test_shared_server_stops(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	srv = server_start_targets(targets_json, NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_wait_not_before_its_time);
	RUN(test_join_not_before_its_time);
	RUN(test_delete_grace_not_before_its_time);
	RUN(test_shared_server_stops);
	return CHECK_EXIT();
}
