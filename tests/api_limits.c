/* api_limits — the server-wide limits and the order of shutdown.
 *
 * --max-running N and --max-queued N: past N running, new processes queue;
 * past the queue, POST /processes answers 429 too_many_processes with
 * Retry-After (a positive whole number of seconds), and what was queued runs
 * once slots free. At SIGTERM daemon workers are terminated at once, the
 * others are joined for --shutdown-timeout (3 s here; ending by themselves if they can), then
 * terminated (README "Configuration", engine/proc.h proc_shutdown).
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <ctype.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

CHECK_MAIN_STATE;

#define SHUTDOWN_JOIN_S 3.0    /* what non-daemon workers get at shutdown */

static bool retry_after_valid(const char *v)
{
	if (!v[0])
		return false;
	for (const char *p = v; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return atol(v) > 0;
}

static void spawn_expect(struct server *s, const char *body, const char *state, char *id)
{
	struct resp *r = spawn(s, body, -1);

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	CHECK_MSG(jstr(r->json, "state") && strcmp(jstr(r->json, "state"), state) == 0,
		  "expected state %s: " RESP_FMT, state, RESP_ARGS(r));
	resp_free(r);
}

static void expect_full(struct server *s)
{
	struct resp *r = spawn(s, "{\"target\": \"worker\"}", -1);

	CHECK_ERROR(r, 429, "too_many_processes");
	CHECK_MSG(retry_after_valid(r->retry_after), "Retry-After \"%s\" is not a positive integer: " RESP_FMT,
		  r->retry_after, RESP_ARGS(r));
	resp_free(r);
}

/* Two running, two queued, the fifth refused; the queued ones run when the
 * running ones end, and a new one is accepted again. */
static void test_queue_full_429_then_queued_run(void)
{
	struct server *s = server_start("--max-running 2 --max-queued 2");
	char running[2][ID_CAP], queued[2][ID_CAP], why[256];

	CHECK_MSG(s, "server did not start");
	for (int i = 0; i < 2; i++)
		spawn_expect(s, "{\"target\": \"sleep\", \"args\": [30]}", "running", running[i]);
	for (int i = 0; i < 2; i++)
		spawn_expect(s, "{\"target\": \"worker\"}", "queued", queued[i]);
	expect_full(s);
	for (int i = 0; i < 2; i++) {
		struct resp *r = postf(s, NULL, "/processes/%s/kill", running[i]);
		CHECK_STATUS(r, 202);
		resp_free(r);
	}
	for (int i = 0; i < 2; i++) {
		struct resp *r = join(s, queued[i], 20);
		CHECK_STATUS(r, 200);
		CHECK_EXITED(r, 0);
		CHECK_STR(jstr(r->json, "stdout"), "Worker\n");
		resp_free(r);
	}
	struct resp *r = spawn(s, "{\"target\": \"worker\"}", 10);
	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	resp_free(r);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

/* --max-queued 0: no queue at all, refused as soon as the slots are taken. */
static void test_no_queue(void)
{
	struct server *s = server_start("--max-running 1 --max-queued 0");
	char id[ID_CAP], why[256];

	CHECK_MSG(s, "server did not start");
	spawn_expect(s, "{\"target\": \"sleep\", \"args\": [30]}", "running", id);
	expect_full(s);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_bad_max_queued_refuses_start(void)
{
	static const char *const bad[] = { "-1", "x", "", "1000001" };
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char root[PATH_MAX], state[PATH_MAX + 8], log[4096];
	bool listened;

	snprintf(root, sizeof root, "%s/spawnd-limits.XXXXXX", tmp);
	CHECK(mkdtemp(root));
	snprintf(state, sizeof state, "%s/state", root);
	CHECK(mkdir(state, 0700) == 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *extra[] = { "--max-queued", bad[i], NULL };
		int status = server_run_refused(extra, root, log, sizeof log, &listened);
		CHECK_MSG(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0 && !listened,
			  "--max-queued '%s' did not refuse to start (status %d)", bad[i], status);
		CHECK_MSG(strstr(log, "--max-queued"), "--max-queued '%s': stderr does not say why: %s", bad[i], log);
	}
	for (const char *const *name = (const char *const[]){ "stderr", "stdout", "state", NULL }; *name; name++) {
		char path[PATH_MAX + 16];
		snprintf(path, sizeof path, "%s/%s", root, *name);
		remove(path);
	}
	rmdir(root);
}

/* ms since the epoch of an RFC 3339 UTC timestamp with milliseconds; -1 if not one. */
static double rfc3339_to_ms(const char *s)
{
	struct tm tm = { 0 };
	int ms;

	if (!rfc3339_ms(s) || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
				     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (double)timegm(&tm) * 1000.0 + ms;
}

struct shutdown_case {
	const char *body, *what;
	char id[ID_CAP];
	struct live *join;
	cJSON *final;
	double answered_ms;    /* wall clock when the join's answer was in */
};

static bool all_joined(void *arg)
{
	struct shutdown_case *c = arg;

	for (int i = 0; i < 3; i++)
		if (!c[i].join->done)
			return false;
	return true;
}

/* Each case's final record, from the join that was waiting when the server got SIGTERM. */
static void collect(struct shutdown_case *c, int n)
{
	for (int i = 0; i < n; i++) {
		c[i].final = c[i].join->status == 200 ? cJSON_Parse(c[i].join->body) : NULL;
		c[i].answered_ms = live_arrival_ms(c[i].join, 0);
		live_close(c[i].join);
		c[i].join = NULL;
	}
}

#define CHECK_ENDED(c, code, why) \
	CHECK_MSG((c).final && jint((c).final, "exitcode", 1000) == (code) && jstr((c).final, "reason") && \
		  strcmp(jstr((c).final, "reason"), (why)) == 0, \
		  "%s: expected exitcode %d, reason %s; record %s", (c).what, (code), (why), \
		  (c).final ? cJSON_PrintUnformatted((c).final) : "(none)")

static void test_shutdown_daemons_first(void)
{
	struct shutdown_case c[3] = {
		{ .body = "{\"target\": \"sleep\", \"args\": [30], \"daemon\": true}", .what = "the daemon" },
		{ .body = "{\"target\": \"sleep\", \"args\": [1]}", .what = "the short non-daemon" },
		{ .body = "{\"target\": \"sleep\", \"args\": [30]}", .what = "the long non-daemon" },
	};
	struct server *s = server_start("--shutdown-timeout 3");
	char path[256], why[256];

	CHECK_MSG(s, "server did not start");
	for (int i = 0; i < 3; i++) {
		spawn_expect(s, c[i].body, "running", c[i].id);
		snprintf(path, sizeof path, "/processes/%s/join", c[i].id);
		c[i].join = live_request(s, "POST", path, NULL, "", 0, 0);
	}
	live_pump(0.2);    /* the joins are in and waiting */
	double term_ms = wall_ms();
	CHECK(kill(server_pid(s), SIGTERM) == 0);
	bool joined = live_wait_until(all_joined, c, 20);
	collect(c, 3);
	CHECK_MSG(joined, "the joins did not all answer within 20 s of SIGTERM");
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
	CHECK_ENDED(c[0], -15, "terminate");
	CHECK_ENDED(c[1], 0, "exit");
	CHECK_ENDED(c[2], -15, "terminate");
	/* "At once": before the others' 3 s are up (generous on a loaded machine). */
	CHECK_MSG(c[0].answered_ms - term_ms < SHUTDOWN_JOIN_S * 1000,
		  "the daemon ended %.0f ms after SIGTERM, not at once", c[0].answered_ms - term_ms);
	/* The server's ended_at (whole ms) against the wall clock read before the kill. */
	double long_end = rfc3339_to_ms(jstr(c[2].final, "ended_at"));
	CHECK_MSG(long_end - term_ms >= SHUTDOWN_JOIN_S * 1000 - 1,
		  "the long non-daemon was terminated %.0f ms after SIGTERM, before its 3 s", long_end - term_ms);
	for (int i = 0; i < 3; i++)
		cJSON_Delete(c[i].final);
}

int main(void)
{
	RUN(test_queue_full_429_then_queued_run);
	RUN(test_no_queue);
	RUN(test_bad_max_queued_refuses_start);
	RUN(test_shutdown_daemons_first);
	return CHECK_EXIT();
}
