/* api_pool — process pools over HTTP (API.md "Pools and map/reduce", QUALITY 25):
 * every /pools endpoint and its errors, map results in order and unordered,
 * results of exec targets as JSON or text, a failed task as an error in its
 * place (or retried), on_error=fail, a worker killed with SIGKILL mid-map,
 * maxtasksperchild, a failing initializer, terminate mid-map with a waiter,
 * and the results stream (live, resumed).
 */
#include "tests/harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;

/* flaky fails the first time it is run for a file, then prints {"ok": n}. */
static const char targets_json[] =
	"{\"version\": 1, \"targets\": ["
	"{\"name\": \"jsonecho\", \"program\": \"/bin/echo\", \"argv\": [\"{n}\"], \"returns\": \"json\","
	" \"args\": [{\"name\": \"n\", \"type\": \"integer\", \"required\": true}]},"
	"{\"name\": \"textecho\", \"program\": \"/usr/bin/printf\", \"argv\": [\"n=%s\\\\n\", \"{n}\"],"
	" \"args\": [{\"name\": \"n\", \"type\": \"integer\", \"required\": true}]},"
	"{\"name\": \"badjson\", \"program\": \"/bin/echo\", \"argv\": [\"not json\"], \"returns\": \"json\"},"
	"{\"name\": \"flaky\", \"program\": \"/bin/sh\", \"returns\": \"json\","
	" \"argv\": [\"-c\", \"if [ -e \\\"$1\\\" ]; then echo \\\"{\\\\\\\"ok\\\\\\\": $2}\\\"; else : > \\\"$1\\\"; exit 1; fi\","
	"  \"sh\", \"{file}\", \"{n}\"],"
	" \"args\": [{\"name\": \"file\", \"type\": \"string\", \"required\": true, \"pattern\": \"/[A-Za-z0-9_./-]+\"},"
	"          {\"name\": \"n\", \"type\": \"integer\", \"required\": true}]}"
	"]}";

static void delete_pool(const char *id)
{
	struct resp *r = del(srv, "/pools/%s", id);
	CHECK_STATUS(r, 200);
	CHECK(jstr(r->json, "state") && strcmp(jstr(r->json, "state"), "terminated") == 0);
	resp_free(r);
	r = get(srv, "/pools/%s", id);
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
}

/* The items 0..n-1 as a map body. */
static char *range_body(int n, const char *extra)
{
	size_t cap = (size_t)n * 8 + 128;
	char *s = malloc(cap);
	size_t len = (size_t)snprintf(s, cap, "{%s\"items\": [", extra ? extra : "");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%d", i ? "," : "", i);
	snprintf(s + len, cap - len, "]}");
	return s;
}

static const cJSON *results_of(const struct resp *r)
{
	return cJSON_GetObjectItemCaseSensitive(r->json, "results");
}

static void test_create_errors(void)
{
	struct resp *r = post_json(srv, "/pools", "{\"target\": \"nosuch\"}");
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
	r = post_json(srv, "/pools", "{\"target\": \"square\", \"processes\": 0, \"maxtasksperchild\": -1,"
				    " \"name\": \"\", \"bogus\": 1}");
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "processes");
	CHECK_FIELD(r, "maxtasksperchild");
	CHECK_FIELD(r, "name");
	CHECK_FIELD(r, "bogus");
	resp_free(r);
	r = post_json(srv, "/pools", "{\"processes\": 2}");
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "target");
	resp_free(r);
	r = post_json(srv, "/pools", "{\"target\": \"square\", \"initializer\": \"exit\", \"initargs\": [\"x\"]}");
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "initargs[0]");
	resp_free(r);
	r = post_json(srv, "/pools", "[1]");
	CHECK_ERROR(r, 400, "invalid_argument");
	resp_free(r);
	static const char *const missing[] = { "GET /pools/nope", "POST /pools/nope/close", "POST /pools/nope/terminate",
		"POST /pools/nope/join", "DELETE /pools/nope", "POST /pools/nope/map", "POST /pools/nope/apply",
		"GET /pools/nope/jobs/x", "GET /pools/nope/jobs/x/results" };
	for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
		char method[8], path[64];
		sscanf(missing[i], "%7s %63s", method, path);
		r = http(srv, method, path, "application/json", "{\"items\": []}", NULL);
		CHECK_ERROR(r, 404, "not_found");
		resp_free(r);
	}
}

/* Create, describe, list, the defaults, a map of the chapter's do_calculation. */
static void test_pool_lifecycle(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"do_calculation\", \"processes\": 2, \"name\": \"calc\"}", id));
	struct resp *r = get(srv, "/pools/%s", id);
	CHECK_STATUS(r, 200);
	CHECK(strcmp(jstr(r->json, "name"), "calc") == 0 && strcmp(jstr(r->json, "state"), "running") == 0);
	CHECK(jint(r->json, "processes", 0) == 2 && strcmp(jstr(r->json, "target"), "do_calculation") == 0);
	CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r->json, "workers")));
	resp_free(r);
	r = get(srv, "/pools");
	CHECK_STATUS(r, 200);
	CHECK_MSG(strstr(r->body, id), "GET /pools does not list %s: %s", id, r->body);
	resp_free(r);

	char *body = range_body(10, NULL);
	r = postf(srv, body, "/pools/%s/map?wait=60", id);
	free(body);
	CHECK_STATUS(r, 200);
	CHECK(strcmp(jstr(r->json, "state"), "done") == 0);
	const cJSON *res = results_of(r);
	CHECK(cJSON_GetArraySize(res) == 10);
	for (int i = 0; i < 10; i++)
		CHECK_MSG(cJSON_GetArrayItem(res, i)->valuedouble == 2 * i, "result %d: %s", i, r->body);
	char job[ID_CAP];
	snprintf(job, sizeof job, "%s", jstr(r->json, "job"));
	CHECK_MSG(strstr(r->location, job), "Location %s", r->location);
	resp_free(r);
	r = get(srv, "/pools/%s/jobs/%s", id, job);
	CHECK_STATUS(r, 200);
	CHECK(jint(r->json, "total", 0) == 10 && jint(r->json, "done", 0) == 10 && jint(r->json, "failed", -1) == 0);
	resp_free(r);
	r = get(srv, "/pools/%s", id);
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(r->json, "tasks");
	CHECK_MSG(jint(tasks, "done", 0) == 10 && jint(tasks, "queued", -1) == 0, "tasks: %s", r->body);
	resp_free(r);

	/* Its workers are spawnd processes with the pool's id. */
	r = get(srv, "/processes?target=do_calculation&limit=100");
	CHECK_MSG(strstr(r->body, "\"pool\":\"") && strstr(r->body, id), "no worker with pool %s: %.300s", id, r->body);
	resp_free(r);

	r = postf(srv, "{\"args\": [21]}", "/pools/%s/apply?wait=30", id);
	CHECK_STATUS(r, 200);
	CHECK_MSG(jint(r->json, "result", 0) == 42, "apply: %s", r->body);
	resp_free(r);

	r = postf(srv, NULL, "/pools/%s/join", id);
	CHECK_ERROR(r, 409, "conflict");        /* as Pool.join(): close first */
	resp_free(r);
	r = postf(srv, NULL, "/pools/%s/close", id);
	CHECK_STATUS(r, 200);
	CHECK(strcmp(jstr(r->json, "state"), "closed") == 0);
	resp_free(r);
	r = postf(srv, "{\"items\": [1]}", "/pools/%s/map", id);
	CHECK_ERROR(r, 409, "conflict");
	resp_free(r);
	r = postf(srv, NULL, "/pools/%s/join?timeout=30", id);
	CHECK_STATUS(r, 200);
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->json, "workers")) == 0);
	resp_free(r);
	delete_pool(id);
}

static void test_map_errors(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"square\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"items\": [1, \"b\", {\"y\": 1}], \"chunksize\": 0, \"ordered\": 3}",
			       "/pools/%s/map", id);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "items[1]");
	CHECK_FIELD(r, "items[2].y");
	CHECK_FIELD(r, "chunksize");
	CHECK_FIELD(r, "ordered");
	resp_free(r);
	r = postf(srv, "{\"items\": 5}", "/pools/%s/map", id);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "items");
	resp_free(r);
	r = postf(srv, "{\"items\": [1]}", "/pools/%s/map?on_error=maybe", id);
	CHECK_ERROR(r, 400, "invalid_argument");
	resp_free(r);
	r = postf(srv, "{\"items\": [1]}", "/pools/%s/map?wait=x", id);
	CHECK_ERROR(r, 400, "invalid_argument");
	resp_free(r);
	r = postf(srv, "{\"args\": {\"x\": 1.5}}", "/pools/%s/apply", id);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "args.x");
	resp_free(r);
	r = get(srv, "/pools/%s/jobs/nosuch", id);
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
	r = postf(srv, "{\"items\": []}", "/pools/%s/map?wait=5", id);
	CHECK_STATUS(r, 200);
	CHECK(cJSON_GetArraySize(results_of(r)) == 0);
	resp_free(r);
	delete_pool(id);
}

/* 10,000 squares: in input order; unordered, the same set. */
static void test_map_10000(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"square\", \"processes\": 2}", id));
	for (int ordered = 1; ordered >= 0; ordered--) {
		char *body = range_body(10000, ordered ? NULL : "\"ordered\": false, ");
		struct resp *r = postf(srv, body, "/pools/%s/map?wait=600", id);
		free(body);
		CHECK_STATUS(r, 200);
		const cJSON *res = results_of(r);
		CHECK(cJSON_GetArraySize(res) == 10000);
		/* Results sit in their item's place whatever the order they came in. */
		int i = 0;
		for (const cJSON *v = res ? res->child : NULL; v; v = v->next, i++)
			CHECK_MSG(cJSON_IsNumber(v) && v->valuedouble == (double)i * i, "result %d is not %d", i, i * i);
		resp_free(r);
	}
	delete_pool(id);
}

/* exec targets: "returns": "json" parses stdout, else the text; a non-JSON stdout is an error. */
static void test_exec_results(void)
{
	static const struct { const char *target, *items, *want; } cases[] = {
		{ "jsonecho", "[1, 2]", "[1,2]" },
		{ "textecho", "[1, 2]", "[\"n=1\\n\",\"n=2\\n\"]" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char id[ID_CAP], body[128], pool[128];
		snprintf(pool, sizeof pool, "{\"target\": \"%s\", \"processes\": 2}", cases[i].target);
		CHECK(post_created(srv, "/pools", pool, id));
		snprintf(body, sizeof body, "{\"items\": %s}", cases[i].items);
		struct resp *r = postf(srv, body, "/pools/%s/map?wait=60", id);
		CHECK_STATUS(r, 200);
		char *got = cJSON_PrintUnformatted(results_of(r));
		CHECK_MSG(got && strcmp(got, cases[i].want) == 0, "%s: results %s, not %s", cases[i].target, got, cases[i].want);
		free(got);
		resp_free(r);
		delete_pool(id);
	}
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"badjson\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"args\": []}", "/pools/%s/apply?wait=60", id);
	CHECK_STATUS(r, 200);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "result"), "error");
	CHECK_MSG(jstr(e, "code") && strcmp(jstr(e, "code"), "bad_result") == 0, "apply: %s", r->body);
	resp_free(r);
	delete_pool(id);
}

static const char *error_code_at(const cJSON *results, int i)
{
	return jstr(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(results, i), "error"), "code");
}

/* A failed task is an error in its place; on_error=fail ends the job; retries run it again. */
static void test_failures(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"exit\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"items\": [0, 3, 0], \"chunksize\": 1}", "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	const cJSON *res = results_of(r);
	CHECK_MSG(cJSON_IsString(cJSON_GetArrayItem(res, 0)) && cJSON_IsString(cJSON_GetArrayItem(res, 2)), "%s", r->body);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, 1), "error");
	CHECK_MSG(e && strcmp(jstr(e, "code"), "exit") == 0 && jint(e, "exitcode", 0) == 3 && jstr(e, "message"),
		  "item 1: %s", r->body);
	CHECK(jint(r->json, "failed", 0) == 1 && strcmp(jstr(r->json, "state"), "done") == 0);
	resp_free(r);
	r = postf(srv, "{\"items\": [3, 0, 0], \"chunksize\": 1}", "/pools/%s/map?wait=60&on_error=fail", id);
	CHECK_STATUS(r, 200);
	CHECK_MSG(strcmp(jstr(r->json, "state"), "failed") == 0, "on_error=fail: %s", r->body);
	CHECK(error_code_at(results_of(r), 0) && strcmp(error_code_at(results_of(r), 0), "exit") == 0);
	resp_free(r);
	delete_pool(id);

	char dir[256], body[1024];
	snprintf(dir, sizeof dir, "%s", server_root(srv));
	CHECK(post_created(srv, "/pools", "{\"target\": \"flaky\", \"processes\": 2}", id));
	snprintf(body, sizeof body, "{\"items\": [[\"%s/f0\", 0], [\"%s/f1\", 1]], \"retries\": 1}", dir, dir);
	r = postf(srv, body, "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	CHECK_MSG(jint(cJSON_GetArrayItem(results_of(r), 1), "ok", -1) == 1 && jint(r->json, "failed", -1) == 0,
		  "retried: %s", r->body);
	resp_free(r);
	delete_pool(id);
}

static int worker_count(const char *id)
{
	struct resp *r = get(srv, "/pools/%s", id);
	int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->json, "workers"));
	resp_free(r);
	return n;
}

/* QUALITY 25: SIGKILL one worker mid-map: only its task fails (or is retried),
 * the map completes, and the pool runs its full count of workers again. */
static void test_worker_killed(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"sleep\", \"processes\": 2}", id));
	for (int retries = 0; retries <= 1; retries++) {
		char body[256];
		snprintf(body, sizeof body, "{\"items\": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], \"chunksize\": 1, \"retries\": %d}",
			 retries);
		struct resp *r = postf(srv, body, "/pools/%s/map", id);
		CHECK_STATUS(r, 202);
		char job[ID_CAP];
		snprintf(job, sizeof job, "%s", jstr(r->json, "job"));
		resp_free(r);
		pid_t pid = -1;
		for (double end = now_s() + 10; pid <= 0 && now_s() < end; sleep_s(0.02))
			pid = pool_worker_pid(srv, id);
		CHECK(pid > 0);
		CHECK(kill(pid, SIGKILL) == 0);
		r = get(srv, "/pools/%s/jobs/%s?wait=60", id, job);
		CHECK_STATUS(r, 200);
		CHECK_MSG(strcmp(jstr(r->json, "state"), "done") == 0, "%s", r->body);
		int killed = 0;
		for (int i = 0; i < 6; i++) {
			const char *code = error_code_at(results_of(r), i);
			killed += code && strcmp(code, "signal") == 0;
		}
		CHECK_MSG(killed == (retries ? 0 : 1) && jint(r->json, "failed", -1) == killed,
			  "retries %d: %d killed: %s", retries, killed, r->body);
		resp_free(r);
	}
	/* Both slots work again. */
	struct resp *r = postf(srv, "{\"items\": [5, 5], \"chunksize\": 1}", "/pools/%s/map", id);
	CHECK_STATUS(r, 202);
	resp_free(r);
	int n = 0;
	for (double end = now_s() + 10; n < 2 && now_s() < end; sleep_s(0.05))
		n = worker_count(id);
	CHECK_MSG(n == 2, "the pool runs %d workers, not 2", n);
	delete_pool(id);
}

/* The process records that worked for pool id (any target), newest first:
 * their names and stderr (the initializer prints there) in names/stderrs. */
static int pool_processes(const char *id, char names[][64], char stderrs[][128], int max)
{
	struct resp *r = get(srv, "/processes?limit=1000");
	int n = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r->json, "processes")) {
		if (!jstr(p, "pool") || strcmp(jstr(p, "pool"), id) != 0)
			continue;
		if (n < max) {
			snprintf(names[n], 64, "%s", jstr(p, "name"));
			struct resp *one = get(srv, "/processes/%s", jstr(p, "id"));
			snprintf(stderrs[n], 128, "%s", jstr(one->json, "stderr") ? jstr(one->json, "stderr") : "");
			resp_free(one);
		}
		n++;
	}
	resp_free(r);
	return n;
}

/* C targets: one long-lived worker per slot runs task after task (no fork
 * per task); its initializer ran in it once, printing "Starting <its name>". */
static void test_workers_persist(void)
{
	char id[ID_CAP], names[8][64], stderrs[8][128];
	CHECK(post_created(srv, "/pools", "{\"target\": \"do_calculation\", \"processes\": 2, \"initializer\": \"start_process\"}", id));
	char *body = range_body(40, NULL);
	struct resp *r = postf(srv, body, "/pools/%s/map?wait=60", id);
	free(body);
	CHECK_STATUS(r, 200);
	CHECK(cJSON_GetArraySize(results_of(r)) == 40 && cJSON_GetArrayItem(results_of(r), 39)->valuedouble == 78);
	resp_free(r);
	CHECK_MSG(worker_count(id) >= 1, "idle workers stay: %d", worker_count(id));
	r = postf(srv, "{\"args\": [5]}", "/pools/%s/apply?wait=30", id);
	CHECK(jint(r->json, "result", 0) == 10);
	resp_free(r);
	/* A worker started late may still be in its initializer (the other one
	 * took every chunk meanwhile): its stderr is waited for. */
	int n = 0;
	bool greeted = false;
	for (double end = now_s() + 20; !greeted && now_s() < end; sleep_s(0.05)) {
		n = pool_processes(id, names, stderrs, 8);
		greeted = n > 0;
		for (int i = 0; i < n && i < 8; i++) {
			char want[600];
			snprintf(want, sizeof want, "Starting %s\n", names[i]);
			greeted = greeted && strcmp(stderrs[i], want) == 0;
		}
	}
	CHECK_MSG(n >= 1 && n <= 2, "%d processes for 41 tasks in 2 workers", n);
	CHECK_MSG(greeted, "worker %s stderr \"%s\"", names[0], stderrs[0]);
	delete_pool(id);
}

/* maxtasksperchild=2: after two tasks a worker is replaced (a new name, its initializer again). */
static void test_maxtasksperchild(void)
{
	char id[ID_CAP], names[8][64], stderrs[8][128];
	CHECK(post_created(srv, "/pools", "{\"target\": \"do_calculation\", \"processes\": 1, \"initializer\": \"start_process\","
			" \"maxtasksperchild\": 2}", id));
	struct resp *r = postf(srv, "{\"items\": [1, 2, 3, 4, 5, 6]}", "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	CHECK_MSG(cJSON_GetArrayItem(results_of(r), 5)->valuedouble == 12, "%s", r->body);
	resp_free(r);
	r = postf(srv, NULL, "/pools/%s/close", id);
	resp_free(r);
	r = postf(srv, NULL, "/pools/%s/join?timeout=30", id);
	resp_free(r);
	int n = pool_processes(id, names, stderrs, 8);
	CHECK_MSG(n == 3, "%d workers for 6 tasks at 2 per worker", n);
	CHECK(strcmp(names[0], names[1]) != 0 && strcmp(names[1], names[2]) != 0 && strcmp(names[0], names[2]) != 0);
	for (int i = 0; i < n; i++)
		CHECK_MSG(strstr(stderrs[i], names[i]), "worker %s stderr \"%s\"", names[i], stderrs[i]);
	delete_pool(id);
}

/* An initializer that fails: the pool says so, its jobs fail, and it is not started again and again. */
static void test_failing_initializer(void)
{
	char id[ID_CAP], names[8][64], stderrs[8][128];
	CHECK(post_created(srv, "/pools", "{\"target\": \"square\", \"processes\": 2, \"initializer\": \"exit\", \"initargs\": [7]}", id));
	struct resp *r = postf(srv, "{\"items\": [1, 2, 3]}", "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	CHECK_MSG(strcmp(jstr(r->json, "state"), "failed") == 0, "%s", r->body);
	resp_free(r);
	r = get(srv, "/pools/%s", id);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->json, "error"), "error");
	CHECK_MSG(jstr(e, "code") && strcmp(jstr(e, "code"), "initializer_failed") == 0 && jint(e, "exitcode", 0) == 7,
		  "pool: %s", r->body);
	resp_free(r);
	sleep_s(0.5);
	int runs = pool_processes(id, names, stderrs, 8);
	CHECK_MSG(runs >= 1 && runs <= 2, "%d workers started", runs);
	r = postf(srv, "{\"args\": [1]}", "/pools/%s/apply?wait=10", id);
	CHECK_STATUS(r, 200);
	CHECK(strcmp(jstr(r->json, "state"), "failed") == 0);
	resp_free(r);
	CHECK_MSG(pool_processes(id, names, stderrs, 8) == runs, "a worker started again");
	delete_pool(id);
}

/* terminate mid-map: every worker ends, the job's waiter is answered at once. */
static void test_terminate_mid_map(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"sleep\", \"processes\": 2}", id));
	struct resp *r = postf(srv, "{\"items\": [60, 60, 60, 60]}", "/pools/%s/map", id);
	CHECK_STATUS(r, 202);
	char path[256];
	snprintf(path, sizeof path, "/pools/%s/jobs/%s?wait=120", id, jstr(r->json, "job"));
	resp_free(r);
	pid_t pids[2] = { -1, -1 };
	for (double end = now_s() + 10; worker_count(id) < 2 && now_s() < end;)
		sleep_s(0.02);
	pids[0] = pool_worker_pid(srv, id);
	struct live *waiter = live_open(srv, path, NULL);
	live_pump(0.3);
	CHECK(!waiter->done);
	double t0 = now_s();
	r = postf(srv, NULL, "/pools/%s/terminate", id);
	CHECK_STATUS(r, 200);
	CHECK(strcmp(jstr(r->json, "state"), "terminated") == 0);
	resp_free(r);
	CHECK(live_wait_done(waiter, 30));
	CHECK_MSG(now_s() - t0 < 30, "the waiter was answered after %.1f s", now_s() - t0);
	CHECK_MSG(waiter->status == 200 && strstr(waiter->body, "\"terminated\""), "waiter: %ld %s", waiter->status,
		  waiter->body);
	live_close(waiter);
	CHECK(pids_gone(pids, 1, 10));
	r = postf(srv, NULL, "/pools/%s/join?timeout=30", id);
	CHECK_STATUS(r, 200);
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->json, "workers")) == 0);
	resp_free(r);
	delete_pool(id);
}

/* imap: results stream as they come (before the map ends) and a stream
 * resumed from an SSE id goes on exactly after it. */
static void test_results_stream(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"sleep\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"items\": [0, 0, 0, 3], \"chunksize\": 1}", "/pools/%s/map", id);
	CHECK_STATUS(r, 202);
	char path[512], job[ID_CAP];
	snprintf(job, sizeof job, "%s", jstr(r->json, "job"));
	resp_free(r);
	snprintf(path, sizeof path, "/pools/%s/jobs/%s/results?follow=true", id, job);
	struct live *l = live_open(srv, path, NULL);
	CHECK_MSG(live_wait_for(l, "\"index\":2", 20), "no third result: %s", l->body);
	CHECK_MSG(!strstr(l->body, "\"index\":3"), "the long task is done already: %s", l->body);
	r = get(srv, "/pools/%s/jobs/%s", id, job);
	CHECK_MSG(strcmp(jstr(r->json, "state"), "running") == 0, "the map ended before its results streamed");
	resp_free(r);
	CHECK(live_wait_done(l, 30));
	cJSON **lines = NULL;
	int n = ndjson_parse(l->body, l->len, &lines), results = 0;
	for (int i = 0; i < n; i++) {
		if (jstr(lines[i], "event"))    /* a heartbeat */
			continue;
		CHECK(jint(lines[i], "index", -1) == results);
		CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(lines[i], "result")));
		results++;
	}
	ndjson_free(lines, n);
	CHECK_MSG(results == 4, "%d results: %s", results, l->body);
	live_close(l);

	/* SSE, resumed after the second result (its event id is 2). */
	snprintf(path, sizeof path, "/pools/%s/jobs/%s/results?follow=true", id, job);
	const char *const headers[] = { "Accept: text/event-stream", "Last-Event-ID: 2", NULL };
	l = live_request(srv, "GET", path, headers, NULL, 0, 0);
	CHECK(live_wait_done(l, 30));
	CHECK_MSG(!strstr(l->body, "\"index\":1") && strstr(l->body, "id: 3\n") && strstr(l->body, "\"index\":2") &&
		  strstr(l->body, "\"index\":3") && strstr(l->body, "id: 4\n"), "resumed: %s", l->body);
	live_close(l);
	r = get(srv, "/pools/%s/jobs/%s/results?after=3", id, job);
	CHECK_STATUS(r, 200);
	CHECK_MSG(strstr(r->body, "\"index\":3") && !strstr(r->body, "\"index\":2"), "after=3: %s", r->body);
	resp_free(r);
	r = get(srv, "/pools/%s/jobs/%s/results?after=x", id, job);
	CHECK_ERROR(r, 400, "invalid_argument");
	resp_free(r);
	delete_pool(id);
}

/* spawnd_return_json(): in a pool the task's result (not what it printed),
 * from one worker whose memory carries over; in a plain run, its stdout. */
static void test_return_json(void)
{
	char why[256], id[ID_CAP];
	struct server *ps = server_with_fixture_plugin("plugin_pool.so", NULL);
	CHECK(ps);
	struct resp *r = post_json(ps, "/pools", "{\"target\": \"pool_cube\", \"processes\": 1}");
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = postf(ps, "{\"items\": [1, 2, 3]}", "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	char *got = cJSON_PrintUnformatted(results_of(r));
	CHECK_MSG(got && strcmp(got, "[{\"cube\":1,\"ran\":1},{\"cube\":8,\"ran\":2},{\"cube\":27,\"ran\":3}]") == 0,
		  "results %s", got);
	free(got);
	resp_free(r);
	/* What it printed beside each value is its worker's own stdout (the
	 * results travel apart, on the worker's socket). */
	r = get(ps, "/pools/%s", id);
	const cJSON *worker = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "workers"), 0);
	char wid[ID_CAP] = "";
	if (cJSON_IsString(worker))
		snprintf(wid, sizeof wid, "%s", worker->valuestring);
	resp_free(r);
	CHECK(wid[0]);
	/* (The engine reads that pipe on its own time: the results may come first.) */
	r = NULL;
	for (double end = now_s() + 20; now_s() < end; sleep_s(0.05)) {
		resp_free(r);
		r = get(ps, "/processes/%s", wid);
		if (jint(r->json, "stdout_bytes", -1) >= 18)
			break;
	}
	CHECK_MSG(r->status == 200 && jint(r->json, "stdout_bytes", -1) == 18, "three \"noise\\n\": " RESP_FMT,
		  RESP_ARGS(r));
	resp_free(r);
	r = post_json(ps, "/processes?wait=30", "{\"target\": \"pool_cube\", \"args\": [2]}");
	CHECK_STATUS(r, 201);
	CHECK_MSG(jstr(r->json, "stdout") && strcmp(jstr(r->json, "stdout"), "noise\n{\"cube\":8,\"ran\":1}\n") == 0,
		  "a plain run's stdout: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	CHECK_MSG(server_stop(ps, why, sizeof why) == 0, "%s", why);
}

static void test_shared_server_stops(void) { check_server_stops(&srv); }

int main(void)
{
	srv = server_start_targets(targets_json, NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_create_errors);
	RUN(test_pool_lifecycle);
	RUN(test_map_errors);
	RUN(test_exec_results);
	RUN(test_failures);
	RUN(test_worker_killed);
	RUN(test_workers_persist);
	RUN(test_maxtasksperchild);
	RUN(test_failing_initializer);
	RUN(test_terminate_mid_map);
	RUN(test_results_stream);
	RUN(test_map_10000);
	RUN(test_return_json);
	RUN(test_shared_server_stops);
	return CHECK_EXIT();
}
