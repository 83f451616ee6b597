/* api_stdin — a worker's stdin over HTTP (issue 3): "stdin" and "stdin_open"
 * in POST /processes, POST /processes/{id}/stdin?eof= as message passing to a
 * running worker (the builtin cat echoes it back, live), byte-exact binary
 * input, 409 once stdin is closed or the process ended, and the 1 MiB cap on
 * pending input answered with 409 while nothing blocks.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;

#define MIB (1024 * 1024)

/* POST /processes/{id}/stdin[?eof=...] with a raw body. */
static struct resp *send_stdin(const char *id, const char *eof, const void *data, size_t len, const char *ctype)
{
	char path[256];

	if (eof)
		snprintf(path, sizeof path, "/processes/%s/stdin?eof=%s", id, eof);
	else
		snprintf(path, sizeof path, "/processes/%s/stdin", id);
	return http_len(srv, "POST", path, ctype, data, len, NULL);
}

/* Sends data, retrying while the server says too much is pending (409
 * conflict: "retry once it has read them"), for up to 10 s. */
static struct resp *send_stdin_retry(const char *id, const char *eof, const void *data, size_t len)
{
	double deadline = now_s() + 10;
	struct resp *r;

	for (;;) {
		r = send_stdin(id, eof, data, len, "application/octet-stream");
		if (r->status != 409 || !err_code(r) || strcmp(err_code(r), "conflict") != 0 || now_s() > deadline)
			return r;
		resp_free(r);
		sleep_s(0.02);
	}
}

#define CHECK_ACCEPTED(r, n) do { \
		CHECK_STATUS(r, 202); \
		CHECK_MSG(jint((r)->json, "bytes", -1) == (long long)(n), "expected {\"bytes\": %lld}: " RESP_FMT, \
			  (long long)(n), RESP_ARGS(r)); \
	} while (0)

static bool raw_equals(const char *id, const char *want, size_t len)
{
	struct resp *r = output_raw(srv, id, "stdout");
	bool ok = r->status == 200 && r->len == len && memcmp(r->body, want, len) == 0;

	if (!ok)
		fprintf(stderr, "raw stdout of %s: %zu bytes (expected %zu): %.200s\n", id, r->len, len, r->body);
	resp_free(r);
	return ok;
}

static bool joined_exit0(const char *id)
{
	struct resp *r = join(srv, id, 10);
	bool ok = r->status == 200 && jis_false(r->json, "alive") && jint(r->json, "exitcode", -1) == 0;

	if (!ok)
		fprintf(stderr, "join: " RESP_FMT "\n", RESP_ARGS(r));
	resp_free(r);
	return ok;
}

/* cat with "stdin" and "stdin_open": the initial text, then each write comes
 * back on the followed output before the next one is sent, and eof ends cat. */
static void test_cat_round_trip_live(void)
{
	static const char want[] = "hello\nping 1\nping 2\nping 3\nbye\n";
	char id[ID_CAP], path[256], needle[32];
	struct live *l;
	struct resp *r;

	r = spawn(srv, "{\"target\": \"cat\", \"stdin\": \"hello\\n\", \"stdin_open\": true}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	snprintf(path, sizeof path, "/processes/%s/output?follow=true&stream=stdout", id);
	l = live_open(srv, path, "application/x-ndjson");
	CHECK_MSG(live_wait_for(l, "hello\\n", 10), "the initial stdin did not come back: %s", l->body);
	for (int i = 1; i <= 3; i++) {
		char line[16];
		snprintf(line, sizeof line, "ping %d\n", i);
		snprintf(needle, sizeof needle, "ping %d\\n", i);
		CHECK_MSG(!memmem(l->body, l->len, needle, strlen(needle)), "\"ping %d\" echoed before it was sent", i);
		r = send_stdin(id, i == 2 ? "false" : NULL, line, strlen(line), "application/octet-stream");
		CHECK_ACCEPTED(r, strlen(line));
		resp_free(r);
		CHECK_MSG(live_wait_for(l, needle, 10), "\"ping %d\" did not come back within 10 s: %s", i, l->body);
		CHECK_MSG(!l->done, "the follow ended early");
	}
	r = send_stdin(id, "true", "bye\n", 4, "application/octet-stream");
	CHECK_ACCEPTED(r, 4);
	resp_free(r);
	CHECK_MSG(live_wait_done(l, 10), "cat did not end after eof=true: %s", l->body);
	CHECK_MSG(strstr(l->body, "bye\\n") && strstr(l->body, "\"event\":\"exit\""), "follow after eof: %s", l->body);
	live_close(l);
	CHECK(joined_exit0(id));
	CHECK(raw_equals(id, want, strlen(want)));
}

/* Binary input (every byte value, NUL included) and more than a pipe holds,
 * written in several requests: cat's output is byte-exact. Content types do
 * not matter for the raw body. */
static void test_binary_and_large_stdin_byte_exact(void)
{
	static const char *const ctypes[] = { "application/octet-stream", "application/x-www-form-urlencoded",
					      "text/plain", NULL };
	size_t total = 256 + 3 * 300000, at = 0;
	char *want = malloc(total), id[ID_CAP];
	struct resp *r;

	CHECK(want);
	for (size_t i = 0; i < total; i++)
		want[i] = i < 256 ? (char)i : (char)('a' + i % 26);
	r = spawn(srv, "{\"target\": \"cat\", \"stdin_open\": true}", -1);
	if (r->status != 201)
		free(want);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	for (int k = 0; k < 4; k++) {
		size_t n = k == 0 ? 256 : 300000;
		r = k < 3 ? send_stdin_retry(id, NULL, want + at, n) : send_stdin(id, "true", want + at, n, ctypes[k]);
		if (r->status != 202 || jint(r->json, "bytes", -1) != (long long)n)
			free(want);
		CHECK_ACCEPTED(r, n);
		resp_free(r);
		at += n;
	}
	if (!joined_exit0(id)) {
		free(want);
		CHECK_FAIL("cat did not exit 0 after eof");
	}
	bool ok = raw_equals(id, want, total);
	free(want);
	CHECK_MSG(ok, "cat's output is not the %zu bytes written", total);
	/* Each content type is taken as raw bytes. */
	for (size_t k = 0; k < sizeof ctypes / sizeof ctypes[0]; k++) {
		r = spawn(srv, "{\"target\": \"cat\", \"stdin_open\": true}", -1);
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, id));
		resp_free(r);
		r = send_stdin(id, "true", "{not json}\n", 11, ctypes[k]);
		CHECK_MSG(r->status == 202, "Content-Type %s: " RESP_FMT, ctypes[k] ? ctypes[k] : "(none)", RESP_ARGS(r));
		resp_free(r);
		CHECK(joined_exit0(id));
		CHECK(raw_equals(id, "{not json}\n", 11));
	}
}

/* eof=true with an empty body closes stdin; later writes get 409 conflict
 * while the worker still runs, 409 not_running once it ended. A worker
 * started without stdin has it closed from the start. */
static void test_409_after_eof_and_after_end(void)
{
	char id[ID_CAP], cat_id[ID_CAP], plain_id[ID_CAP];
	struct resp *r;

	/* sleep never reads and does not end at EOF: the state after eof is stable. */
	r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30], \"stdin_open\": true}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = send_stdin(id, NULL, "x", 1, "application/octet-stream");
	CHECK_ACCEPTED(r, 1);
	resp_free(r);
	r = send_stdin(id, "true", "", 0, "application/octet-stream");
	CHECK_ACCEPTED(r, 0);
	resp_free(r);
	r = send_stdin(id, NULL, "y", 1, "application/octet-stream");
	CHECK_ERROR(r, 409, "conflict");
	resp_free(r);
	r = send_stdin(id, "true", "", 0, "application/octet-stream");
	CHECK_ERROR(r, 409, "conflict");
	resp_free(r);

	/* Started without stdin_open or stdin. */
	r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, plain_id));
	resp_free(r);
	r = send_stdin(plain_id, NULL, "z", 1, "application/octet-stream");
	CHECK_ERROR(r, 409, "conflict");
	resp_free(r);

	/* Ended. */
	r = spawn(srv, "{\"target\": \"cat\", \"stdin\": \"once\\n\", \"stdin_open\": true}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, cat_id));
	resp_free(r);
	r = send_stdin(cat_id, "true", "", 0, NULL);
	CHECK_ACCEPTED(r, 0);
	resp_free(r);
	CHECK(joined_exit0(cat_id));
	r = send_stdin(cat_id, NULL, "late", 4, "application/octet-stream");
	CHECK_ERROR(r, 409, "not_running");
	resp_free(r);
	r = send_stdin(cat_id, "true", "", 0, "application/octet-stream");
	CHECK_ERROR(r, 409, "not_running");
	resp_free(r);

	/* Bad eof, unknown id. */
	r = send_stdin(id, "yes", "x", 1, "application/octet-stream");
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "eof");
	resp_free(r);
	r = send_stdin("nosuchprocess", NULL, "x", 1, "application/octet-stream");
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);

	r = del(srv, "/processes/%s?grace=0", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
	r = del(srv, "/processes/%s?grace=0", plain_id);
	CHECK_STATUS(r, 200);
	resp_free(r);
	r = send_stdin(id, NULL, "x", 1, "application/octet-stream");
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
}

/* A worker that never reads: writes are queued up to 1 MiB pending, then 409
 * conflict; every answer is quick, the server keeps answering others, and
 * the worker can still be deleted at once. */
static void test_pending_cap_conflict_nothing_blocks(void)
{
	const size_t chunk = 256 * 1024;
	char *data = malloc(chunk), id[ID_CAP], cat_id[ID_CAP];
	size_t accepted = 0;
	bool refused = false;
	struct resp *r;
	double t;

	CHECK(data);
	memset(data, 'q', chunk);
	r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30], \"stdin_open\": true}", -1);
	if (r->status != 201)
		free(data);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	for (int i = 0; i < 16 && !refused; i++) {
		r = send_stdin(id, NULL, data, chunk, "application/octet-stream");
		if (r->seconds > 2 || (r->status != 202 && r->status != 409))
			free(data);
		CHECK_MSG(r->seconds <= 2, "write %d of 256 KiB to a worker that never reads took %.1f s", i + 1, r->seconds);
		if (r->status == 202) {
			CHECK_ACCEPTED(r, chunk);
			accepted += chunk;
		} else {
			CHECK_ERROR(r, 409, "conflict");
			refused = true;
		}
		resp_free(r);
	}
	free(data);
	printf("# accepted %zu bytes of stdin before 409 conflict\n", accepted);
	CHECK_MSG(refused, "16 writes of 256 KiB (4 MiB) to a worker that never reads were all accepted");
	CHECK_MSG(accepted >= MIB && accepted <= 2 * MIB,
		  "accepted %zu bytes before 409: the cap is 1 MiB pending (plus what the pipe holds)", accepted);
	/* Others are served meanwhile. */
	t = now_s();
	CHECK(server_healthy(srv));
	CHECK_MSG(now_s() - t < 1, "/healthz took %.1f s with stdin pending", now_s() - t);
	r = spawn(srv, "{\"target\": \"cat\", \"stdin_open\": true}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, cat_id));
	resp_free(r);
	r = send_stdin(cat_id, "true", "other\n", 6, "application/octet-stream");
	CHECK_ACCEPTED(r, 6);
	resp_free(r);
	CHECK(joined_exit0(cat_id));
	CHECK(raw_equals(cat_id, "other\n", 6));
	/* Still refused while nothing was read: the pending bytes are all still
	 * there, so the write refused above does not fit now either. */
	data = malloc(chunk);
	CHECK(data);
	memset(data, 'q', chunk);
	r = send_stdin(id, NULL, data, chunk, "application/octet-stream");
	free(data);
	CHECK_ERROR(r, 409, "conflict");
	resp_free(r);
	r = del(srv, "/processes/%s?grace=0", id);
	CHECK_STATUS(r, 200);
	CHECK_MSG(r->seconds < 5, "DELETE of the worker with 1 MiB of stdin pending took %.1f s", r->seconds);
	resp_free(r);
}

/* "stdin" alone in the create body: the worker reads it, then EOF. */
static void test_stdin_in_create_body_alone(void)
{
	static const struct {
		const char *json;   /* the "stdin" value as JSON */
		const char *want;   /* what cat prints */
	} cases[] = {
		{ "\"line one\\nline two\\n\"", "line one\nline two\n" },
		{ "\"\"", "" },
		{ "\"caf\\u00e9 \\u20ac \\ud83d\\ude00\\n\"", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n" },
		{ "\"no newline at the end\"", "no newline at the end" },
	};
	char id[ID_CAP], body[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct resp *r;
		snprintf(body, sizeof body, "{\"target\": \"cat\", \"stdin\": %s}", cases[i].json);
		r = spawn(srv, body, 10);
		CHECK_STATUS(r, 201);
		CHECK_MSG(jis_false(r->json, "alive") && jint(r->json, "exitcode", -1) == 0,
			  "cat with stdin %s did not end on its own with 0: " RESP_FMT, cases[i].json, RESP_ARGS(r));
		CHECK(take_id(r, id));
		resp_free(r);
		CHECK_MSG(raw_equals(id, cases[i].want, strlen(cases[i].want)), "stdin %s", cases[i].json);
		/* stdin is closed: writing gets 409 (the process has ended). */
		r = send_stdin(id, NULL, "x", 1, "application/octet-stream");
		CHECK_ERROR(r, 409, "not_running");
		resp_free(r);
	}
}

/* "stdin" larger than a pipe holds, in the create body: all of it arrives. */
static void test_large_stdin_in_create_body(void)
{
	const size_t n = 600000;
	char *body = malloc(n + 64), *want = malloc(n), id[ID_CAP];
	int len;
	struct resp *r;

	CHECK(body && want);
	for (size_t i = 0; i < n; i++)
		want[i] = (char)('A' + i % 23);
	len = snprintf(body, n + 64, "{\"target\": \"cat\", \"stdin\": \"%.*s\"}", (int)n, want);
	r = http_len(srv, "POST", "/processes?wait=20", "application/json", body, (size_t)len, NULL);
	free(body);
	if (r->status != 201)
		free(want);
	CHECK_STATUS(r, 201);
	if (!(jis_false(r->json, "alive") && jint(r->json, "exitcode", -1) == 0 && take_id(r, id))) {
		free(want);
		CHECK_FAIL("cat with 600 kB of stdin: " RESP_FMT, RESP_ARGS(r));
	}
	resp_free(r);
	bool ok = raw_equals(id, want, n);
	free(want);
	CHECK_MSG(ok, "cat's output is not the 600 kB of stdin");
}

static void test_bad_stdin_fields(void)
{
	static const struct {
		const char *body, *field;
	} cases[] = {
		{ "{\"target\": \"cat\", \"stdin\": 5}", "stdin" },
		{ "{\"target\": \"cat\", \"stdin\": [\"a\"]}", "stdin" },
		{ "{\"target\": \"cat\", \"stdin_open\": \"yes\"}", "stdin_open" },
		{ "{\"target\": \"cat\", \"stdin_open\": 1}", "stdin_open" },
	};
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct resp *r = spawn(srv, cases[i].body, -1);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_FIELD(r, cases[i].field);
		resp_free(r);
	}
	CHECK_INT(process_count(srv), before);
}

static void test_shared_server_shutdown(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	srv = server_start("--heartbeat 0.5");
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_cat_round_trip_live);
	RUN(test_binary_and_large_stdin_byte_exact);
	RUN(test_409_after_eof_and_after_end);
	RUN(test_pending_cap_conflict_nothing_blocks);
	RUN(test_stdin_in_create_body_alone);
	RUN(test_large_stdin_in_create_body);
	RUN(test_bad_stdin_fields);
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
