/* api_pool_apply — POST /pools/{id}/apply?wait= on a pool of a C target,
 * whose task goes straight to an idle worker and whose answer the request's
 * own thread reads when it comes at once (engine/pool_worker.c): every apply
 * answered with its own result, one after another and from 8 clients at
 * once; an apply while a map keeps the workers busy; an apply whose worker
 * is killed fails alone, and the pool works again.
 */
#include "tests/harness.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;

#define CLIENTS 8
#define APPLIES 60

static void delete_pool(const char *id)
{
	struct resp *r = postf(srv, NULL, "/pools/%s/terminate", id);
	resp_free(r);
	for (double end = now_s() + 10; now_s() < end; sleep_s(0.05)) {
		r = del(srv, "/pools/%s", id);
		bool gone = r->status == 200;
		resp_free(r);
		if (gone)
			return;
	}
}

/* A pool of square with both workers started (a map of 2 items has run). */
static bool square_pool(char *id)
{
	if (!post_created(srv, "/pools", "{\"target\": \"square\", \"processes\": 2}", id))
		return false;
	struct resp *r = postf(srv, "{\"items\": [1, 2], \"chunksize\": 1}", "/pools/%s/map?wait=30", id);
	bool ok = r->status == 200;
	resp_free(r);
	return ok;
}

/* apply of square(x) answered 200, done, with x * x. */
static bool apply_is_square(const char *id, int x, char *why, size_t cap)
{
	char body[64];
	snprintf(body, sizeof body, "{\"args\": [%d]}", x);
	struct resp *r = postf(srv, body, "/pools/%s/apply?wait=30", id);
	bool ok = r->status == 200 && jstr(r->json, "state") && strcmp(jstr(r->json, "state"), "done") == 0 &&
		  jint(r->json, "result", -1) == x * x;
	if (!ok)
		snprintf(why, cap, "apply %d: %ld %s", x, r->status, r->body);
	resp_free(r);
	return ok;
}

static void test_applies_in_a_row(void)
{
	char id[ID_CAP], why[512] = "";
	CHECK(square_pool(id));
	bool ok = true;
	for (int x = 0; ok && x < 300; x++)
		ok = apply_is_square(id, x, why, sizeof why);
	CHECK_MSG(ok, "%s", why);
	delete_pool(id);
}

static size_t collect(char *data, size_t size, size_t n, void *out)
{
	size_t len = strlen(out), add = size * n;
	if (len + add < 512) {
		memcpy((char *)out + len, data, add);
		((char *)out)[len + add] = '\0';
	}
	return size * n;
}

/* One client (a child process, a curl handle of its own): APPLIES applies
 * of distinct numbers, each checked. Its exit status: 0 all right. */
static int client(const char *url, int k)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	int bad = 0;
	for (int i = 0; c && i < APPLIES; i++) {
		int x = k * 1000 + i;
		char body[64], reply[512] = "", want[64];
		snprintf(body, sizeof body, "{\"args\": [%d]}", x);
		snprintf(want, sizeof want, "\"result\":%d}", x * x);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, (void *)reply);
		long status = 0;
		if (curl_easy_perform(c) != CURLE_OK || curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
		    status != 200 || !strstr(reply, want) || !strstr(reply, "\"state\":\"done\"")) {
			fprintf(stderr, "client %d apply %d: %ld %s\n", k, x, status, reply);
			bad++;
		}
	}
	curl_slist_free_all(h);
	if (c)
		curl_easy_cleanup(c);
	return c && bad == 0 ? 0 : 1;
}

/* 8 clients at once, more than the pool's workers: each gets its own results. */
static void test_applies_from_8_clients(void)
{
	char id[ID_CAP], url[256];
	CHECK(square_pool(id));
	snprintf(url, sizeof url, "%s/pools/%s/apply?wait=30", server_url(srv), id);
	pid_t pids[CLIENTS];
	for (int k = 0; k < CLIENTS; k++) {
		fflush(NULL);
		if ((pids[k] = fork()) == 0)
			_exit(client(url, k));
	}
	int failed = 0;
	for (int k = 0; k < CLIENTS; k++) {
		int st = 0;
		failed += pids[k] < 0 || waitpid(pids[k], &st, 0) != pids[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	CHECK_MSG(failed == 0, "%d of %d clients got a wrong answer (see stderr)", failed, CLIENTS);
	struct resp *r = get(srv, "/pools/%s", id);
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(r->json, "tasks");
	CHECK_MSG(jint(tasks, "failed", -1) == 0 && jint(tasks, "done", -1) == 2 + CLIENTS * APPLIES, "%s", r->body);
	resp_free(r);
	delete_pool(id);
}

/* An apply submitted while a map has both workers busy waits for one. */
static void test_apply_while_map_runs(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"sleep\", \"processes\": 2}", id));
	struct resp *r = postf(srv, "{\"items\": [0.4, 0.4, 0.4, 0.4], \"chunksize\": 1}", "/pools/%s/map", id);
	CHECK_STATUS(r, 202);
	char job[ID_CAP];
	snprintf(job, sizeof job, "%s", jstr(r->json, "job") ? jstr(r->json, "job") : "");
	resp_free(r);
	r = postf(srv, "{\"args\": [0]}", "/pools/%s/apply?wait=30", id);
	CHECK_STATUS(r, 200);
	CHECK_MSG(jstr(r->json, "state") && strcmp(jstr(r->json, "state"), "done") == 0, "%s", r->body);
	resp_free(r);
	r = get(srv, "/pools/%s/jobs/%s?wait=30", id, job);
	CHECK_MSG(r->status == 200 && strcmp(jstr(r->json, "state"), "done") == 0 && jint(r->json, "failed", -1) == 0,
		  "map: %s", r->body);
	resp_free(r);
	delete_pool(id);
}

/* QUALITY 25 for an apply: its worker killed while the request waits, the
 * apply answers its task's failure, and the next apply runs on a new worker. */
static void test_apply_worker_killed(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"sleep\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"args\": [0]}", "/pools/%s/apply?wait=30", id);        /* its worker started */
	CHECK_STATUS(r, 200);
	resp_free(r);
	pid_t pid = pool_worker_pid(srv, id);
	CHECK(pid > 0);
	fflush(NULL);
	pid_t killer = fork();
	if (killer == 0) {
		sleep_s(0.5);           /* the apply below is waiting by then */
		_exit(kill(pid, SIGKILL) == 0 ? 0 : 1);
	}
	r = postf(srv, "{\"args\": [30]}", "/pools/%s/apply?wait=60", id);
	int st = 0;
	CHECK(killer > 0 && waitpid(killer, &st, 0) == killer && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "result"), "error");
	CHECK_MSG(r->status == 200 && jint(r->json, "failed", -1) == 1 && jstr(e, "code") &&
		  strcmp(jstr(e, "code"), "signal") == 0, "%s", r->body);
	resp_free(r);
	r = postf(srv, "{\"args\": [0]}", "/pools/%s/apply?wait=30", id);
	CHECK_MSG(r->status == 200 && jint(r->json, "done", -1) == 1 && jint(r->json, "failed", -1) == 0, "%s", r->body);
	resp_free(r);
	CHECK(pool_worker_pid(srv, id) != pid);
	delete_pool(id);
}

static void test_shared_server_stops(void) { check_server_stops(&srv); }

int main(void)
{
	srv = server_start(NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_applies_in_a_row);
	RUN(test_applies_from_8_clients);
	RUN(test_apply_while_map_runs);
	RUN(test_apply_worker_killed);
	RUN(test_shared_server_stops);
	return CHECK_EXIT();
}
