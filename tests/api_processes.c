/* api_processes — the Process lifecycle over HTTP, as multiprocessing users know it:
 * start, join, exit codes, terminate/kill/signal, DELETE, listing, identity,
 * and no zombies after a thousand short workers.
 *
 * Cases share one server unless they need an empty table (default names,
 * listing, the 1,000 workers), which start their own.
 */
#include "tests/harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;


static void test_seed_five_workers(void)
{
	char ids[5][ID_CAP];
	struct resp *r;

	for (int i = 0; i < 5; i++) {
		r = spawn(srv, "{\"target\": \"worker\"}", 10);
		CHECK_STATUS(r, 201);
		CHECK_EXITED(r, 0);
		CHECK(take_id(r, ids[i]));
		resp_free(r);
	}
	for (int i = 0; i < 5; i++) {
		r = get(srv, "/processes/%s", ids[i]);
		CHECK_STATUS(r, 200);
		CHECK_STR(jstr(r->json, "stdout"), "Worker\n");
		CHECK_STR(jstr(r->json, "stderr"), "");
		CHECK_INT(jint(r->json, "stdout_bytes", -1), 7);
		resp_free(r);
		r = output_raw(srv, ids[i], "stdout");
		CHECK_STATUS(r, 200);
		CHECK_STR(r->body, "Worker\n");
		resp_free(r);
	}
}

static void test_seed_five_numbered_workers(void)
{
	char ids[5][ID_CAP], body[128], want[32];
	struct resp *r;

	for (int i = 0; i < 5; i++) {
		snprintf(body, sizeof body, "{\"target\": \"worker\", \"args\": [%d]}", i);
		r = spawn(srv, body, 10);
		CHECK_STATUS(r, 201);
		CHECK_EXITED(r, 0);
		CHECK(take_id(r, ids[i]));
		resp_free(r);
	}
	for (int i = 0; i < 5; i++) {
		snprintf(want, sizeof want, "Worker: %d\n", i);
		r = get(srv, "/processes/%s", ids[i]);
		CHECK_STATUS(r, 200);
		CHECK_STR(jstr(r->json, "stdout"), want);
		resp_free(r);
		r = output_raw(srv, ids[i], "stdout");
		CHECK_STR(r->body, want);
		resp_free(r);
	}
}

static void test_named_args_echoed(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"worker\", \"args\": {\"num\": 3}}", 10);
	char id[ID_CAP];
	cJSON *want = cJSON_Parse("{\"num\": 3}");
	bool same;

	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	same = cJSON_Compare(cJSON_GetObjectItemCaseSensitive(r->json, "args"), want, true);
	cJSON_Delete(want);
	CHECK_MSG(same, "args not echoed as sent: " RESP_FMT, RESP_ARGS(r));
	CHECK(take_id(r, id));
	resp_free(r);
	r = get(srv, "/processes/%s", id);
	CHECK_STR(jstr(r->json, "stdout"), "Worker: 3\n");
	resp_free(r);

	r = spawn(srv, "{\"target\": \"worker\", \"args\": [7]}", 10);
	CHECK_STATUS(r, 201);
	want = cJSON_Parse("[7]");
	same = cJSON_Compare(cJSON_GetObjectItemCaseSensitive(r->json, "args"), want, true);
	cJSON_Delete(want);
	CHECK_MSG(same, "positional args not echoed: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
}

static void test_echo_variadic(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"echo\", \"args\": [\"hello\", \"big  world\", \"\\u00e9\"]}", 10);
	char id[ID_CAP];

	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	CHECK(take_id(r, id));
	resp_free(r);
	r = output_raw(srv, id, "stdout");
	CHECK_STR(r->body, "hello big  world \xc3\xa9\n");
	resp_free(r);

	r = spawn(srv, "{\"target\": \"echo\", \"args\": {\"words\": [\"a\", \"b\"]}}", 10);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = output_raw(srv, id, "stdout");
	CHECK_STR(r->body, "a b\n");
	resp_free(r);
}

/* Process-N from a name, or -1. */
static long default_name_number(const char *name)
{
	char *end;
	long n;

	if (!name || strncmp(name, "Process-", 8) != 0)
		return -1;
	n = strtol(name + 8, &end, 10);
	return *end == '\0' ? n : -1;
}

static void test_defaults_on_fresh_server(void)
{
	struct server *s = server_start(NULL);
	char id[ID_CAP], location[ID_CAP + 16], why[256];
	const char *state;
	struct resp *r;
	long last;

	CHECK_MSG(s, "server did not start");
	r = spawn(s, "{\"target\": \"worker\"}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	CHECK_MSG(id_valid(id), "id \"%s\" not in [A-Za-z0-9_-]", id);
	snprintf(location, sizeof location, "/processes/%s", id);
	CHECK_STR(r->location, location);
	CHECK_STR(jstr(r->json, "name"), "Process-1");
	CHECK_STR(jstr(r->json, "target"), "worker");
	CHECK(jis_false(r->json, "daemon"));
	CHECK_MSG(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r->json, "args")) &&
		  cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->json, "args")) == 0,
		  "args not []: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(rfc3339_ms(jstr(r->json, "created_at")), "created_at: " RESP_FMT, RESP_ARGS(r));
	state = jstr(r->json, "state");
	CHECK_MSG(state && (!strcmp(state, "queued") || !strcmp(state, "running") || !strcmp(state, "exited")),
		  "state: " RESP_FMT, RESP_ARGS(r));
	if (jis_true(r->json, "alive"))
		CHECK_MSG(jis_null(r->json, "exitcode"), "alive with an exitcode: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);

	last = 1;
	for (int i = 0; i < 3; i++) {
		long n;
		r = spawn(s, i == 1 ? "{\"target\": \"worker\", \"name\": \"custom name\", \"daemon\": true}"
				    : "{\"target\": \"worker\"}", -1);
		CHECK_STATUS(r, 201);
		if (i == 1) {
			CHECK_STR(jstr(r->json, "name"), "custom name");
			CHECK(jis_true(r->json, "daemon"));
		} else {
			n = default_name_number(jstr(r->json, "name"));
			CHECK_MSG(n > last, "default name not increasing after Process-%ld: " RESP_FMT, last, RESP_ARGS(r));
			last = n;
		}
		resp_free(r);
	}

	r = join(s, id, 10);
	CHECK_STATUS(r, 200);
	CHECK_EXITED(r, 0);
	CHECK_STR(jstr(r->json, "reason"), "exit");
	CHECK(jis_null(r->json, "signal"));
	CHECK(jis_null(r->json, "error"));
	CHECK(jint(r->json, "pid", 0) > 0);
	CHECK_MSG(rfc3339_ms(jstr(r->json, "started_at")), "started_at: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(rfc3339_ms(jstr(r->json, "ended_at")), "ended_at: " RESP_FMT, RESP_ARGS(r));
	CHECK(jnum(r->json, "duration", -1) >= 0);
	CHECK_INT(jint(r->json, "stdout_bytes", -1), 7);
	CHECK_INT(jint(r->json, "stderr_bytes", -1), 0);
	CHECK(jis_false(r->json, "stdout_truncated"));
	resp_free(r);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_content_types_accepted(void)
{
	static const char *const types[] = {
		"application/json; charset=utf-8", "application/x-www-form-urlencoded", NULL,
	};

	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		struct resp *r = http(srv, "POST", "/processes?wait=10", types[i], "{\"target\": \"worker\"}", NULL);
		CHECK_MSG(r->status == 201, "Content-Type %s: " RESP_FMT, types[i] ? types[i] : "(none)", RESP_ARGS(r));
		resp_free(r);
	}
}

static void test_wait_returns_ended_record(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [0.3]}", 10);

	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	CHECK_MSG(r->seconds >= 0.25, "wait returned after %.3f s, before the sleep ended", r->seconds);
	CHECK(r->location[0]);
	resp_free(r);
}

static void test_wait_times_out_alive(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", 0.3);
	char id[ID_CAP];

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	CHECK_MSG(jis_true(r->json, "alive") && jis_null(r->json, "exitcode"),
		  "not alive after wait=0.3: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(r->seconds < 5, "wait=0.3 took %.1f s", r->seconds);
	resp_free(r);
	r = postf(srv, NULL, "/processes/%s/kill", id);
	CHECK_STATUS(r, 202);
	resp_free(r);
	r = join(srv, id, 10);
	CHECK_EXITED(r, -9);
	resp_free(r);
}

static void test_every_exit_code(void)
{
	char body[96];

	for (int code = 0; code <= 255; code++) {
		struct resp *r;
		snprintf(body, sizeof body, "{\"target\": \"exit\", \"args\": [%d]}", code);
		r = spawn(srv, body, 30);
		CHECK_STATUS(r, 201);
		CHECK_EXITED(r, code);
		CHECK_MSG(jstr(r->json, "reason") && !strcmp(jstr(r->json, "reason"), "exit") &&
			  jis_null(r->json, "signal"), "code %d: " RESP_FMT, code, RESP_ARGS(r));
		resp_free(r);
	}
}

/* Starts `sleep 30`, applies action (path suffix and body), expects 202, joins
 * and checks exitcode / signal / reason. */
#define CHECK_ENDED_BY(action, body, code, signame, why_) do { \
		struct resp *r_ = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", -1); \
		char id_[ID_CAP]; \
		CHECK_STATUS(r_, 201); \
		CHECK(take_id(r_, id_)); \
		resp_free(r_); \
		r_ = postf(srv, body, "/processes/%s/%s", id_, action); \
		CHECK_STATUS(r_, 202); \
		CHECK_MSG(jstr(r_->json, "id") && !strcmp(jstr(r_->json, "id"), id_), \
			  "not the Process: " RESP_FMT, RESP_ARGS(r_)); \
		resp_free(r_); \
		r_ = join(srv, id_, 10); \
		CHECK_STATUS(r_, 200); \
		CHECK_EXITED(r_, code); \
		CHECK_MSG(jstr(r_->json, "signal") && !strcmp(jstr(r_->json, "signal"), signame), \
			  "signal not %s: " RESP_FMT, signame, RESP_ARGS(r_)); \
		CHECK_MSG(jstr(r_->json, "reason") && !strcmp(jstr(r_->json, "reason"), why_), \
			  "reason not %s: " RESP_FMT, why_, RESP_ARGS(r_)); \
		resp_free(r_); \
	} while (0)

static void test_terminate(void)
{
	CHECK_ENDED_BY("terminate", NULL, -15, "SIGTERM", "terminate");
}

static void test_kill(void)
{
	CHECK_ENDED_BY("kill", NULL, -9, "SIGKILL", "kill");
}

static void test_signal_sigsegv_by_name(void)
{
	CHECK_ENDED_BY("signal", "{\"signal\": \"SIGSEGV\"}", -11, "SIGSEGV", "signal");
}

static void test_signal_by_number(void)
{
	CHECK_ENDED_BY("signal", "{\"signal\": 10}", -10, "SIGUSR1", "signal");
	CHECK_ENDED_BY("signal", "{\"signal\": 11}", -11, "SIGSEGV", "signal");
}

/* A signal accepted (202) right after the spawn answer must arrive: the worker
 * may still be setting up (its own session and group), and the signal must then
 * wait for it rather than be lost. */
static void test_signal_right_after_spawn_not_lost(void)
{
	static const char *const bodies[] = { "{\"signal\": \"SIGUSR1\"}", "{\"signal\": 10}" };

	for (int i = 0; i < 100; i++) {
		struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", -1);
		char id[ID_CAP];
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, id));
		resp_free(r);
		r = postf(srv, bodies[i % 2], "/processes/%s/signal", id);
		CHECK_STATUS(r, 202);
		resp_free(r);
		r = join(srv, id, 5);
		if (jis_true(r->json, "alive")) {
			struct resp *k = postf(srv, NULL, "/processes/%s/kill", id);
			resp_free(k);
			CHECK_FAIL("attempt %d: SIGUSR1 sent right after the spawn was answered 202 but lost: " RESP_FMT,
				   i + 1, RESP_ARGS(r));
		}
		CHECK_EXITED(r, -10);
		resp_free(r);
	}
}

static void test_ended_terminate_kill_unchanged(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"exit\", \"args\": [3]}", 10);
	static const char *const actions[] = { "terminate", "kill" };
	char id[ID_CAP];

	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 3);
	CHECK(take_id(r, id));
	resp_free(r);
	for (int i = 0; i < 2; i++) {
		r = postf(srv, NULL, "/processes/%s/%s", id, actions[i]);
		CHECK_STATUS(r, 200);
		CHECK_EXITED(r, 3);
		CHECK_STR(jstr(r->json, "reason"), "exit");
		CHECK(jis_null(r->json, "signal"));
		resp_free(r);
	}
	r = postf(srv, "{\"signal\": \"SIGTERM\"}", "/processes/%s/signal", id);
	CHECK_ERROR(r, 409, "not_running");
	resp_free(r);
	r = get(srv, "/processes/%s", id);
	CHECK_EXITED(r, 3);
	resp_free(r);
}

static void test_join_timeout_returns_alive(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", -1);
	char id[ID_CAP];

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = join(srv, id, 0.5);
	CHECK_STATUS(r, 200);
	CHECK_MSG(jis_true(r->json, "alive") && jis_null(r->json, "exitcode"),
		  "join timeout: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(r->seconds >= 0.4 && r->seconds < 5, "join?timeout=0.5 took %.2f s", r->seconds);
	resp_free(r);
	r = join(srv, id, 0);
	CHECK_STATUS(r, 200);
	CHECK(jis_true(r->json, "alive"));
	resp_free(r);
	r = postf(srv, NULL, "/processes/%s/kill", id);
	CHECK_STATUS(r, 202);
	resp_free(r);
	r = join(srv, id, 10);
	CHECK_EXITED(r, -9);
	resp_free(r);
}

static void test_join_without_timeout_waits(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": {\"seconds\": 1}}", -1);
	char id[ID_CAP];

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = join(srv, id, -1);
	CHECK_STATUS(r, 200);
	CHECK_EXITED(r, 0);
	CHECK_MSG(r->seconds >= 0.5, "join returned after %.2f s, before the 1 s sleep ended", r->seconds);
	resp_free(r);
}

static void test_timeout_field_ends_process(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30], \"timeout\": 0.5}", -1);
	char id[ID_CAP];

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = join(srv, id, 10);
	CHECK_STATUS(r, 200);
	CHECK_MSG(jis_false(r->json, "alive") && jint(r->json, "exitcode", 0) < 0,
		  "not ended by timeout: " RESP_FMT, RESP_ARGS(r));
	CHECK_STR(jstr(r->json, "reason"), "timeout");
	CHECK_MSG(r->seconds < 6, "timeout 0.5 took %.1f s", r->seconds);
	resp_free(r);
}

/* After DELETE the id is gone from every endpoint. */
#define CHECK_GONE(id) do { \
		struct resp *g_ = get(srv, "/processes/%s", id); \
		CHECK_ERROR(g_, 404, "not_found"); \
		resp_free(g_); \
		g_ = output_raw(srv, id, "stdout"); \
		CHECK_STATUS(g_, 404); \
		resp_free(g_); \
		g_ = join(srv, id, 0); \
		CHECK_ERROR(g_, 404, "not_found"); \
		resp_free(g_); \
		g_ = del(srv, "/processes/%s", id); \
		CHECK_ERROR(g_, 404, "not_found"); \
		resp_free(g_); \
	} while (0)

static void test_delete_running(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", -1);
	char id[ID_CAP];
	pid_t pid;

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = join(srv, id, 0.2);
	pid = (pid_t)jint(r->json, "pid", 0);
	CHECK_MSG(pid > 0 && jis_true(r->json, "alive"), "not running: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = del(srv, "/processes/%s", id);
	CHECK_STATUS(r, 200);
	CHECK_EXITED(r, -15);
	CHECK_STR(jstr(r->json, "signal"), "SIGTERM");
	CHECK_MSG(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r->json, "stdout")),
		  "final record without its output: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(r->seconds < 4, "DELETE of a sleep took %.1f s", r->seconds);
	resp_free(r);
	CHECK_MSG(!pid_alive(pid), "pid %d still alive after DELETE", (int)pid);
	CHECK_GONE(id);
}

static void test_delete_ended(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"worker\"}", 10);
	char id[ID_CAP];

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = del(srv, "/processes/%s?grace=0", id);
	CHECK_STATUS(r, 200);
	CHECK_EXITED(r, 0);
	CHECK_STR(jstr(r->json, "stdout"), "Worker\n");
	CHECK_STR(jstr(r->json, "reason"), "exit");
	resp_free(r);
	CHECK_GONE(id);
}

static void test_record_and_list_shapes(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"worker\", \"name\": \"shape-check\"}", 10);
	const cJSON *p;

	CHECK_STATUS(r, 201);
	resp_free(r);
	r = get(srv, "/processes?name=shape-check");
	CHECK_STATUS(r, 200);
	CHECK_MSG(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r->json, "processes")) &&
		  cJSON_HasObjectItem(r->json, "next"), "list shape: " RESP_FMT, RESP_ARGS(r));
	p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->json, "processes"), 0);
	CHECK_MSG(p, "named process not listed: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(!cJSON_HasObjectItem(p, "stdout") && !cJSON_HasObjectItem(p, "stderr"),
		  "list entries carry output: " RESP_FMT, RESP_ARGS(r));
	CHECK(cJSON_HasObjectItem(p, "stdout_bytes") && cJSON_HasObjectItem(p, "exitcode"));
	resp_free(r);
}

/* Fetches GET path and stores the listed ids (newest first) into ids; returns
 * how many, or -1 when the answer is not a list. */
static int list_ids(struct server *s, const char *path, char ids[][ID_CAP], int max)
{
	struct resp *r = get(s, "%s", path);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(r->json, "processes");
	const cJSON *p;
	int n = 0;

	if (r->status != 200 || !cJSON_IsArray(list)) {
		fprintf(stderr, "list_ids: " RESP_FMT "\n", RESP_ARGS(r));
		resp_free(r);
		return -1;
	}
	cJSON_ArrayForEach(p, list) {
		if (n < max)
			snprintf(ids[n], ID_CAP, "%s", jstr(p, "id") ? jstr(p, "id") : "");
		n++;
	}
	resp_free(r);
	return n;
}

static bool same_ids(char a[][ID_CAP], char b[][ID_CAP], int n)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return false;
	}
	return true;
}

static void test_list_filters_newest_first(void)
{
	/* Created in this order: 3 alpha workers, 2 beta sleeps, 1 gamma exit 1. */
	static const char *const bodies[] = {
		"{\"target\": \"worker\", \"name\": \"alpha\"}",
		"{\"target\": \"worker\", \"name\": \"alpha\"}",
		"{\"target\": \"worker\", \"name\": \"alpha\"}",
		"{\"target\": \"sleep\", \"args\": [30], \"name\": \"beta\"}",
		"{\"target\": \"sleep\", \"args\": [30], \"name\": \"beta\"}",
		"{\"target\": \"exit\", \"args\": [1], \"name\": \"gamma\"}",
	};
	struct server *s = server_start(NULL);
	char created[6][ID_CAP], want[6][ID_CAP], got[16][ID_CAP], why[256];
	int n;

	CHECK_MSG(s, "server did not start");
	for (int i = 0; i < 6; i++) {
		struct resp *r = spawn(s, bodies[i], i == 3 || i == 4 ? -1 : 10);
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, created[i]));
		resp_free(r);
	}
	for (int i = 0; i < 6; i++)
		strcpy(want[i], created[5 - i]);
	n = list_ids(s, "/processes", got, 16);
	CHECK_INT(n, 6);
	CHECK_MSG(same_ids(got, want, 6), "not newest first: got %s %s %s %s %s %s", got[0], got[1], got[2],
		  got[3], got[4], got[5]);

	n = list_ids(s, "/processes?state=running", got, 16);
	CHECK_INT(n, 2);
	CHECK_MSG(!strcmp(got[0], created[4]) && !strcmp(got[1], created[3]), "state=running: %s %s", got[0], got[1]);
	CHECK_INT(list_ids(s, "/processes?state=exited", got, 16), 4);
	CHECK_INT(list_ids(s, "/processes?target=worker", got, 16), 3);
	CHECK_MSG(same_ids(got, want + 3, 3), "target=worker order");
	CHECK_INT(list_ids(s, "/processes?name=beta", got, 16), 2);
	CHECK_INT(list_ids(s, "/processes?name=alpha&target=worker&state=exited", got, 16), 3);
	CHECK_INT(list_ids(s, "/processes?name=alpha&target=sleep", got, 16), 0);
	CHECK_INT(list_ids(s, "/processes?target=exit", got, 16), 1);
	CHECK_STR(got[0], created[5]);
	CHECK_INT(list_ids(s, "/processes?name=nobody", got, 16), 0);
	for (int i = 3; i <= 4; i++) {
		struct resp *r = postf(s, NULL, "/processes/%s/kill", created[i]);
		CHECK_STATUS(r, 202);
		resp_free(r);
		r = join(s, created[i], 10);
		CHECK_EXITED(r, -9);
		resp_free(r);
	}
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_list_pagination(void)
{
	enum { TOTAL = 25, PAGE = 7 };
	struct server *s = server_start(NULL);
	char created[TOTAL][ID_CAP], seen[TOTAL + PAGE][ID_CAP], path[512], why[256];
	char *cursor = NULL;
	int nseen = 0, pages = 0;

	CHECK_MSG(s, "server did not start");
	for (int i = 0; i < TOTAL; i++) {
		struct resp *r = spawn(s, "{\"target\": \"worker\"}", -1);
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, created[i]));
		resp_free(r);
	}
	do {
		struct resp *r;
		const cJSON *list, *p, *next;
		if (cursor) {
			char *escaped = url_escape(cursor);
			snprintf(path, sizeof path, "/processes?limit=%d&after=%s", PAGE, escaped);
			free(escaped);
		} else {
			snprintf(path, sizeof path, "/processes?limit=%d", PAGE);
		}
		free(cursor);
		cursor = NULL;
		r = get(s, "%s", path);
		CHECK_STATUS(r, 200);
		list = cJSON_GetObjectItemCaseSensitive(r->json, "processes");
		next = cJSON_GetObjectItemCaseSensitive(r->json, "next");
		CHECK_MSG(cJSON_IsArray(list) && (cJSON_IsNull(next) || cJSON_IsString(next)),
			  "page shape: " RESP_FMT, RESP_ARGS(r));
		CHECK_MSG(cJSON_GetArraySize(list) <= PAGE, "page larger than limit: " RESP_FMT, RESP_ARGS(r));
		cJSON_ArrayForEach(p, list) {
			CHECK_MSG(nseen < TOTAL, "more entries than processes: " RESP_FMT, RESP_ARGS(r));
			snprintf(seen[nseen++], ID_CAP, "%s", jstr(p, "id") ? jstr(p, "id") : "");
		}
		if (cJSON_IsString(next))
			cursor = strdup(next->valuestring);
		resp_free(r);
		pages++;
		if (pages > TOTAL + 2) {
			free(cursor);
			CHECK_FAIL("next never became null");
		}
	} while (cursor);
	CHECK_INT(nseen, TOTAL);
	for (int i = 0; i < TOTAL; i++)
		CHECK_MSG(!strcmp(seen[i], created[TOTAL - 1 - i]), "entry %d is %s, expected %s (gap, duplicate or order)",
			  i, seen[i], created[TOTAL - 1 - i]);
	CHECK_MSG(pages >= (TOTAL + PAGE - 1) / PAGE, "only %d pages", pages);
	CHECK_INT(list_ids(s, "/processes?limit=1000", seen, TOTAL + PAGE), TOTAL);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_whoami_identity(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"whoami\", \"name\": \"me, myself\"}", 10);
	char id[ID_CAP];
	long long pid;
	cJSON *me;

	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	CHECK(take_id(r, id));
	resp_free(r);
	r = get(srv, "/processes/%s", id);
	CHECK_STATUS(r, 200);
	pid = jint(r->json, "pid", -1);
	me = cJSON_Parse(jstr(r->json, "stdout") ? jstr(r->json, "stdout") : "");
	CHECK_MSG(me, "whoami output not JSON: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	CHECK_MSG(jstr(me, "id") && !strcmp(jstr(me, "id"), id) &&
		  jstr(me, "name") && !strcmp(jstr(me, "name"), "me, myself") && jint(me, "pid", -2) == pid,
		  "whoami says id %s name %s pid %lld; record says %s \"me, myself\" %lld",
		  jstr(me, "id"), jstr(me, "name"), jint(me, "pid", -2), id, pid);
	cJSON_Delete(me);
}

static void test_thousand_workers_no_zombies(void)
{
	enum { N = 1000 };
	struct server *s = server_start(NULL);
	char (*ids)[ID_CAP] = calloc(N, ID_CAP);
	char why[256];
	int zombies = -1, throttled = 0;
	double deadline;

	CHECK_MSG(s && ids, "server did not start");
	for (int i = 0; i < N; i++) {
		struct resp *r = spawn(s, "{\"target\": \"worker\"}", -1);
		if (r->status == 429 && throttled < 20 * N) {
			/* A full queue is a clean answer; a client retries after Retry-After. */
			double after = atof(r->retry_after);
			throttled++;
			sleep_s(after > 0 && after < 1 ? after : 0.05);
			resp_free(r);
			i--;
			continue;
		}
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, ids[i]));
		resp_free(r);
	}
	for (int i = 0; i < N; i++) {
		struct resp *r = join(s, ids[i], 30);
		CHECK_STATUS(r, 200);
		CHECK_EXITED(r, 0);
		resp_free(r);
	}
	deadline = now_s() + 2;
	do {
		zombies = zombie_count(server_pid(s));
		if (zombies == 0)
			break;
		sleep_s(0.05);
	} while (now_s() < deadline);
	free(ids);
	CHECK_MSG(zombies == 0, "%d zombie descendants of spawnd 2 s after 1,000 workers ended", zombies);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_daemon_terminated_at_shutdown(void)
{
	struct server *s = server_start(NULL);
	struct resp *r;
	char why[256];
	pid_t pid;

	CHECK_MSG(s, "server did not start");
	r = spawn(s, "{\"target\": \"sleep\", \"args\": [30], \"daemon\": true}", 0.2);
	CHECK_STATUS(r, 201);
	pid = (pid_t)jint(r->json, "pid", 0);
	CHECK_MSG(pid > 0 && jis_true(r->json, "alive"), "daemon not running: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
	CHECK_MSG(!pid_alive(pid), "daemon worker %d survived the server", (int)pid);
}

/* Last: the shared server still answers and shuts down cleanly on SIGTERM
 * (leftovers of failed cases are killed first so they do not fail this too). */
static void test_shared_server_shutdown(void)
{
	struct resp *r;
	char why[256];
	const cJSON *p;

	CHECK(server_healthy(srv));
	r = get(srv, "/processes?state=running&limit=1000");
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r->json, "processes")) {
		struct resp *k = postf(srv, NULL, "/processes/%s/kill", jstr(p, "id"));
		resp_free(k);
	}
	resp_free(r);
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "%s", why);
	srv = NULL;
}

int main(void)
{
	srv = server_start(NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_seed_five_workers);
	RUN(test_seed_five_numbered_workers);
	RUN(test_named_args_echoed);
	RUN(test_echo_variadic);
	RUN(test_defaults_on_fresh_server);
	RUN(test_content_types_accepted);
	RUN(test_wait_returns_ended_record);
	RUN(test_wait_times_out_alive);
	RUN(test_every_exit_code);
	RUN(test_terminate);
	RUN(test_kill);
	RUN(test_signal_sigsegv_by_name);
	RUN(test_signal_by_number);
	RUN(test_signal_right_after_spawn_not_lost);
	RUN(test_ended_terminate_kill_unchanged);
	RUN(test_join_timeout_returns_alive);
	RUN(test_join_without_timeout_waits);
	RUN(test_timeout_field_ends_process);
	RUN(test_delete_running);
	RUN(test_delete_ended);
	RUN(test_record_and_list_shapes);
	RUN(test_list_filters_newest_first);
	RUN(test_list_pagination);
	RUN(test_whoami_identity);
	RUN(test_thousand_workers_no_zombies);
	RUN(test_daemon_terminated_at_shutdown);
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
