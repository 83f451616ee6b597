/* api_pool_channel — how a persistent pool worker (a C target's) talks to
 * spawnd: tasks and results travel on a socket of their own, a chunk of lines
 * per write, so
 *   - results never pass through the worker's captured stdout: a map whose
 *     results are far more than --output-cap-per-process still returns every
 *     one, and the worker's stdout holds nothing of them;
 *   - a worker killed in the middle of a chunk fails only the task it ran: the
 *     lines sent with it in the same write run again (QUALITY 25), also when
 *     the answers of the fast tasks before it were still in its buffer;
 *   - a chunk of integers far larger than a read arrives whole.
 * (What a returning task prints beside its value is in api_pool's
 * test_return_json.)
 */
#include "tests/harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;

#define ITEMS 5000

/* The ids of the pool's live workers, into ids (max of them): their count. */
static int workers_of(const char *pool, char ids[][ID_CAP], int max)
{
	struct resp *r = get(srv, "/pools/%s", pool);
	int n = 0;
	const cJSON *w;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(r->json, "workers"))
		if (cJSON_IsString(w) && n < max)
			snprintf(ids[n++], ID_CAP, "%s", w->valuestring);
	resp_free(r);
	return n;
}

static void test_results_beyond_output_cap(void)
{
	char id[ID_CAP], workers[2][ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"square\", \"processes\": 2}", id));
	size_t cap = 16 + ITEMS * 8;
	char *body = malloc(cap);
	CHECK(body);
	size_t len = (size_t)snprintf(body, cap, "{\"items\": [");
	for (int i = 0; i < ITEMS; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s%d", i ? "," : "", i);
	snprintf(body + len, cap - len, "]}");
	struct resp *r = postf(srv, body, "/pools/%s/map?wait=120", id);
	free(body);
	CHECK_STATUS(r, 200);
	CHECK_MSG(jstr(r->json, "state") && strcmp(jstr(r->json, "state"), "done") == 0 &&
		  jint(r->json, "failed", -1) == 0, "%.300s", r->body);
	const cJSON *results = cJSON_GetObjectItemCaseSensitive(r->json, "results");
	CHECK_MSG(cJSON_GetArraySize(results) == ITEMS, "%d results", cJSON_GetArraySize(results));
	int wrong = 0, i = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, results) {
		wrong += !cJSON_IsNumber(v) || v->valuedouble != (double)i * i;
		i++;
	}
	CHECK_MSG(wrong == 0, "%d results differ from i*i", wrong);
	resp_free(r);
	/* The results (about 30 KiB of lines) never counted as the workers' output. */
	int n = workers_of(id, workers, 2);
	CHECK_MSG(n >= 1, "the pool lists %d workers", n);
	for (int k = 0; k < n; k++) {
		r = get(srv, "/processes/%s", workers[k]);
		CHECK_STATUS(r, 200);
		CHECK_MSG(jint(r->json, "stdout_bytes", -1) == 0, "worker %s: " RESP_FMT, workers[k], RESP_ARGS(r));
		resp_free(r);
	}
	r = del(srv, "/pools/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

static int job_done(const char *pool, const char *job)
{
	struct resp *r = get(srv, "/pools/%s/jobs/%s", pool, job);
	int done = (int)jint(r->json, "done", -1);
	resp_free(r);
	return done;
}

/* One worker, one chunk of six sleeps sent in one write; the worker is killed
 * after the first answer, while the second runs. */
static void test_killed_mid_chunk(void)
{
	char id[ID_CAP], job[ID_CAP], workers[1][ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"sleep\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"items\": [0.4, 0.4, 0.4, 0.4, 0.4, 0.4], \"chunksize\": 6}", "/pools/%s/map", id);
	CHECK_STATUS(r, 202);
	snprintf(job, sizeof job, "%s", jstr(r->json, "job"));
	resp_free(r);
	for (double end = now_s() + 30; job_done(id, job) < 1 && now_s() < end; sleep_s(0.02))
		;
	CHECK(workers_of(id, workers, 1) == 1);
	r = get(srv, "/processes/%s", workers[0]);
	pid_t pid = (pid_t)jint(r->json, "pid", -1);
	resp_free(r);
	CHECK(pid > 0 && kill(pid, SIGKILL) == 0);
	r = get(srv, "/pools/%s/jobs/%s?wait=60", id, job);
	CHECK_STATUS(r, 200);
	CHECK_MSG(jstr(r->json, "state") && strcmp(jstr(r->json, "state"), "done") == 0, "%s", r->body);
	int killed = 0, ran = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(r->json, "results")) {
		const char *code = jstr(cJSON_GetObjectItemCaseSensitive(v, "error"), "code");
		killed += code && strcmp(code, "signal") == 0;
		ran += cJSON_IsString(v);       /* sleep prints nothing: its result is "" */
	}
	CHECK_MSG(killed == 1 && ran == 5 && jint(r->json, "failed", -1) == 1, "%d killed, %d ran: %s",
		  killed, ran, r->body);
	resp_free(r);
	r = del(srv, "/pools/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

/* One worker, one chunk: three tasks that end at once, then one that sleeps,
 * then two more. The worker is killed while the sleep runs, when the
 * answers of the first three have usually not been written yet (they wait
 * for the end of the chunk's read, unless a loaded machine made them take
 * FLUSH_US): the sleep fails, not the oldest unanswered task, and every
 * other task has its result. */
static void test_killed_after_fast_tasks(void)
{
	char id[ID_CAP], job[ID_CAP], workers[1][ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"sleep\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"items\": [0, 0, 0, 30, 0, 0], \"chunksize\": 6}", "/pools/%s/map", id);
	CHECK_STATUS(r, 202);
	snprintf(job, sizeof job, "%s", jstr(r->json, "job"));
	resp_free(r);
	pid_t pid = -1;
	for (double end = now_s() + 30; pid <= 0 && now_s() < end; sleep_s(0.02)) {
		if (workers_of(id, workers, 1) == 1) {
			r = get(srv, "/processes/%s", workers[0]);
			pid = (pid_t)jint(r->json, "pid", -1);
			resp_free(r);
		}
	}
	sleep_s(1.5);           /* the three fast tasks are over: the sleep runs */
	CHECK(pid > 0 && kill(pid, SIGKILL) == 0);
	r = get(srv, "/pools/%s/jobs/%s?wait=60", id, job);
	CHECK_STATUS(r, 200);
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(r->json, "results");
	for (int i = 0; i < 6; i++) {
		const cJSON *v = cJSON_GetArrayItem(res, i);
		const char *code = jstr(cJSON_GetObjectItemCaseSensitive(v, "error"), "code");
		if (i == 3)
			CHECK_MSG(code && strcmp(code, "signal") == 0, "the sleep: %s", r->body);
		else
			CHECK_MSG(cJSON_IsString(v), "task %d: %s", i, r->body);
	}
	CHECK_MSG(jint(r->json, "failed", -1) == 1, "%s", r->body);
	resp_free(r);
	r = del(srv, "/pools/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

/* 30,000 squares in one chunk: one message of 240 KB of integers. */
static void test_one_big_chunk(void)
{
	char id[ID_CAP];
	enum { N = 30000 };
	CHECK(post_created(srv, "/pools", "{\"target\": \"square\", \"processes\": 1}", id));
	size_t cap = 64 + N * 8;
	char *body = malloc(cap);
	CHECK(body);
	size_t len = (size_t)snprintf(body, cap, "{\"chunksize\": %d, \"items\": [", N);
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s%d", i ? "," : "", i - N / 2);
	snprintf(body + len, cap - len, "]}");
	struct resp *r = postf(srv, body, "/pools/%s/map?wait=120", id);
	free(body);
	CHECK_STATUS(r, 200);
	int wrong = 0, i = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(r->json, "results")) {
		double x = i - N / 2;
		wrong += !cJSON_IsNumber(v) || v->valuedouble != x * x;
		i++;
	}
	CHECK_MSG(i == N && wrong == 0, "%d results, %d wrong", i, wrong);
	resp_free(r);
	r = del(srv, "/pools/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

static void test_shared_server_stops(void) { check_server_stops(&srv); }

int main(void)
{
	srv = server_start("--output-cap-per-process 1K");
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_results_beyond_output_cap);
	RUN(test_killed_mid_chunk);
	RUN(test_killed_after_fast_tasks);
	RUN(test_one_big_chunk);
	RUN(test_shared_server_stops);
	return CHECK_EXIT();
}
