/* api_queue — processes queued behind --max-running (issue 9): alive from the
 * moment they are accepted, as multiprocessing's is_alive() is after start();
 * GET /processes?alive= as active_children(); and what a queued process that
 * is terminated or killed before it starts ends as.
 *
 * One server with --max-running 1: a long sleep holds the only slot, so every
 * other process stays queued until the case lets the slot go.
 */
#include "tests/harness.h"

#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;

/* Starts the long sleep that holds the only slot. */
static bool hold_slot(char blocker[ID_CAP])
{
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [60]}", -1);
	bool ok = r->status == 201 && take_id(r, blocker) && jint(r->json, "pid", 0) > 0;
	resp_free(r);
	return ok;
}

static void free_slot(const char *blocker)
{
	struct resp *r = del(srv, "/processes/%s?grace=0", blocker);
	resp_free(r);
}

/* true when the list answer r has a process with this id. */
static bool listed(const struct resp *r, const char *id)
{
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r->json, "processes"))
		if (jstr(p, "id") && !strcmp(jstr(p, "id"), id))
			return true;
	return false;
}

static void test_queued_is_alive_with_null_pid(void)
{
	char blocker[ID_CAP], id[ID_CAP];
	struct resp *r;

	CHECK_MSG(hold_slot(blocker), "the blocker did not start");
	r = spawn(srv, "{\"target\": \"worker\"}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	CHECK_STR(jstr(r->json, "state"), "queued");
	CHECK_MSG(jis_true(r->json, "alive"), "a queued process is not alive: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(jis_null(r->json, "pid") && jis_null(r->json, "exitcode"), "pid/exitcode: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = get(srv, "/processes/%s", id);
	CHECK_MSG(jis_true(r->json, "alive"), "GET: a queued process is not alive: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);

	free_slot(blocker);
	r = join(srv, id, 10);
	CHECK_STATUS(r, 200);
	CHECK_EXITED(r, 0);
	resp_free(r);
	r = del(srv, "/processes/%s", id);
	resp_free(r);
}

/* ?alive=true is active_children(): queued and running, nothing ended. */
static void test_list_alive_filter(void)
{
	char blocker[ID_CAP], queued[ID_CAP], done[ID_CAP];
	struct resp *r;

	r = spawn(srv, "{\"target\": \"worker\"}", 10);
	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	CHECK(take_id(r, done));
	resp_free(r);
	CHECK_MSG(hold_slot(blocker), "the blocker did not start");
	r = spawn(srv, "{\"target\": \"worker\"}", -1);
	CHECK(take_id(r, queued));
	resp_free(r);

	r = get(srv, "/processes?alive=true");
	CHECK_STATUS(r, 200);
	CHECK_MSG(listed(r, blocker) && listed(r, queued) && !listed(r, done),
		  "alive=true is not exactly the running and the queued one: " RESP_FMT, RESP_ARGS(r));
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r->json, "processes"))
		CHECK_MSG(jis_true(p, "alive"), "alive=true lists an ended process: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = get(srv, "/processes?alive=false");
	CHECK_STATUS(r, 200);
	CHECK_MSG(!listed(r, blocker) && !listed(r, queued) && listed(r, done),
		  "alive=false is not exactly the ended one: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = get(srv, "/processes?alive=true&state=queued");
	CHECK_STATUS(r, 200);
	CHECK_MSG(listed(r, queued) && !listed(r, blocker), "alive=true&state=queued: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);

	static const char *const bad[] = { "yes", "1", "", "TRUE", "true,false" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		r = get(srv, "/processes?alive=%s", bad[i]);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_FIELD(r, "alive");
		resp_free(r);
	}
	free_slot(blocker);
	r = join(srv, queued, 10);
	resp_free(r);
}

/* Terminated or killed while queued: it never starts, and ends as the signal
 * would have ended it (multiprocessing: -15 / -9), pid null. */
static void check_signalled_while_queued(const char *verb, int sig, const char *signame, const char *reason)
{
	char blocker[ID_CAP], id[ID_CAP];
	struct resp *r;

	CHECK_MSG(hold_slot(blocker), "the blocker did not start");
	r = spawn(srv, "{\"target\": \"worker\"}", -1);
	CHECK(take_id(r, id));
	CHECK_STR(jstr(r->json, "state"), "queued");
	resp_free(r);
	r = postf(srv, NULL, "/processes/%s/%s", id, verb);
	CHECK_STATUS(r, 202);
	resp_free(r);
	r = join(srv, id, 5);
	CHECK_STATUS(r, 200);
	CHECK_EXITED(r, -sig);
	CHECK_STR(jstr(r->json, "signal"), signame);
	CHECK_STR(jstr(r->json, "reason"), reason);
	CHECK_MSG(jis_null(r->json, "pid") && jis_null(r->json, "started_at") && jis_null(r->json, "duration"),
		  "a process that never started has a pid or start: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	/* It stays ended when the slot frees: it never starts. */
	free_slot(blocker);
	sleep_s(0.2);
	r = get(srv, "/processes/%s", id);
	CHECK_EXITED(r, -sig);
	CHECK_MSG(jis_null(r->json, "pid") && jint(r->json, "stdout_bytes", -1) == 0, "it started: " RESP_FMT,
		  RESP_ARGS(r));
	resp_free(r);
	r = del(srv, "/processes/%s", id);
	resp_free(r);
}

static void test_terminate_while_queued(void)
{
	check_signalled_while_queued("terminate", 15, "SIGTERM", "terminate");
}

static void test_kill_while_queued(void)
{
	check_signalled_while_queued("kill", 9, "SIGKILL", "kill");
}

static void test_shared_server_shutdown(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	srv = server_start("--max-running 1");
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_queued_is_alive_with_null_pid);
	RUN(test_list_alive_filter);
	RUN(test_terminate_while_queued);
	RUN(test_kill_while_queued);
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
