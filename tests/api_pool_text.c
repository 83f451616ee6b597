/* api_pool_text — a map whose items are bare integers is read without a
 * cJSON node per item (handlers/pools_items.c), its items sent to the
 * workers as text. These check that this reading answers exactly as the
 * whole-body parse does: odd spacing, negative numbers, the edges of a
 * target's range, numbers it declines (fractions, exponents, long ones),
 * invalid bodies, a duplicate or misplaced "items"; and what the integer
 * items feed: a chunk of mixed valid and failing tasks (the failures listed
 * with their items), text results holding a newline; and a worker's way of
 * knowing which tasks wrote on fd 1 (tasks returning values that write past
 * stdio, beside tasks whose stdout is their result).
 */
#include "tests/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;

static void delete_pool(const char *id)
{
	struct resp *r = del(srv, "/pools/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

/* POST body as a map of pool id with ?wait=: its results equal want (n). */
static void check_squares(const char *id, const char *body, const double *want, int n)
{
	struct resp *r = postf(srv, body, "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(r->json, "results");
	CHECK_MSG(cJSON_GetArraySize(res) == n, "%s: %d results, not %d", body, cJSON_GetArraySize(res), n);
	int i = 0;
	for (const cJSON *v = res ? res->child : NULL; v && i < n; v = v->next, i++)
		CHECK_MSG(cJSON_IsNumber(v) && v->valuedouble == want[i], "%s: result %d is %g, not %g", body, i,
			  cJSON_IsNumber(v) ? v->valuedouble : -1.0, want[i]);
	resp_free(r);
}

static void test_integer_spellings(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"square\", \"processes\": 2}", id));
	static const double plain[] = { 9, 0, 49, 1e12, 100 };
	check_squares(id, "{\"items\":[3,0,-7,1000000,10]}", plain, 5);
	check_squares(id, " \n{ \"chunksize\" : 1,\n \"items\" :\t[ 3 ,\n0, -7 , 1000000\r\n,10 ] ,\"ordered\":true }\n",
		      plain, 5);
	/* declined by the text reading, taken by the whole parse: the same answers */
	check_squares(id, "{\"items\": [3, 0.0, -7, 1e6, 10.0]}", plain, 5);
	check_squares(id, "{\"items\": [3, -0, -7, 1000000, 10]}", plain, 5);
	/* the edges of square's range (|x| <= 3037000499), and 15 and 16 digits */
	static const double edge[] = { 3037000499.0 * 3037000499.0, 3037000499.0 * 3037000499.0 };
	check_squares(id, "{\"items\": [3037000499, -3037000499]}", edge, 2);
	delete_pool(id);
}

static void test_invalid_bodies(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"square\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"items\": [1, 2, 3037000500, 4]}", "/pools/%s/map", id);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "items[2]");
	resp_free(r);
	r = postf(srv, "{\"items\": [1, 123456789012345678]}", "/pools/%s/map", id);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "items[1]");
	resp_free(r);
	static const char *const not_json[] = {
		"{\"items\": [1, 2,]}", "{\"items\": [1, 2]", "{\"items\": [1, 2]} x", "[{\"items\": [1]}]",
		"{\"items\": [1 2]}", "{\"items\": [1, 2], \"items\": [3]",
	};
	for (size_t i = 0; i < sizeof not_json / sizeof not_json[0]; i++) {
		r = postf(srv, not_json[i], "/pools/%s/map", id);
		CHECK_MSG(r->status == 400, "%s -> " RESP_FMT, not_json[i], RESP_ARGS(r));
		resp_free(r);
	}
	r = postf(srv, "{\"items\": [1], \"items\": [2]}", "/pools/%s/map", id);
	CHECK_ERROR(r, 400, "invalid_json");
	CHECK_FIELD(r, "items");
	resp_free(r);
	/* an "items" that is not the top-level member is not the items */
	r = postf(srv, "{\"x\\\"items\\\":[9]\": {\"items\": [8]}, \"items\": [3037000500]}", "/pools/%s/map", id);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "x\"items\":[9]");
	CHECK_FIELD(r, "items[0]");     /* the top-level items were the ones checked */
	resp_free(r);
	r = postf(srv, "{\"retries\": 1}", "/pools/%s/map", id);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "items");
	resp_free(r);
	delete_pool(id);
}

/* exit's tasks return their code: in one chunk, the failing ones fail alone,
 * and the job's failures name their items. */
static void test_mixed_chunk(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"exit\", \"processes\": 1}", id));
	struct resp *r = postf(srv, "{\"items\": [0, 3, 0, 0, 5, 0], \"chunksize\": 6}", "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	CHECK(jnum(r->json, "failed", -1) == 2 && jnum(r->json, "done", -1) == 6);
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(r->json, "results");
	for (int i = 0; i < 6; i++) {
		const cJSON *v = cJSON_GetArrayItem(res, i);
		bool failed = i == 1 || i == 4;
		CHECK_MSG(failed == (cJSON_GetObjectItemCaseSensitive(v, "error") != NULL), "result %d", i);
	}
	resp_free(r);
	r = get(srv, "/pools/%s/jobs", id);
	CHECK_STATUS(r, 200);
	const cJSON *failures = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(r->json, "jobs"), 0), "failures");
	CHECK(cJSON_GetArraySize(failures) == 2);
	const cJSON *f = cJSON_GetArrayItem(failures, 1);
	CHECK(jnum(f, "index", -1) == 4);
	CHECK(jnum(cJSON_GetObjectItemCaseSensitive(f, "item"), "code", -1) == 5);
	resp_free(r);
	delete_pool(id);
}

/* Values holding a newline, a comma and brackets, answered as one run
 * (one chunk): each comes back whole, in its place. */
static void test_values_with_newlines(void)
{
	char id[ID_CAP];
	struct server *ps = server_with_fixture_plugin("plugin_pool.so", NULL);
	CHECK(ps);
	struct resp *r = post_json(ps, "/pools", "{\"target\": \"pool_text\", \"processes\": 1}");
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = postf(ps, "{\"items\": [1, -2, 3, 40], \"chunksize\": 4}", "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(r->json, "results");
	static const char *const want[] = { "line 1\nnext, [1]", "line -2\nnext, [-2]", "line 3\nnext, [3]",
					    "line 40\nnext, [40]" };
	CHECK_MSG(cJSON_GetArraySize(res) == 4, "%s", r->body);
	for (int i = 0; i < 4; i++) {
		const char *got = cJSON_GetStringValue(cJSON_GetArrayItem(res, i));
		CHECK_MSG(got && strcmp(got, want[i]) == 0, "result %d is %s", i, got ? got : "(none)");
	}
	resp_free(r);
	r = del(ps, "/pools/%s", id);
	resp_free(r);
	check_server_stops(&ps);
}

/* An item far larger than a read (200 KB of words) between small ones, in
 * one chunk: the worker takes it whole, and its neighbours keep theirs. */
static void test_very_large_item(void)
{
	char id[ID_CAP];
	enum { WORDS = 4000, WORD = 50 };
	size_t cap = 64 + (size_t)WORDS * (WORD + 3);
	char *body = malloc(cap), *want = malloc((size_t)WORDS * (WORD + 1) + 1);
	CHECK(body && want);
	size_t len = (size_t)snprintf(body, cap, "{\"chunksize\": 3, \"items\": [[\"a\"], ["), wlen = 0;
	for (int i = 0; i < WORDS; i++) {
		body[len++] = i ? ',' : ' ';
		body[len++] = '"';
		for (int k = 0; k < WORD; k++)
			want[wlen++] = body[len++] = (char)('a' + (i + k) % 26);
		want[wlen++] = i + 1 < WORDS ? ' ' : '\n';
		body[len++] = '"';
	}
	want[wlen] = '\0';
	snprintf(body + len, cap - len, "], [\"z\"]]}");
	CHECK(post_created(srv, "/pools", "{\"target\": \"echo\", \"processes\": 1}", id));
	struct resp *r = postf(srv, body, "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(r->json, "results");
	const char *a = cJSON_GetStringValue(cJSON_GetArrayItem(res, 0)), *big = cJSON_GetStringValue(cJSON_GetArrayItem(res, 1));
	const char *z = cJSON_GetStringValue(cJSON_GetArrayItem(res, 2));
	CHECK_MSG(a && strcmp(a, "a\n") == 0 && z && strcmp(z, "z\n") == 0, "%.200s", r->body);
	CHECK_MSG(big && strcmp(big, want) == 0, "the big item's result has %zu bytes", big ? strlen(big) : 0);
	resp_free(r);
	free(body);
	free(want);
	delete_pool(id);
}

/* worker prints "Worker: <num>\n": its stdout, newline included, is the result. */
static void test_text_results(void)
{
	char id[ID_CAP];
	CHECK(post_created(srv, "/pools", "{\"target\": \"worker\", \"processes\": 2}", id));
	struct resp *r = postf(srv, "{\"items\": [5, -12, 0]}", "/pools/%s/map?wait=60", id);
	CHECK_STATUS(r, 200);
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(r->json, "results");
	static const char *const want[] = { "Worker: 5\n", "Worker: -12\n", "Worker: 0\n" };
	for (int i = 0; i < 3; i++) {
		const char *got = cJSON_GetStringValue(cJSON_GetArrayItem(res, i));
		CHECK_MSG(got && strcmp(got, want[i]) == 0, "result %d is %s", i, got ? got : "(none)");
	}
	resp_free(r);
	delete_pool(id);
}

/* A task that writes on fd 1 past stdio and returns a value: its write goes to
 * its worker's stdout, and the next task's stdout result holds only its own
 * line (the worker knows a task wrote without measuring each one). */
static void test_writes_beside_values(void)
{
	char why[256], id[ID_CAP], wid[ID_CAP] = "";
	struct server *ps = server_with_fixture_plugin("plugin_pool.so", NULL);
	CHECK(ps);
	struct resp *r = post_json(ps, "/pools", "{\"target\": \"pool_loud\", \"processes\": 1}");
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = postf(ps, "{\"items\": [0, 1, 2, 3, 4, 4, 5], \"chunksize\": 7}", "/pools/%s/map?wait=60", id);      /* one write, one read */
	CHECK_STATUS(r, 200);
	char *got = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r->json, "results"));
	CHECK_MSG(got && strcmp(got, "[0,\"loud 1\\n\",2,\"loud 3\\n\",4,4,\"loud 5\\n\"]") == 0, "results %s", got);
	free(got);
	resp_free(r);
	r = get(ps, "/pools/%s", id);
	const cJSON *worker = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "workers"), 0);
	if (cJSON_IsString(worker))
		snprintf(wid, sizeof wid, "%s", worker->valuestring);
	resp_free(r);
	CHECK(wid[0]);
	r = NULL;               /* the engine reads the worker's stdout on its own time */
	for (double end = now_s() + 20; now_s() < end; sleep_s(0.05)) {
		resp_free(r);
		r = get(ps, "/processes/%s", wid);
		if (jint(r->json, "stdout_bytes", -1) >= 28)
			break;
	}
	CHECK_MSG(r->status == 200 && jint(r->json, "stdout_bytes", -1) == 28, "four \"loud <even>\\n\": " RESP_FMT,
		  RESP_ARGS(r));
	resp_free(r);
	CHECK_MSG(server_stop(ps, why, sizeof why) == 0, "%s", why);
}

static void test_shared_server_stops(void) { check_server_stops(&srv); }

int main(void)
{
	srv = server_start(NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_integer_spellings);
	RUN(test_invalid_bodies);
	RUN(test_mixed_chunk);
	RUN(test_text_results);
	RUN(test_values_with_newlines);
	RUN(test_very_large_item);
	RUN(test_writes_beside_values);
	RUN(test_shared_server_stops);
	return CHECK_EXIT();
}
