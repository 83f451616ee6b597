/* api_output — captured output: raw bytes byte-exact (10 MB), the NDJSON form
 * reassembling to the same bytes, stderr, offsets, the inline 64 KiB in the
 * record, and invalid UTF-8 shown as U+FFFD inline but kept raw.
 */
#include "tests/harness.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

CHECK_MAIN_STATE;

static struct server *srv;

#define BURST_BYTES 10000000
#define INLINE_CAP 65536

/* Index of the first byte of buf[0..len) that breaks the burst pattern
 * ('0' + i % 10, i counted from start), or len when none does. */
static size_t pattern_mismatch(const char *buf, size_t len, size_t start)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != (char)('0' + (start + i) % 10))
			return i;
	}
	return len;
}

/* Runs burst with the given args and waits for its end; the id goes to id. */
#define RUN_BURST(args_json, id) do { \
		struct resp *r_ = spawn(srv, "{\"target\": \"burst\", \"args\": " args_json "}", 60); \
		CHECK_STATUS(r_, 201); \
		CHECK_MSG(jis_false(r_->json, "alive") && jint(r_->json, "exitcode", -1) == 0, \
			  "burst did not exit 0: " RESP_FMT, RESP_ARGS(r_)); \
		CHECK(take_id(r_, id)); \
		resp_free(r_); \
	} while (0)

static char big_id[ID_CAP];

static void test_burst_10mb_raw_byte_exact(void)
{
	struct resp *r;
	size_t bad;

	RUN_BURST("{\"bytes\": 10000000}", big_id);
	r = output_raw(srv, big_id, "stdout");
	CHECK_STATUS(r, 200);
	CHECK_MSG(strncmp(r->content_type, "application/octet-stream", 24) == 0, "content type %s", r->content_type);
	CHECK_INT(r->len, BURST_BYTES);
	bad = pattern_mismatch(r->body, r->len, 0);
	CHECK_MSG(bad == r->len, "byte %zu is 0x%02x, expected '%c'", bad, (unsigned char)r->body[bad],
		  (char)('0' + bad % 10));
	resp_free(r);
	r = output_raw(srv, big_id, "stderr");
	CHECK_STATUS(r, 200);
	CHECK_INT(r->len, 0);
	resp_free(r);
	r = get(srv, "/processes/%s", big_id);
	CHECK_STATUS(r, 200);
	CHECK_INT(jint(r->json, "stdout_bytes", -1), BURST_BYTES);
	CHECK_INT(jint(r->json, "stderr_bytes", -1), 0);
	CHECK(jis_true(r->json, "stdout_truncated"));
	CHECK(jis_false(r->json, "stderr_truncated"));
	resp_free(r);
}

static void test_burst_10mb_ndjson_reassembles(void)
{
	struct resp *r;
	cJSON **lines = NULL, *last;
	char path[256];
	int n;
	long long offset = 0;

	if (!big_id[0])
		RUN_BURST("{\"bytes\": 10000000}", big_id);
	snprintf(path, sizeof path, "/processes/%s/output", big_id);
	r = http(srv, "GET", path, NULL, NULL, "application/x-ndjson");
	CHECK_STATUS(r, 200);
	CHECK_MSG(strncmp(r->content_type, "application/x-ndjson", 20) == 0, "content type %s", r->content_type);
	n = ndjson_parse(r->body, r->len, &lines);
	resp_free(r);
	CHECK_MSG(n >= 2, "%d NDJSON lines", n);
	for (int i = 0; i < n - 1; i++) {
		const char *data = jstr(lines[i], "data");
		size_t len = data ? strlen(data) : 0;
		size_t bad;
		if (!data || !jstr(lines[i], "stream") || strcmp(jstr(lines[i], "stream"), "stdout") != 0 ||
		    jint(lines[i], "offset", -1) != offset || len > INLINE_CAP || !rfc3339_ms(jstr(lines[i], "ts"))) {
			char *text = cJSON_PrintUnformatted(lines[i]);
			ndjson_free(lines, n);
			CHECK_FAIL("line %d (expected offset %lld): %.200s", i, offset, text);
		}
		bad = pattern_mismatch(data, len, (size_t)offset);
		if (bad != len) {
			ndjson_free(lines, n);
			CHECK_FAIL("line %d: byte %lld breaks the pattern", i, offset + (long long)bad);
		}
		offset += (long long)len;
	}
	last = lines[n - 1];
	bool exit_ok = jstr(last, "event") && !strcmp(jstr(last, "event"), "exit") &&
		       jstr(last, "state") && !strcmp(jstr(last, "state"), "exited") &&
		       jint(last, "exitcode", -1) == 0 && jis_null(last, "signal") &&
		       jstr(last, "reason") && !strcmp(jstr(last, "reason"), "exit") &&
		       jint(last, "stdout_bytes", -1) == BURST_BYTES && jint(last, "stderr_bytes", -1) == 0;
	char *text = cJSON_PrintUnformatted(last);
	ndjson_free(lines, n);
	CHECK_MSG(offset == BURST_BYTES, "data lines hold %lld bytes", offset);
	CHECK_MSG(exit_ok, "exit line: %s", text);
	free(text);
}

static void test_stderr_stream(void)
{
	char id[ID_CAP], path[256];
	struct resp *r;
	cJSON **lines = NULL;
	int n;
	long long total = 0;

	RUN_BURST("{\"bytes\": 200000, \"stream\": \"stderr\"}", id);
	r = output_raw(srv, id, "stderr");
	CHECK_STATUS(r, 200);
	CHECK_INT(r->len, 200000);
	CHECK(pattern_mismatch(r->body, r->len, 0) == r->len);
	resp_free(r);
	r = output_raw(srv, id, "stdout");
	CHECK_STATUS(r, 200);
	CHECK_INT(r->len, 0);
	resp_free(r);
	r = get(srv, "/processes/%s", id);
	CHECK_INT(jint(r->json, "stderr_bytes", -1), 200000);
	CHECK_INT(jint(r->json, "stdout_bytes", -1), 0);
	CHECK(jis_true(r->json, "stderr_truncated"));
	CHECK_INT(strlen(jstr(r->json, "stderr") ? jstr(r->json, "stderr") : ""), INLINE_CAP);
	CHECK_STR(jstr(r->json, "stdout"), "");
	resp_free(r);
	snprintf(path, sizeof path, "/processes/%s/output?stream=stderr", id);
	r = http(srv, "GET", path, NULL, NULL, "application/x-ndjson");
	CHECK_STATUS(r, 200);
	n = ndjson_parse(r->body, r->len, &lines);
	resp_free(r);
	CHECK(n >= 2);
	for (int i = 0; i < n - 1; i++) {
		bool ok = jstr(lines[i], "stream") && !strcmp(jstr(lines[i], "stream"), "stderr") &&
			  jint(lines[i], "offset", -1) == total && jstr(lines[i], "data");
		if (!ok) {
			ndjson_free(lines, n);
			CHECK_FAIL("line %d is not the next stderr chunk", i);
		}
		total += (long long)strlen(jstr(lines[i], "data"));
	}
	bool exit_ok = jstr(lines[n - 1], "event") && !strcmp(jstr(lines[n - 1], "event"), "exit") &&
		       jint(lines[n - 1], "stderr_bytes", -1) == 200000;
	ndjson_free(lines, n);
	CHECK_INT(total, 200000);
	CHECK(exit_ok);
}

static void test_worker_ndjson_both_streams(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"worker\"}", 10);
	char id[ID_CAP], path[256];
	cJSON **lines = NULL;
	int n;

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	/* No Accept header beyond curl's default: NDJSON. */
	r = get(srv, "/processes/%s/output", id);
	CHECK_STATUS(r, 200);
	CHECK_MSG(strncmp(r->content_type, "application/x-ndjson", 20) == 0, "default content type %s", r->content_type);
	n = ndjson_parse(r->body, r->len, &lines);
	CHECK_MSG(n == 2, "expected a data line and the exit line: %s", r->body);
	resp_free(r);
	bool data_ok = jstr(lines[0], "stream") && !strcmp(jstr(lines[0], "stream"), "stdout") &&
		       jint(lines[0], "offset", -1) == 0 && jstr(lines[0], "data") &&
		       !strcmp(jstr(lines[0], "data"), "Worker\n");
	bool exit_ok = jstr(lines[1], "event") && !strcmp(jstr(lines[1], "event"), "exit") &&
		       jint(lines[1], "exitcode", -1) == 0 && jint(lines[1], "stdout_bytes", -1) == 7 &&
		       jint(lines[1], "stderr_bytes", -1) == 0;
	ndjson_free(lines, n);
	CHECK(data_ok);
	CHECK(exit_ok);
	snprintf(path, sizeof path, "/processes/%s/output?stream=both", id);
	r = http(srv, "GET", path, NULL, NULL, "application/octet-stream");
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "stream");
	resp_free(r);
}

/* "2026-11-22T02:34:22.123Z" as ms since the epoch; -1 if it is not one. */
static double rfc3339_to_ms(const char *s)
{
	struct tm tm = { 0 };
	int ms = 0, used = 0;
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
			 &tm.tm_min, &tm.tm_sec, &ms, &used) != 7 || s[used])
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (double)timegm(&tm) * 1000.0 + ms;
}

/* An output line's ts is when its bytes were captured, not when they are
 * read (issue 9): read 1.2 s after the end, the line's ts still lies between
 * the record's started_at and ended_at, well before the read. */
static void test_line_ts_is_capture_time(void)
{
	static const char *const accepts[] = { "application/x-ndjson", "text/event-stream" };
	struct resp *r = spawn(srv, "{\"target\": \"worker\"}", 10);
	char id[ID_CAP];

	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	CHECK(take_id(r, id));
	double started = rfc3339_to_ms(jstr(r->json, "started_at")), ended = rfc3339_to_ms(jstr(r->json, "ended_at"));
	resp_free(r);
	CHECK_MSG(started > 0 && ended >= started, "started_at %.0f, ended_at %.0f", started, ended);
	sleep_s(1.2);
	for (size_t i = 0; i < 2; i++) {
		char path[256];
		snprintf(path, sizeof path, "/processes/%s/output?stream=stdout", id);
		double before_read = wall_ms();
		r = http(srv, "GET", path, NULL, NULL, accepts[i]);
		CHECK_STATUS(r, 200);
		const char *ts = strstr(r->body, "\"ts\":\"");
		CHECK_MSG(ts, "no ts: %s", r->body);
		char text[40] = "";
		sscanf(ts + 6, "%39[^\"]", text);
		double at = rfc3339_to_ms(text);
		CHECK_MSG(at >= started && at <= ended && at < before_read - 1000,
			  "%s: line ts %s is not its capture time (started %.0f, ended %.0f, read at %.0f): %s",
			  accepts[i], text, started, ended, before_read, r->body);
		resp_free(r);
	}
}

static void test_offsets(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"worker\"}", 10);
	char id[ID_CAP], path[256];
	cJSON **lines = NULL;
	int n;

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	snprintf(path, sizeof path, "/processes/%s/output?stream=stdout&offset=3", id);
	r = http(srv, "GET", path, NULL, NULL, "application/x-ndjson");
	CHECK_STATUS(r, 200);
	n = ndjson_parse(r->body, r->len, &lines);
	CHECK_MSG(n == 2, "offset=3: %s", r->body);
	resp_free(r);
	bool ok = jint(lines[0], "offset", -1) == 3 && jstr(lines[0], "data") && !strcmp(jstr(lines[0], "data"), "ker\n");
	ndjson_free(lines, n);
	CHECK_MSG(ok, "offset=3 does not start at byte 3");
	r = http(srv, "GET", path, NULL, NULL, "application/octet-stream");
	CHECK_STATUS(r, 200);
	CHECK_STR(r->body, "ker\n");
	resp_free(r);
	/* At or past the end: no data, only the exit line. */
	snprintf(path, sizeof path, "/processes/%s/output?stream=stdout&offset=7", id);
	r = http(srv, "GET", path, NULL, NULL, "application/x-ndjson");
	CHECK_STATUS(r, 200);
	n = ndjson_parse(r->body, r->len, &lines);
	ok = n == 1 && jstr(lines[0], "event") && !strcmp(jstr(lines[0], "event"), "exit");
	ndjson_free(lines, n);
	CHECK_MSG(ok, "offset=7 of 7 bytes: %s", r->body);
	resp_free(r);
}

/* GET path with Accept and one more header line (may be NULL); the answer
 * in full. The caller closes it. */
static struct live *get_with(const char *path, const char *accept, const char *header)
{
	char accept_line[128];
	const char *headers[3] = { accept_line, header, NULL };
	snprintf(accept_line, sizeof accept_line, "Accept: %s", accept);
	struct live *l = live_request(srv, "GET", path, headers, NULL, 0, 0);
	live_wait_done(l, 20);
	return l;
}

/* true when l is a 400 invalid_argument whose details name field. */
static bool names_field(const struct live *l, const char *field)
{
	cJSON *j = cJSON_Parse(l->body);
	const cJSON *d, *error = cJSON_GetObjectItem(j, "error");
	bool named = false;
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(error, "details"))
		named = named || (jstr(d, "field") && strcmp(jstr(d, "field"), field) == 0);
	named = named && jstr(error, "code") && strcmp(jstr(error, "code"), "invalid_argument") == 0;
	cJSON_Delete(j);
	return l->status == 400 && named;
}

/* An offset past the end of an ended process's stream is a 400 naming where
 * it came from, never a 200 that echoes it back in an id (the exit target
 * writes nothing; worker writes "Worker\n", 7 bytes). */
static void test_offset_past_end_of_ended_process(void)
{
	static const struct {
		const char *target, *query, *accept, *header, *field;
	} cases[] = {
		{ "exit", "", "text/event-stream", "Last-Event-ID: 6-0", "Last-Event-ID" },
		{ "exit", "follow=true", "text/event-stream", "Last-Event-ID: 0-1", "Last-Event-ID" },
		{ "exit", "", "text/event-stream", "Last-Event-ID: 6-0-exit", "Last-Event-ID" },
		{ "worker", "stream=stdout&offset=8", "application/x-ndjson", NULL, "offset" },
		{ "worker", "stream=stdout&offset=8&follow=true", "application/octet-stream", NULL, "offset" },
		{ "worker", "stream=stderr&offset=1", "application/octet-stream", NULL, "offset" },
		{ "worker", "stdout_offset=8", "application/x-ndjson", NULL, "stdout_offset" },
		{ "worker", "stderr_offset=1&follow=true", "application/x-ndjson", NULL, "stderr_offset" },
	};
	char ids[2][ID_CAP], path[512];
	struct resp *r = spawn(srv, "{\"target\": \"exit\", \"args\": [0]}", 10);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, ids[0]));
	resp_free(r);
	r = spawn(srv, "{\"target\": \"worker\"}", 10);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, ids[1]));
	CHECK_EXITED(r, 0);
	resp_free(r);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(path, sizeof path, "/processes/%s/output?%s", ids[strcmp(cases[i].target, "exit") != 0],
			 cases[i].query);
		struct live *l = get_with(path, cases[i].accept, cases[i].header);
		bool ok = names_field(l, cases[i].field);
		CHECK_MSG(ok, "GET %s (%s) -> %ld, expected 400 naming %s: %.300s", path,
			  cases[i].header ? cases[i].header : cases[i].accept, l->status, cases[i].field, l->body);
		live_close(l);
	}
	/* The ends themselves are fine: what was sent can be resumed from. */
	snprintf(path, sizeof path, "/processes/%s/output?stream=stdout&offset=7", ids[1]);
	struct live *l = get_with(path, "text/event-stream", "Last-Event-ID: 7-0");
	bool ok = l->status == 200 && strstr(l->body, "id: 7-0-exit\n");
	CHECK_MSG(ok, "Last-Event-ID 7-0 of 7 bytes -> %ld: %.300s", l->status, l->body);
	live_close(l);
}

/* A running process: without follow an offset past what it has written so
 * far is a 400; with follow the stream waits for those bytes, and if the
 * process ends short of them the exit event's id names the real lengths. */
static void test_offset_past_end_of_running_process(void)
{
	char id[ID_CAP], path[256];
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	snprintf(path, sizeof path, "/processes/%s/output?stream=stdout&offset=5", id);
	struct live *l = get_with(path, "application/x-ndjson", NULL);
	bool ok = names_field(l, "offset");
	CHECK_MSG(ok, "GET %s -> %ld, expected 400 naming offset: %.300s", path, l->status, l->body);
	live_close(l);
	snprintf(path, sizeof path, "/processes/%s/output?follow=true", id);
	{
		const char *headers[] = { "Accept: text/event-stream", "Last-Event-ID: 5-3", NULL };
		l = live_request(srv, "GET", path, headers, NULL, 0, 0);
	}
	ok = live_wait_for(l, ": heartbeat", 10) && l->status == 200;
	CHECK_MSG(ok, "follow from 5-3 of a running process -> %ld: %.300s", l->status, l->body);
	r = postf(srv, NULL, "/processes/%s/kill", id);
	CHECK_STATUS(r, 202);
	resp_free(r);
	ok = live_wait_done(l, 20) && strstr(l->body, "event: exit\nid: 0-0-exit\n");
	CHECK_MSG(ok, "the exit event of a process that wrote nothing: %.400s", l->body);
	live_close(l);
	r = del(srv, "/processes/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

static void test_inline_output_first_64k(void)
{
	static const struct {
		const char *args;
		long long bytes;
	} cases[] = {
		{ "{\"bytes\": 10}", 10 },
		{ "{\"bytes\": 65536}", 65536 },
		{ "{\"bytes\": 65537}", 65537 },
		{ "{\"bytes\": 300000}", 300000 },
	};
	char body[128], id[ID_CAP];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct resp *r;
		const char *out;
		size_t want = cases[i].bytes < INLINE_CAP ? (size_t)cases[i].bytes : INLINE_CAP;
		snprintf(body, sizeof body, "{\"target\": \"burst\", \"args\": %s}", cases[i].args);
		r = spawn(srv, body, 30);
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, id));
		resp_free(r);
		r = get(srv, "/processes/%s", id);
		CHECK_STATUS(r, 200);
		out = jstr(r->json, "stdout");
		CHECK_MSG(out && strlen(out) == want && pattern_mismatch(out, want, 0) == want,
			  "%lld bytes: inline stdout has %zu bytes", cases[i].bytes, out ? strlen(out) : 0);
		CHECK_INT(jint(r->json, "stdout_bytes", -1), cases[i].bytes);
		CHECK_MSG(cases[i].bytes > INLINE_CAP ? jis_true(r->json, "stdout_truncated")
						      : jis_false(r->json, "stdout_truncated"),
			  "%lld bytes: stdout_truncated wrong", cases[i].bytes);
		resp_free(r);
	}
}

static void test_running_process_output_returns(void)
{
	struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", -1);
	char id[ID_CAP];
	cJSON **lines = NULL;
	int n;

	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	r = get(srv, "/processes/%s/output", id);
	CHECK_STATUS(r, 200);
	CHECK_MSG(r->seconds < 5, "output without follow of a running process took %.1f s", r->seconds);
	n = ndjson_parse(r->body, r->len, &lines);
	bool no_exit = n >= 0;
	for (int i = 0; i < n; i++)
		no_exit = no_exit && !cJSON_HasObjectItem(lines[i], "event");
	ndjson_free(lines, n);
	CHECK_MSG(no_exit, "a running process's output: %s", r->body);
	resp_free(r);
	r = del(srv, "/processes/%s?grace=0", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

/* Exec target printing raw bytes: inline output is UTF-8 with U+FFFD, raw is exact. */
static void test_invalid_utf8_inline_replacement(void)
{
	static const char targets[] =
		"{\"targets\": [{\"name\": \"printf\", \"description\": \"printf(1)\","
		" \"program\": \"/usr/bin/printf\", \"argv\": [\"{format}\"],"
		" \"args\": [{\"name\": \"format\", \"type\": \"string\", \"required\": true}]}]}";
	struct server *s = server_start_targets(targets, NULL);
	char id[ID_CAP], why[256];
	struct resp *r;

	CHECK_MSG(s, "server with a printf exec target did not start");
	r = spawn(s, "{\"target\": \"printf\", \"args\": [\"A\\\\377B\\\\303\\\\251\\\\n\"]}", 10);
	CHECK_STATUS(r, 201);
	CHECK_MSG(jint(r->json, "exitcode", -1) == 0, "printf failed: " RESP_FMT, RESP_ARGS(r));
	CHECK(take_id(r, id));
	resp_free(r);
	r = output_raw(s, id, "stdout");
	CHECK_STATUS(r, 200);
	CHECK_MSG(r->len == 6 && memcmp(r->body, "A\xff" "B\xc3\xa9\n", 6) == 0, "raw bytes: %zu \"%s\"", r->len, r->body);
	resp_free(r);
	r = get(s, "/processes/%s", id);
	CHECK_STATUS(r, 200);
	CHECK_STR(jstr(r->json, "stdout"), "A\xef\xbf\xbd" "B\xc3\xa9\n");
	CHECK_INT(jint(r->json, "stdout_bytes", -1), 6);
	resp_free(r);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

static void test_shared_server_shutdown(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	srv = server_start(NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_burst_10mb_raw_byte_exact);
	RUN(test_burst_10mb_ndjson_reassembles);
	RUN(test_stderr_stream);
	RUN(test_worker_ndjson_both_streams);
	RUN(test_offsets);
	RUN(test_line_ts_is_capture_time);
	RUN(test_offset_past_end_of_ended_process);
	RUN(test_offset_past_end_of_running_process);
	RUN(test_inline_output_first_64k);
	RUN(test_running_process_output_returns);
	RUN(test_invalid_utf8_inline_replacement);
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
