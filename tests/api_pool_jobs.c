/* api_pool_jobs — GET /pools/{id}/jobs, the listing the dashboard's pools view
 * reads: a pool's jobs newest first, each with its progress and its failed
 * items (index, item, error value), those of a job still running included
 * (GET /pools/{id}/jobs/{job} serves results only once the job has ended).
 */
#include "tests/harness.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;

/* slowexit sleeps `s` seconds, then exits with `code`. */
static const char targets_json[] =
	"{\"version\": 1, \"targets\": ["
	"{\"name\": \"slowexit\", \"program\": \"/bin/sh\", \"argv\": [\"-c\", \"sleep $1; exit $2\", \"sh\", \"{s}\", \"{code}\"],"
	" \"args\": [{\"name\": \"s\", \"type\": \"integer\", \"required\": true},"
	"          {\"name\": \"code\", \"type\": \"integer\", \"required\": true}]}"
	"]}";

/* The job id a map answered, into job (ID_CAP). */
static bool take_job(const struct resp *r, char *job)
{
	const char *s = jstr(r->json, "job");
	if (!s)
		return false;
	snprintf(job, ID_CAP, "%s", s);
	return true;
}

static const cJSON *jobs_of(const struct resp *r) { return cJSON_GetObjectItemCaseSensitive(r->json, "jobs"); }

/* failures[k] of a job is item `index` with args {"s": 0, "code": code} that exited `code`. */
static bool failure_is(const cJSON *job, int k, int index, int code)
{
	const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(job, "failures"), k);
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(f, "item");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(f, "error");
	return f && jint(f, "index", -1) == index && jint(item, "code", -1) == code && jint(item, "s", -1) == 0 &&
	       jstr(e, "code") && strcmp(jstr(e, "code"), "exit") == 0 && jint(e, "exitcode", -1) == code &&
	       jstr(e, "message");
}

static void test_unknown_pool(void)
{
	struct resp *r = get(srv, "/pools/nosuchpool/jobs");
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
}

/* Two ended jobs: newest first, each with its own failures in the order they failed. */
static void test_ended_jobs(void)
{
	char id[ID_CAP], first[ID_CAP], second[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"slowexit\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"items\": [[0, 0], [0, 3], [0, 0], [0, 5]], \"chunksize\": 1}", "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	CHECK(take_job(r, first));
	resp_free(r);
	r = postf(srv, "{\"items\": [[0, 0]]}", "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	CHECK(take_job(r, second));
	resp_free(r);
	r = get(srv, "/pools/%s/jobs", id);
	CHECK_STATUS(r, 200);
	const cJSON *jobs = jobs_of(r), *newer = cJSON_GetArrayItem(jobs, 0), *older = cJSON_GetArrayItem(jobs, 1);
	CHECK_MSG(cJSON_GetArraySize(jobs) == 2 && strcmp(jstr(newer, "job"), second) == 0 &&
		  strcmp(jstr(older, "job"), first) == 0, "%s", r->body);
	CHECK_MSG(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(newer, "failures")) == 0 &&
		  jint(newer, "failed", -1) == 0 && strcmp(jstr(newer, "pool"), id) == 0, "%s", r->body);
	CHECK_MSG(strcmp(jstr(older, "state"), "done") == 0 && jint(older, "total", 0) == 4 && jint(older, "done", 0) == 4 &&
		  jint(older, "failed", 0) == 2 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(older, "failures")) == 2 &&
		  failure_is(older, 0, 1, 3) && failure_is(older, 1, 3, 5), "%s", r->body);
	CHECK(!cJSON_GetObjectItemCaseSensitive(older, "results"));
	resp_free(r);
	r = del(srv, "/pools/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

static bool failed_while_running(const char *id, char *body, size_t cap)
{
	struct resp *r = get(srv, "/pools/%s/jobs", id);
	const cJSON *job = cJSON_GetArrayItem(jobs_of(r), 0);
	bool ok = r->status == 200 && job && jint(job, "failed", 0) == 1 && strcmp(jstr(job, "state"), "running") == 0 &&
		  failure_is(job, 0, 0, 7);
	snprintf(body, cap, "%s", r->body);
	resp_free(r);
	return ok;
}

/* A job still running lists the item that failed already. */
static void test_running_job_failures(void)
{
	char id[ID_CAP], body[4096] = "";
	CHECK(post_created(srv, "/pools", "{\"target\": \"slowexit\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"items\": [[0, 7], [60, 0]], \"chunksize\": 1}", "/pools/%s/map", id);
	CHECK_STATUS(r, 202);
	resp_free(r);
	bool seen = false;
	for (int i = 0; i < 300 && !(seen = failed_while_running(id, body, sizeof body)); i++)
		usleep(100 * 1000);
	CHECK_MSG(seen, "last listing: %s", body);
	r = postf(srv, NULL, "/pools/%s/terminate", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
	r = del(srv, "/pools/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

static void test_shared_server_stops(void) { check_server_stops(&srv); }

int main(void)
{
	srv = server_start_targets(targets_json, NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_unknown_pool);
	RUN(test_ended_jobs);
	RUN(test_running_job_failures);
	RUN(test_shared_server_stops);
	return CHECK_EXIT();
}
