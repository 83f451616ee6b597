/* api_errors — every error of the contract that a request can provoke: the
 * status, the one error shape {"error": {"code", "message", "details"?}}, the
 * details naming each bad field, and that a refused request spawned nothing
 * and left the server answering.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;

/* The server answers /healthz and the number of records is still `before`. */
#define CHECK_NOTHING_SPAWNED(before) do { \
		int after_ = process_count(srv); \
		CHECK_MSG(after_ == (before), "%d processes after refused requests, expected %d", after_, (before)); \
		CHECK_MSG(server_healthy(srv), "/healthz does not answer ok"); \
	} while (0)

/* POST /processes with body; expects status + code and optionally a detail field. */
#define CHECK_SPAWN_REFUSED(body, status, code, field) do { \
		struct resp *r_ = spawn(srv, body, -1); \
		CHECK_ERROR(r_, status, code); \
		if (field) \
			CHECK_FIELD(r_, (const char *)(field)); \
		resp_free(r_); \
	} while (0)

static void test_invalid_json(void)
{
	static const char *const bodies[] = {
		"{", "{\"target\": ", "{\"target\": \"worker\",}", "nul", "{'target': 'worker'}",
		"{\"target\": \"worker\"} trailing", "{\"target\": \"worker\"}{}", "\xff\xfe{}", "",
	};
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
		CHECK_SPAWN_REFUSED(bodies[i], 400, "invalid_json", NULL);
	CHECK_NOTHING_SPAWNED(before);
}

static void test_body_not_an_object(void)
{
	static const char *const bodies[] = { "[]", "[{\"target\": \"worker\"}]", "\"worker\"", "42", "null", "true" };
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
		CHECK_SPAWN_REFUSED(bodies[i], 400, "invalid_argument", NULL);
	CHECK_NOTHING_SPAWNED(before);
}

static void test_missing_or_bad_target(void)
{
	static const char *const bodies[] = {
		"{}", "{\"args\": [1]}", "{\"target\": 5}", "{\"target\": null}", "{\"target\": [\"worker\"]}",
		"{\"target\": {\"name\": \"worker\"}}", "{\"Target\": \"worker\"}",
	};
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
		CHECK_SPAWN_REFUSED(bodies[i], 400, "invalid_argument", "target");
	CHECK_SPAWN_REFUSED("{\"target\": \"no-such-target\"}", 404, "not_found", NULL);
	CHECK_SPAWN_REFUSED("{\"target\": \"Worker\"}", 404, "not_found", NULL);
	CHECK_NOTHING_SPAWNED(before);
}

static void test_bad_args_named(void)
{
	static const struct {
		const char *body, *field;
	} cases[] = {
		{ "{\"target\": \"worker\", \"args\": [\"x\"]}", "args[0]" },
		{ "{\"target\": \"worker\", \"args\": [1.5]}", "args[0]" },
		{ "{\"target\": \"worker\", \"args\": [1, 2]}", "args[1]" },
		{ "{\"target\": \"worker\", \"args\": {\"num\": \"3\"}}", "args.num" },
		{ "{\"target\": \"worker\", \"args\": {\"number\": 3}}", "args.number" },
		{ "{\"target\": \"worker\", \"args\": {\"num\": true}}", "args.num" },
		{ "{\"target\": \"worker\", \"args\": \"3\"}", "args" },
		{ "{\"target\": \"worker\", \"args\": 3}", "args" },
		{ "{\"target\": \"worker\", \"args\": {\"num\": 1e300}}", "args.num" },
		{ "{\"target\": \"exit\", \"args\": [256]}", "args[0]" },
		{ "{\"target\": \"exit\", \"args\": [-1]}", "args[0]" },
		{ "{\"target\": \"exit\", \"args\": {\"code\": 2.5}}", "args.code" },
		{ "{\"target\": \"exit\", \"args\": {\"code\": null}}", "args.code" },
		{ "{\"target\": \"sleep\", \"args\": [\"1\"]}", "args[0]" },
		{ "{\"target\": \"sleep\", \"args\": [-1]}", "args[0]" },
		{ "{\"target\": \"echo\", \"args\": [\"a\", 2]}", "args[1]" },
		{ "{\"target\": \"cat\", \"args\": [1]}", "args[0]" },
		{ "{\"target\": \"burst\", \"args\": {\"bytes\": 10, \"stream\": \"stdin\"}}", "args.stream" },
	};
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK_SPAWN_REFUSED(cases[i].body, 400, "invalid_argument", cases[i].field);
	CHECK_NOTHING_SPAWNED(before);
}

static void test_missing_required_arg(void)
{
	int before = process_count(srv);

	CHECK_SPAWN_REFUSED("{\"target\": \"exit\"}", 400, "invalid_argument", "args.code");
	CHECK_SPAWN_REFUSED("{\"target\": \"exit\", \"args\": {}}", 400, "invalid_argument", "args.code");
	CHECK_SPAWN_REFUSED("{\"target\": \"burst\", \"args\": {\"stream\": \"stderr\"}}", 400, "invalid_argument",
			    "args.bytes");
	CHECK_NOTHING_SPAWNED(before);
}

static void test_several_bad_fields_at_once(void)
{
	static const char *const fields[] = { "args.bytes", "args.stream", "name", "daemon", "timeout" };
	int before = process_count(srv);
	struct resp *r = spawn(srv, "{\"target\": \"burst\", \"args\": {\"bytes\": \"many\", \"stream\": \"both\"}}", -1);

	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "args.bytes");
	CHECK_FIELD(r, "args.stream");
	resp_free(r);
	/* Bad arguments and bad request fields together: every one is named. */
	r = spawn(srv, "{\"target\": \"burst\", \"args\": {\"bytes\": \"many\", \"stream\": \"both\"},"
		       " \"name\": 5, \"daemon\": \"yes\", \"timeout\": -1}", -1);
	CHECK_ERROR(r, 400, "invalid_argument");
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		CHECK_FIELD(r, fields[i]);
	resp_free(r);
	CHECK_NOTHING_SPAWNED(before);
}

static void test_bad_top_level_fields(void)
{
	static const struct {
		const char *body, *field;
	} cases[] = {
		{ "{\"target\": \"worker\", \"name\": 5}", "name" },
		{ "{\"target\": \"worker\", \"daemon\": 1}", "daemon" },
		{ "{\"target\": \"worker\", \"timeout\": -1}", "timeout" },
		{ "{\"target\": \"worker\", \"timeout\": \"5\"}", "timeout" },
		{ "{\"target\": \"worker\", \"env\": [\"A=b\"]}", "env" },
	};
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK_SPAWN_REFUSED(cases[i].body, 400, "invalid_argument", cases[i].field);
	CHECK_NOTHING_SPAWNED(before);
}

static void test_env_key_not_allowed(void)
{
	int before = process_count(srv);
	struct resp *r = spawn(srv, "{\"target\": \"whoami\", \"env\": {\"FOO\": \"s3cr3t-v4lue\", \"PATH\": \"/tmp\"}}", -1);

	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "env.FOO");
	CHECK_FIELD(r, "env.PATH");
	CHECK_MSG(!strstr(r->body, "s3cr3t-v4lue"), "an env value appears in the error: %s", r->body);
	resp_free(r);
	r = spawn(srv, "{\"target\": \"worker\", \"env\": {\"SPAWND_PROCESS_ID\": \"forged\"}}", -1);
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "env.SPAWND_PROCESS_ID");
	resp_free(r);
	CHECK_NOTHING_SPAWNED(before);
}

static void test_unsupported_media_type(void)
{
	static const char *const types[] = {
		"text/plain", "application/xml", "multipart/form-data; boundary=x", "application/jsonx",
	};
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		struct resp *r = http(srv, "POST", "/processes", types[i], "{\"target\": \"worker\"}", NULL);
		CHECK_ERROR(r, 415, "unsupported_media_type");
		resp_free(r);
	}
	CHECK_NOTHING_SPAWNED(before);
}

static void test_unknown_routes_404(void)
{
	static const char *const paths[] = {
		"/assets", "/nope", "/processes/",     /* "/" is the dashboard (api_dashboard) */ "/processes/abc/nope", "/targets/worker/x", "/healthz/x",
		"/PROCESSES", "/processes//", "/v1/processes",
	};

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct resp *r = get(srv, "%s", paths[i]);
		CHECK_ERROR(r, 404, "not_found");
		resp_free(r);
	}
	CHECK(server_healthy(srv));
}

static void test_unknown_process_id_404(void)
{
	static const char *const id = "no_such_id-0";
	struct resp *r;

	r = get(srv, "/processes/%s", id);
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
	r = get(srv, "/processes/%s/output", id);
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
	r = del(srv, "/processes/%s", id);
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
	static const char *const actions[] = { "join", "terminate", "kill" };
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
		r = postf(srv, NULL, "/processes/%s/%s", id, actions[i]);
		CHECK_ERROR(r, 404, "not_found");
		resp_free(r);
	}
	r = postf(srv, "{\"signal\": \"SIGTERM\"}", "/processes/%s/signal", id);
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
}

/* Allow lists the methods of the path (in any order, comma separated). */
static bool allow_has(const char *allow, const char *method)
{
	size_t len = strlen(method);

	for (const char *p = allow; (p = strstr(p, method)); p += len) {
		bool start = p == allow || p[-1] == ' ' || p[-1] == ',';
		bool end = p[len] == '\0' || p[len] == ',' || p[len] == ' ';
		if (start && end)
			return true;
	}
	return false;
}

static void test_wrong_method_405_with_allow(void)
{
	static const struct {
		const char *method, *path, *allowed[3];
	} cases[] = {
		{ "PUT", "/processes", { "GET", "POST" } },
		{ "DELETE", "/processes", { "GET", "POST" } },
		{ "PATCH", "/processes/no_such_id", { "GET", "DELETE" } },
		{ "POST", "/processes/no_such_id", { "GET", "DELETE" } },
		{ "GET", "/processes/no_such_id/join", { "POST" } },
		{ "GET", "/processes/no_such_id/terminate", { "POST" } },
		{ "DELETE", "/processes/no_such_id/kill", { "POST" } },
		{ "PUT", "/processes/no_such_id/signal", { "POST" } },
		{ "POST", "/processes/no_such_id/output", { "GET" } },
		{ "POST", "/targets", { "GET" } },
		{ "DELETE", "/targets/worker", { "GET" } },
		{ "POST", "/healthz", { "GET" } },
		{ "PUT", "/openapi.yaml", { "GET" } },
	};
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct resp *r = http(srv, cases[i].method, cases[i].path, "application/json",
				      !strcmp(cases[i].method, "GET") || !strcmp(cases[i].method, "DELETE")
				      ? NULL : "{\"target\": \"worker\"}", NULL);
		CHECK_ERROR(r, 405, "method_not_allowed");
		for (int m = 0; m < 3 && cases[i].allowed[m]; m++)
			CHECK_MSG(allow_has(r->allow, cases[i].allowed[m]), "%s %s: Allow \"%s\" lacks %s",
				  cases[i].method, cases[i].path, r->allow, cases[i].allowed[m]);
		resp_free(r);
	}
	CHECK_NOTHING_SPAWNED(before);
}

static void test_bad_query_params(void)
{
	static const struct {
		const char *method, *path, *field;
	} on_list[] = {
		{ "POST", "/processes?wait=-1", "wait" },
		{ "POST", "/processes?wait=abc", "wait" },
		{ "POST", "/processes?wait=nan", "wait" },
		{ "POST", "/processes?wait=inf", "wait" },
		{ "POST", "/processes?wait=1e999", "wait" },
		{ "GET", "/processes?limit=0", "limit" },
		{ "GET", "/processes?limit=1001", "limit" },
		{ "GET", "/processes?limit=-5", "limit" },
		{ "GET", "/processes?limit=abc", "limit" },
		{ "GET", "/processes?limit=2.5", "limit" },
		{ "GET", "/processes?state=runing", "state" },
	};
	int before = process_count(srv);
	struct resp *r;
	char id[128];

	for (size_t i = 0; i < sizeof on_list / sizeof on_list[0]; i++) {
		r = http(srv, on_list[i].method, on_list[i].path, "application/json",
			 !strcmp(on_list[i].method, "POST") ? "{\"target\": \"worker\"}" : NULL, NULL);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_FIELD(r, on_list[i].field);
		resp_free(r);
	}
	CHECK_NOTHING_SPAWNED(before);
	/* Per-process parameters need a process. */
	r = spawn(srv, "{\"target\": \"sleep\", \"args\": [30]}", -1);
	CHECK_STATUS(r, 201);
	snprintf(id, sizeof id, "%s", jstr(r->json, "id") ? jstr(r->json, "id") : "");
	resp_free(r);
	static const char *const per_process[][3] = {
		{ "POST", "join?timeout=abc", "timeout" },
		{ "POST", "join?timeout=-1", "timeout" },
		{ "POST", "join?timeout=nan", "timeout" },
		{ "GET", "output?stream=bogus", "stream" },
		{ "GET", "output?offset=-1", "offset" },
		{ "GET", "output?offset=abc", "offset" },
		{ "DELETE", "?grace=-1", "grace" },
		{ "DELETE", "?grace=abc", "grace" },
	};
	for (size_t i = 0; i < sizeof per_process / sizeof per_process[0]; i++) {
		char path[256];
		snprintf(path, sizeof path, "/processes/%s%s%s", id, per_process[i][1][0] == '?' ? "" : "/",
			 per_process[i][1]);
		r = http(srv, per_process[i][0], path, NULL, NULL, NULL);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_FIELD(r, per_process[i][2]);
		resp_free(r);
	}
	r = get(srv, "/processes/%s", id);
	CHECK_MSG(jis_true(r->json, "alive"), "a refused DELETE ended the process: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	static const char *const signals[] = {
		"{\"signal\": \"SIGNOPE\"}", "{\"signal\": 0}", "{\"signal\": 99}", "{\"signal\": -9}",
		"{\"signal\": 9.5}", "{}", "{\"signal\": null}",
	};
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		r = postf(srv, signals[i], "/processes/%s/signal", id);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_FIELD(r, "signal");
		resp_free(r);
	}
	r = postf(srv, "{\"signal\": ", "/processes/%s/signal", id);
	CHECK_ERROR(r, 400, "invalid_json");
	resp_free(r);
	r = del(srv, "/processes/%s?grace=0", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

static void test_hostile_target_names(void)
{
	static const char *const names[] = {
		"../worker", "..", "./worker", "worker/../worker", "/bin/sh", "/usr/bin/env", "%2e%2e",
		"%2e%2e%2fworker", "..%2fworker", "worker\\u0000", "worker\\u0000x", "\\u0000", "worker ",
		" worker", "worker\\n", "work*", "w?rker", "$(id)", "`id`", "worker;id", "",
	};
	static const char *const paths[] = {
		"/targets/..", "/targets/%2e%2e", "/targets/..%2fworker", "/targets/%2e%2e%2fworker",
		"/targets/worker%00", "/targets/%00", "/processes/..",
		"/processes/%2e%2e", "/processes/..%2f..%2fetc%2fpasswd", "/processes/x%00",
	};
	int before = process_count(srv);
	char body[6000];
	struct resp *r;

	char accepted[512] = "";
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(body, sizeof body, "{\"target\": \"%s\"}", names[i]);
		r = spawn(srv, body, 10);
		/* Keep going: the message lists every name that was not refused. */
		if (!((r->status == 400 || r->status == 404) && err_code(r) && err_message(r)))
			snprintf(accepted + strlen(accepted), sizeof accepted - strlen(accepted), " \"%s\"->%ld",
				 names[i], r->status);
		resp_free(r);
	}
	CHECK_MSG(!accepted[0], "target names not refused with 400/404:%s", accepted);
	/* Over-long names. */
	memcpy(body, "{\"target\": \"", 12);
	memset(body + 12, 'w', 5000);
	memcpy(body + 5012, "\"}", 3);
	r = spawn(srv, body, -1);
	CHECK_MSG((r->status == 400 || r->status == 404) && err_code(r), "long target: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		r = get(srv, "%s", paths[i]);
		if (!((r->status == 400 || r->status == 404) && err_code(r)))
			snprintf(accepted + strlen(accepted), sizeof accepted - strlen(accepted), " GET %s->%ld",
				 paths[i], r->status);
		resp_free(r);
	}
	CHECK_MSG(!accepted[0], "paths not refused with 400/404:%s", accepted);
	char path[3000] = "/targets/";
	memset(path + 9, 'w', 2500);
	path[2509] = '\0';
	r = get(srv, "%s", path);
	CHECK_MSG((r->status == 400 || r->status == 404 || r->status == 414) && err_code(r),
		  "long target path: %ld %.200s", r->status, r->body);
	resp_free(r);
	CHECK_NOTHING_SPAWNED(before);
}

static void test_json_limits(void)
{
	enum { DEPTH = 100000 };
	char *deep = malloc(2 * DEPTH + 64);
	int before = process_count(srv);
	struct resp *r;
	size_t n = 0;

	CHECK(deep);
	n += (size_t)sprintf(deep, "{\"target\": \"worker\", \"args\": ");
	memset(deep + n, '[', DEPTH);
	memset(deep + n + DEPTH, ']', DEPTH);
	strcpy(deep + n + 2 * DEPTH, "}");
	r = spawn(srv, deep, -1);
	free(deep);
	CHECK_MSG(r->status == 400 || r->status == 413, "deeply nested JSON: " RESP_FMT, RESP_ARGS(r));
	CHECK(err_code(r));
	resp_free(r);
	r = spawn(srv, "{\"target\": \"worker\", \"target\": \"exit\", \"args\": [1]}", -1);
	CHECK_MSG(r->status == 400 && err_code(r), "duplicate key accepted: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	CHECK_NOTHING_SPAWNED(before);
}

static void test_payload_too_large(void)
{
	size_t len = (size_t)64 << 20;
	char *big = malloc(len + 64);
	int before = process_count(srv);
	struct resp *r;
	size_t n;

	CHECK(big);
	n = (size_t)sprintf(big, "{\"target\": \"echo\", \"args\": [\"");
	memset(big + n, 'a', len);
	strcpy(big + n + len, "\"]}");
	r = http_len(srv, "POST", "/processes", "application/json", big, strlen(big), NULL);
	free(big);
	CHECK_ERROR(r, 413, "payload_too_large");
	resp_free(r);
	CHECK_NOTHING_SPAWNED(before);
}

static void test_error_responses_json_everywhere(void)
{
	/* A client that asks for NDJSON or raw output still gets JSON errors. */
	struct resp *r = http(srv, "GET", "/processes/no_such_id/output", NULL, NULL, "application/octet-stream");

	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
	r = http(srv, "GET", "/processes/no_such_id/output", NULL, NULL, "application/x-ndjson");
	CHECK_ERROR(r, 404, "not_found");
	resp_free(r);
}

/* Issue 9.5: numbers that become integers are range-checked first. A timeout of
 * 9.3e15 s once overflowed its millisecond deadline (undefined behaviour) and
 * killed the worker at once with reason "timeout". */
static void test_numbers_out_of_integer_range(void)
{
	static const struct {
		const char *path, *body, *field;
	} cases[] = {
		{ "/processes", "{\"target\": \"worker\", \"timeout\": 9.3e15}", "timeout" },
		{ "/processes", "{\"target\": \"worker\", \"timeout\": 1e300}", "timeout" },
		{ "/processes", "{\"target\": \"worker\", \"timeout\": 1000000000.5}", "timeout" },
		{ "/processes?wait=9.3e15", "{\"target\": \"worker\"}", "wait" },
		{ "/processes/no_such_id/join?timeout=9.3e15", NULL, "timeout" },
		{ "/processes/no_such_id/signal", "{\"signal\": 9.3e18}", "signal" },
		{ "/processes/no_such_id/signal", "{\"signal\": -9.3e18}", "signal" },
	};
	int before = process_count(srv);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct resp *r = post_json(srv, cases[i].path, cases[i].body);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_FIELD(r, cases[i].field);
		resp_free(r);
	}
	struct resp *r = del(srv, "/processes/no_such_id?grace=9.3e15");
	CHECK_ERROR(r, 400, "invalid_argument");
	CHECK_FIELD(r, "grace");
	resp_free(r);
	CHECK_NOTHING_SPAWNED(before);
	/* The largest timeout allowed is a deadline far away, not one in the past. */
	r = spawn(srv, "{\"target\": \"worker\", \"timeout\": 1000000000}", 10);
	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	CHECK_STR(jstr(r->json, "reason"), "exit");
	resp_free(r);
}

/* A refused string names its field, and the body spawned nothing. */
#define CHECK_TEXT_REFUSED(literal, field) do { \
		struct resp *r_ = http_len(srv, "POST", "/processes?wait=5", "application/json", \
					   literal, sizeof literal - 1, NULL); \
		CHECK_ERROR(r_, 400, "invalid_json"); \
		CHECK_FIELD(r_, field); \
		resp_free(r_); \
	} while (0)

/* Issue 9.7: cJSON keeps strings as C strings, so a NUL (raw or \u0000) cut
 * "worker\0../x" down to "worker" and ran it; invalid UTF-8 was stored and
 * served back in records that strict JSON parsers refuse. */
static void test_nul_and_invalid_utf8_refused(void)
{
	int before = process_count(srv);

	CHECK_TEXT_REFUSED("{\"target\": \"worker\0../x\"}", "target");
	CHECK_TEXT_REFUSED("{\"target\": \"worker\\u0000../x\"}", "target");
	CHECK_TEXT_REFUSED("{\"target\": \"echo\", \"args\": [\"ok\", \"a\0b\"]}", "args[1]");
	CHECK_TEXT_REFUSED("{\"target\": \"echo\", \"args\": {\"words\": [\"a\\u0000b\"]}}", "args.words[0]");
	CHECK_TEXT_REFUSED("{\"target\": \"echo\", \"args\": [\"caf\xe9\"]}", "args[0]");
	CHECK_TEXT_REFUSED("{\"target\": \"echo\", \"args\": [\"\xed\xa0\x80\"]}", "args[0]");  /* a surrogate */
	CHECK_TEXT_REFUSED("{\"target\": \"echo\", \"name\": \"\xc0\xaf\"}", "name");          /* overlong */
	CHECK_TEXT_REFUSED("{\"target\": \"echo\", \"stdin\": \"x\\u0000\"}", "stdin");
	/* A key that is not UTF-8 is named with U+FFFD for its bad byte. */
	CHECK_TEXT_REFUSED("{\"target\": \"echo\", \"env\": {\"A\xff\": \"x\"}}", "env.A\xef\xbf\xbd");
	/* An escaped backslash before "u0000" is text, not a NUL. */
	struct resp *r = spawn(srv, "{\"target\": \"echo\", \"args\": [\"\\\\u0000\"]}", 10);
	CHECK_STATUS(r, 201);
	CHECK_STR(jstr(r->json, "stdout"), "\\u0000\n");
	resp_free(r);
	before++;
	/* A raw NUL after the object no longer hides what follows it. */
	r = http_len(srv, "POST", "/processes", "application/json", "{\"target\": \"worker\"}\0junk", 25, NULL);
	CHECK_ERROR(r, 400, "invalid_json");
	resp_free(r);
	CHECK_NOTHING_SPAWNED(before);
}

/* Every response is UTF-8, even one quoting a request's bytes. */
static void test_responses_are_utf8(void)
{
	struct resp *r = get(srv, "/processes/%%ff%%fe");
	CHECK_ERROR(r, 404, "not_found");
	CHECK_MSG(!memchr(r->body, 0xff, r->len) && !memchr(r->body, 0xfe, r->len) && strstr(r->body, "\xef\xbf\xbd"),
		  "raw bytes in the reply: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = get(srv, "/targets/%%c3");
	CHECK_MSG(r->status == 400 || r->status == 404, "GET /targets/%%c3: " RESP_FMT, RESP_ARGS(r));
	CHECK_MSG(!memchr(r->body, 0xc3, r->len), "raw bytes in the reply: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
}

/* A body of `count` members: {"k0":0,...} (object) or [0,...] (array), inside prefix...suffix. */
static char *many_members(const char *prefix, bool object, long count, const char *suffix)
{
	size_t cap = strlen(prefix) + strlen(suffix) + (size_t)count * 16 + 16, n = 0;
	char *b = malloc(cap);
	if (!b)
		abort();
	n += (size_t)snprintf(b, cap, "%s%c", prefix, object ? '{' : '[');
	for (long i = 0; i < count; i++)
		n += (size_t)(object ? snprintf(b + n, cap - n, "%s\"%lx\":0", i ? "," : "", i)
				     : snprintf(b + n, cap - n, "%s\"a\"", i ? "," : ""));
	snprintf(b + n, cap - n, "%c%s", object ? '}' : ']', suffix);
	return b;
}

/* Issue 9.8: the duplicate-key check compared every pair of keys: one 1 MiB
 * body of ~105,000 keys cost 47 s of CPU and stalled /healthz. Now an object
 * or array may have 10000 members, and duplicates are found by sorting. */
static void test_member_limits(void)
{
	int before = process_count(srv);
	char *body = many_members("", true, 105000, "");
	CHECK_MSG(strlen(body) < 1048576, "the body (%zu bytes) must fit the 1 MiB body limit", strlen(body));
	struct resp *r = spawn(srv, body, -1);
	free(body);
	CHECK_ERROR(r, 400, "invalid_json");
	CHECK_MSG(strstr(err_message(r), "10000"), "the limit is not named: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	CHECK_MSG(server_healthy(srv), "/healthz does not answer ok");

	body = many_members("{\"target\": \"echo\", \"args\": ", false, 10001, "}");
	r = spawn(srv, body, -1);
	free(body);
	CHECK_ERROR(r, 400, "invalid_json");
	CHECK_FIELD(r, "args");
	CHECK_MSG(strstr(err_message(r), "10000"), "the limit is not named: " RESP_FMT, RESP_ARGS(r));
	resp_free(r);

	/* A duplicate among many keys (the sorted path) is found and named. */
	body = many_members("{\"target\": \"echo\", \"env\": ", true, 5000, "");
	body[strlen(body) - 1] = '\0';
	char *dup = NULL;
	if (asprintf(&dup, "%s,\"%x\":1}}", body, 4321) < 0)
		abort();
	free(body);
	r = spawn(srv, dup, -1);
	free(dup);
	CHECK_ERROR(r, 400, "invalid_json");
	CHECK_FIELD(r, "env.10e1");
	resp_free(r);
	CHECK_NOTHING_SPAWNED(before);

	/* 10000 is allowed. */
	body = many_members("{\"target\": \"echo\", \"args\": ", false, 10000, "}");
	r = spawn(srv, body, 10);
	free(body);
	CHECK_STATUS(r, 201);
	CHECK_EXITED(r, 0);
	CHECK_INT(jint(r->json, "stdout_bytes", 0), 20000);
	resp_free(r);
}

/* Issue 9.9: integers above 2^53 were rounded without a word (9007199254740993
 * ran as ...992 and was echoed as 9.00719925474099e+15). Integer arguments are
 * refused beyond +-(2^53 - 1) and echoed exactly within. */
static void test_integers_beyond_2_53(void)
{
	static const char *const refused[] = { "9007199254740993", "9007199254740992", "-9007199254740992",
					       "9223372036854775807", "1e300" };
	int before = process_count(srv);
	char body[200];

	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		snprintf(body, sizeof body, "{\"target\": \"worker\", \"args\": [%s]}", refused[i]);
		struct resp *r = spawn(srv, body, -1);
		CHECK_ERROR(r, 400, "invalid_argument");
		CHECK_FIELD(r, "args[0]");
		CHECK_MSG(strstr(r->body, "9007199254740991"), "the range is not named: " RESP_FMT, RESP_ARGS(r));
		resp_free(r);
	}
	CHECK_NOTHING_SPAWNED(before);
	static const char *const exact[] = { "9007199254740991", "-9007199254740991", "4503599627370497",
					     "4503599627370501" };
	for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
		char echoed[100], printed[100], id[ID_CAP];
		snprintf(body, sizeof body, "{\"target\": \"worker\", \"args\": {\"num\": %s}}", exact[i]);
		snprintf(echoed, sizeof echoed, "\"args\":{\"num\":%s}", exact[i]);
		snprintf(printed, sizeof printed, "Worker: %s\n", exact[i]);
		struct resp *r = spawn(srv, body, 10);
		CHECK_STATUS(r, 201);
		CHECK_MSG(strstr(r->body, echoed), "args not echoed as %s: " RESP_FMT, echoed, RESP_ARGS(r));
		CHECK_STR(jstr(r->json, "stdout"), printed);
		CHECK(take_id(r, id));
		resp_free(r);
		r = get(srv, "/processes?limit=1");
		CHECK_MSG(strstr(r->body, echoed), "GET /processes: " RESP_FMT, RESP_ARGS(r));
		resp_free(r);
	}
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
	RUN(test_invalid_json);
	RUN(test_body_not_an_object);
	RUN(test_missing_or_bad_target);
	RUN(test_bad_args_named);
	RUN(test_missing_required_arg);
	RUN(test_several_bad_fields_at_once);
	RUN(test_bad_top_level_fields);
	RUN(test_env_key_not_allowed);
	RUN(test_unsupported_media_type);
	RUN(test_unknown_routes_404);
	RUN(test_unknown_process_id_404);
	RUN(test_wrong_method_405_with_allow);
	RUN(test_bad_query_params);
	RUN(test_hostile_target_names);
	RUN(test_json_limits);
	RUN(test_payload_too_large);
	RUN(test_error_responses_json_everywhere);
	RUN(test_numbers_out_of_integer_range);
	RUN(test_nul_and_invalid_utf8_refused);
	RUN(test_responses_are_utf8);
	RUN(test_member_limits);
	RUN(test_integers_beyond_2_53);
	RUN(test_shared_server_shutdown);
	return CHECK_EXIT();
}
