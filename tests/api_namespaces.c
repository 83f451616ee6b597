/* api_namespaces — /namespaces of API.md "Shared objects" over HTTP: PUT
 * 201/200, options 400, unknown namespaces and keys 404, bad names, keys,
 * bodies, versions and timeouts 400; keys with versions (every change bumps
 * the key's and the namespace's), ETag, If-Match and If-None-Match (412);
 * ?wait_version=N&timeout=S answered by the change or at its timeout; the
 * follow stream (NDJSON and SSE) of changes in order; DELETE answering
 * waiters 404 and ending streams; QUALITY 24: values and versions identical
 * after a restart and after a kill -9.
 */
#define _GNU_SOURCE
#include "tests/harness.h"
#include "tests/sync_client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;

/* A whole answer with its ETag. */
struct answer {
	long status;
	char etag[64];
	char *body;
	cJSON *json;
};

static void answer_free(struct answer *a)
{
	free(a->body);
	cJSON_Delete(a->json);
	memset(a, 0, sizeof *a);
}

/* METHOD path with a JSON body (NULL: none) and one extra header line (NULL: none). */
static struct answer ask(const char *method, const char *path, const char *body, const char *header)
{
	const char *headers[3] = { NULL };
	int n = 0;
	struct answer a = { 0 };
	if (body)
		headers[n++] = "Content-Type: application/json";
	if (header)
		headers[n++] = header;
	struct live *l = live_request(srv, method, path, headers, body, body ? strlen(body) : 0, 0);
	live_wait_done(l, 30);
	a.status = l->status;
	a.body = strdup(l->body ? l->body : "");
	a.json = cJSON_Parse(a.body);
	if (!live_header(l, "ETag", a.etag, sizeof a.etag))
		a.etag[0] = '\0';
	live_close(l);
	return a;
}

static long status_of(const char *method, const char *path, const char *body, const char *header)
{
	struct answer a = ask(method, path, body, header);
	long st = a.status;
	answer_free(&a);
	return st;
}

#define CHECK_ANSWER(a, code) \
	CHECK_MSG((a).status == (code), "expected %d, got %ld: %.300s", (int)(code), (a).status, (a).body)
#define CHECK_ERR(a, code, errcode) do { \
		CHECK_ANSWER(a, code); \
		const cJSON *e_ = cJSON_GetObjectItemCaseSensitive((a).json, "error"); \
		CHECK_MSG(e_ && jstr(e_, "code") && strcmp(jstr(e_, "code"), (errcode)) == 0, \
			  "expected error.code %s: %.300s", (errcode), (a).body); \
	} while (0)

static void test_create_list_describe_delete(void)
{
	struct answer a = ask("PUT", "/namespaces/shared", NULL, NULL);
	CHECK_ANSWER(a, 201);
	CHECK_MSG(jint(a.json, "version", -1) == 0 && cJSON_IsObject(cJSON_GetObjectItem(a.json, "values")),
		  "a new namespace: %s", a.body);
	answer_free(&a);
	CHECK_INT(status_of("PUT", "/namespaces/shared", "{}", NULL), 200);
	a = ask("PUT", "/namespaces/other", "{\"size\": 1}", NULL);
	CHECK_ERR(a, 400, "invalid_argument");
	answer_free(&a);
	CHECK_INT(status_of("PUT", "/namespaces/other", NULL, NULL), 201);
	a = ask("GET", "/namespaces", NULL, NULL);
	CHECK_MSG(a.status == 200 && strstr(a.body, "\"name\":\"shared\"") && strstr(a.body, "\"name\":\"other\""),
		  "list: %s", a.body);
	answer_free(&a);
	a = ask("GET", "/namespaces/shared", NULL, NULL);
	CHECK_MSG(a.status == 200 && strcmp(a.etag, "\"0\"") == 0, "describe: ETag %s, %s", a.etag, a.body);
	answer_free(&a);
	const char *unknown[][2] = { { "GET", "/namespaces/nope" }, { "DELETE", "/namespaces/nope" },
				     { "GET", "/namespaces/nope/keys/k" }, { "DELETE", "/namespaces/nope/keys/k" },
				     { "GET", "/namespaces/nope?wait_version=0&timeout=0" },
				     { "GET", "/namespaces/nope?follow=true" } };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		a = ask(unknown[i][0], unknown[i][1], NULL, NULL);
		CHECK_ERR(a, 404, "not_found");
		answer_free(&a);
	}
	a = ask("PUT", "/namespaces/nope/keys/k", "1", NULL);
	CHECK_ERR(a, 404, "not_found");
	answer_free(&a);
	CHECK_INT(status_of("DELETE", "/namespaces/other", NULL, NULL), 200);
	CHECK_INT(status_of("GET", "/namespaces/other", NULL, NULL), 404);
}

static void test_bad_arguments(void)
{
	struct { const char *method, *path, *body, *field; } bad[] = {
		{ "PUT", "/namespaces/shared/keys/k", NULL, "body" },
		{ "GET", "/namespaces/shared?wait_version=-1", NULL, "wait_version" },
		{ "GET", "/namespaces/shared?wait_version=x", NULL, "wait_version" },
		{ "GET", "/namespaces/shared?wait_version=1&timeout=later", NULL, "timeout" },
		{ "GET", "/namespaces/shared?follow=yes", NULL, "follow" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct answer a = ask(bad[i].method, bad[i].path, bad[i].body, NULL);
		CHECK_ERR(a, 400, "invalid_argument");
		CHECK_MSG(strstr(a.body, bad[i].field), "%s %.60s: no field %s: %s", bad[i].method, bad[i].path,
			  bad[i].field, a.body);
		answer_free(&a);
	}
	struct answer a = ask("PUT", "/namespaces/shared/keys/k", "{not json", NULL);
	CHECK_ERR(a, 400, "invalid_json");
	answer_free(&a);
}

static void test_keys_versions_and_etags(void)
{
	CHECK_INT(status_of("PUT", "/namespaces/vers", NULL, NULL), 201);
	struct answer a = ask("PUT", "/namespaces/vers/keys/count", "41", NULL);
	CHECK_MSG(a.status == 200 && jint(a.json, "version", -1) == 1 && jint(a.json, "namespace_version", -1) == 1 &&
		  strcmp(a.etag, "\"1\"") == 0, "first put: ETag %s, %s", a.etag, a.body);
	answer_free(&a);
	a = ask("PUT", "/namespaces/vers/keys/count", "42", NULL);
	CHECK_MSG(jint(a.json, "version", -1) == 2 && strcmp(a.etag, "\"2\"") == 0, "second put: %s", a.body);
	answer_free(&a);
	a = ask("PUT", "/namespaces/vers/keys/who", "{\"name\": \"ann\", \"tags\": [1, null]}", NULL);
	CHECK_MSG(jint(a.json, "version", -1) == 3 && jint(a.json, "namespace_version", -1) == 3, "other key: %s",
		  a.body);
	answer_free(&a);
	a = ask("GET", "/namespaces/vers/keys/count", NULL, NULL);
	CHECK_MSG(a.status == 200 && jint(a.json, "value", -1) == 42 && jint(a.json, "version", -1) == 2 &&
		  strcmp(a.etag, "\"2\"") == 0, "get: ETag %s, %s", a.etag, a.body);
	answer_free(&a);
	a = ask("GET", "/namespaces/vers", NULL, NULL);
	CHECK_MSG(a.status == 200 && jint(a.json, "version", -1) == 3 && strcmp(a.etag, "\"3\"") == 0 &&
		  strstr(a.body, "\"values\":{\"count\":42,\"who\":{\"name\":\"ann\",\"tags\":[1,null]}}"),
		  "namespace: ETag %s, %s", a.etag, a.body);
	answer_free(&a);
	a = ask("DELETE", "/namespaces/vers/keys/count", NULL, NULL);
	CHECK_MSG(a.status == 200 && jint(a.json, "namespace_version", -1) == 4, "delete: %s", a.body);
	answer_free(&a);
	a = ask("GET", "/namespaces/vers/keys/count", NULL, NULL);
	CHECK_ERR(a, 404, "not_found");
	answer_free(&a);
	a = ask("DELETE", "/namespaces/vers/keys/count", NULL, NULL);
	CHECK_ERR(a, 404, "not_found");
	answer_free(&a);
	a = ask("PUT", "/namespaces/vers/keys/count", "1", NULL);   /* made again: a new version, never 1 or 2 */
	CHECK_MSG(jint(a.json, "version", -1) == 5, "made again: %s", a.body);
	answer_free(&a);
}

static void test_if_match(void)
{
	CHECK_INT(status_of("PUT", "/namespaces/cas", NULL, NULL), 201);
	CHECK_INT(status_of("PUT", "/namespaces/cas/keys/x", "1", NULL), 200);         /* version 1 */
	CHECK_INT(status_of("PUT", "/namespaces/cas/keys/x", "2", NULL), 200);         /* version 2 */
	const char *stale[] = { "If-Match: \"1\"", "If-Match: 1", "If-Match: \"abc\"", "If-Match: \"3\"" };
	for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
		struct answer a = ask("PUT", "/namespaces/cas/keys/x", "99", stale[i]);
		CHECK_ERR(a, 412, "precondition_failed");
		answer_free(&a);
	}
	struct answer a = ask("DELETE", "/namespaces/cas/keys/x", NULL, "If-Match: \"1\"");
	CHECK_ERR(a, 412, "precondition_failed");
	answer_free(&a);
	a = ask("GET", "/namespaces/cas", NULL, NULL);
	CHECK_MSG(jint(a.json, "version", -1) == 2 && strstr(a.body, "\"x\":2"), "a refused write changed it: %s",
		  a.body);
	answer_free(&a);
	a = ask("PUT", "/namespaces/cas/keys/x", "3", "If-Match: \"2\"");
	CHECK_MSG(a.status == 200 && jint(a.json, "version", -1) == 3, "matching If-Match: %s", a.body);
	answer_free(&a);
	a = ask("PUT", "/namespaces/cas/keys/x", "4", "If-Match: W/\"3\"");
	CHECK_MSG(a.status == 200 && jint(a.json, "version", -1) == 4, "weak If-Match: %s", a.body);
	answer_free(&a);
	a = ask("PUT", "/namespaces/cas/keys/y", "1", "If-Match: *");
	CHECK_ERR(a, 412, "precondition_failed");     /* * needs the key */
	answer_free(&a);
	a = ask("PUT", "/namespaces/cas/keys/x", "1", "If-None-Match: *");
	CHECK_ERR(a, 412, "precondition_failed");     /* create only */
	answer_free(&a);
	CHECK_INT(status_of("PUT", "/namespaces/cas/keys/y", "1", "If-None-Match: *"), 200);
	CHECK_INT(status_of("PUT", "/namespaces/cas/keys/y", "2", "If-Match: *"), 200);
	CHECK_INT(status_of("DELETE", "/namespaces/cas/keys/x", NULL, "If-Match: \"4\""), 200);
}

static void test_wait_version(void)
{
	CHECK_INT(status_of("PUT", "/namespaces/news", NULL, NULL), 201);
	CHECK_INT(status_of("PUT", "/namespaces/news/keys/a", "1", NULL), 200);        /* version 1 */
	struct answer a = ask("GET", "/namespaces/news?wait_version=0&timeout=5", NULL, NULL);
	CHECK_MSG(a.status == 200 && jis_true(a.json, "changed") && jint(a.json, "version", -1) == 1,
		  "a version above 0 is there already: %s", a.body);
	answer_free(&a);
	double t0 = now_s();
	a = ask("GET", "/namespaces/news?wait_version=1&timeout=0.3", NULL, NULL);
	CHECK_MSG(a.status == 200 && jis_false(a.json, "changed") && jint(a.json, "version", -1) == 1,
		  "at the timeout: %s", a.body);
	CHECK_MSG(now_s() - t0 >= 0.25, "answered before its timeout (%.3f s)", now_s() - t0);
	answer_free(&a);
	struct live *w = live_open(srv, "/namespaces/news?wait_version=1&timeout=30", NULL);
	live_pump(0.2);
	CHECK_MSG(!w->done, "the wait returned before a change: %s", w->body);
	CHECK_INT(status_of("PUT", "/namespaces/news/keys/b", "\"two\"", NULL), 200);
	CHECK_MSG(live_wait_done(w, 5) && w->status == 200, "the change did not answer the wait: %s", w->body);
	cJSON *j = live_json(w);
	CHECK_MSG(j && jis_true(j, "changed") && jint(j, "version", -1) == 2 && strstr(w->body, "\"b\":\"two\""),
		  "the waiter's answer: %s", w->body);
	cJSON_Delete(j);
	live_close(w);
	w = live_open(srv, "/namespaces/news?wait_version=2&timeout=30", NULL);
	live_pump(0.2);
	CHECK_INT(status_of("DELETE", "/namespaces/news", NULL, NULL), 200);
	CHECK_MSG(live_wait_done(w, 5) && w->status == 404, "a waiter on a deleted namespace: %ld %s", w->status,
		  w->body);
	live_close(w);
}

/* The NDJSON lines of a follow stream so far (-1 on a bad line). */
static int lines_of(struct live *l, cJSON ***lines)
{
	return ndjson_parse(l->body, l->len, lines);
}

static void test_follow_streams_changes(void)
{
	CHECK_INT(status_of("PUT", "/namespaces/feed", NULL, NULL), 201);
	CHECK_INT(status_of("PUT", "/namespaces/feed/keys/a", "1", NULL), 200);
	struct live *l = live_open(srv, "/namespaces/feed?follow=true", NULL);
	struct live *sse = live_open(srv, "/namespaces/feed?follow=true", "text/event-stream");
	CHECK_MSG(live_wait_for(l, "snapshot", 5) && live_wait_for(sse, "snapshot", 5), "no snapshot: %s | %s",
		  l->body, sse->body);
	CHECK_INT(status_of("PUT", "/namespaces/feed/keys/b", "[2]", NULL), 200);      /* version 2 */
	CHECK_INT(status_of("PUT", "/namespaces/feed/keys/a", "3", NULL), 200);        /* version 3 */
	CHECK_INT(status_of("DELETE", "/namespaces/feed/keys/b", NULL, NULL), 200);    /* version 4 */
	CHECK_MSG(live_wait_for(l, "\"version\":4", 5), "the changes did not stream: %s", l->body);
	CHECK_MSG(live_wait_for(sse, "id: 4", 5), "the SSE changes did not stream: %s", sse->body);
	CHECK_MSG(strncmp(l->content_type, "application/x-ndjson", 20) == 0, "content type %s", l->content_type);
	CHECK_MSG(strstr(sse->body, "event: change") && strstr(sse->body, "event: snapshot"), "SSE: %s", sse->body);
	cJSON **lines;
	int n = lines_of(l, &lines);
	CHECK_MSG(n >= 4, "lines: %s", l->body);
	int k = 0;
	const char *want[] = { "snapshot:1", "change:2", "change:3", "change:4" };
	for (int i = 0; i < n && k < 4; i++) {
		const char *ev = jstr(lines[i], "event");
		char got[64];
		if (!ev || strcmp(ev, "heartbeat") == 0)
			continue;
		snprintf(got, sizeof got, "%s:%lld", ev, jint(lines[i], "version", -1));
		if (strcmp(got, want[k]) != 0) {
			ndjson_free(lines, n);
			CHECK_MSG(false, "line %d is %s, expected %s: %s", i, got, want[k], l->body);
		}
		k++;
	}
	ndjson_free(lines, n);
	CHECK_MSG(k == 4, "%d of 4 lines: %s", k, l->body);
	CHECK_MSG(strstr(l->body, "\"key\":\"b\",\"value\":[2]") && strstr(l->body, "\"key\":\"b\",\"deleted\":true") &&
		  strstr(l->body, "\"values\":{\"a\":1}"), "the lines' content: %s", l->body);
	CHECK_INT(status_of("DELETE", "/namespaces/feed", NULL, NULL), 200);
	CHECK_MSG(live_wait_done(l, 20) && live_wait_done(sse, 20), "deleting the namespace did not end its streams");
	live_close(l);
	live_close(sse);
}

static void check_state_survives(int sig)
{
	struct answer before = ask("GET", "/namespaces/durable", NULL, NULL);
	struct answer key_before = ask("GET", "/namespaces/durable/keys/pi", NULL, NULL);
	CHECK_MSG(server_restart(srv, sig) == 0, "the server did not come back after signal %d", sig);
	struct answer after = ask("GET", "/namespaces/durable", NULL, NULL);
	struct answer key_after = ask("GET", "/namespaces/durable/keys/pi", NULL, NULL);
	bool same = after.status == 200 && strcmp(before.body, after.body) == 0 &&
		    strcmp(before.etag, after.etag) == 0 && strcmp(key_before.body, key_after.body) == 0 &&
		    strcmp(key_before.etag, key_after.etag) == 0;
	char msg[1200];
	snprintf(msg, sizeof msg, "before: %.250s %.250s | after: %.250s %.250s", before.body, key_before.body,
		 after.body, key_after.body);
	answer_free(&before);
	answer_free(&after);
	answer_free(&key_before);
	answer_free(&key_after);
	CHECK_MSG(same, "after signal %d: %s", sig, msg);
	/* The next change goes on from the version before: none is reused. */
	struct answer a = ask("PUT", "/namespaces/durable/keys/n", "0", NULL);
	CHECK_MSG(a.status == 200 && jint(a.json, "namespace_version", -1) == (sig == SIGTERM ? 5 : 6),
		  "after signal %d: %s", sig, a.body);
	answer_free(&a);
}

static void test_state_survives_restart_and_kill(void)
{
	CHECK_INT(status_of("PUT", "/namespaces/durable", NULL, NULL), 201);
	CHECK_INT(status_of("PUT", "/namespaces/durable/keys/pi", "3.14", NULL), 200);
	CHECK_INT(status_of("PUT", "/namespaces/durable/keys/gone", "true", NULL), 200);
	CHECK_INT(status_of("PUT", "/namespaces/durable/keys/list", "[\"a\", {\"b\": null}]", NULL), 200);
	CHECK_INT(status_of("DELETE", "/namespaces/durable/keys/gone", NULL, NULL), 200);      /* version 4 */
	check_state_survives(SIGTERM);
	if (check_failure[0])
		return;
	check_state_survives(SIGKILL);
}

static void check_stops(void) { check_server_stops(&srv); }

int main(void)
{
	srv = server_start("--heartbeat 1");
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_create_list_describe_delete);
	RUN(test_bad_arguments);
	RUN(test_keys_versions_and_etags);
	RUN(test_if_match);
	RUN(test_wait_version);
	RUN(test_follow_streams_changes);
	RUN(test_state_survives_restart_and_kill);
	RUN(check_stops);
	return CHECK_EXIT();
}
