/* api_search — GET /search (issue 16, step 5): captured output searched on
 * the server across processes. A plain text finds the lines holding it, with
 * the byte offset of each line's start (reading the raw output there gives
 * the line); a regex matches as POSIX ERE; target and time range narrow it;
 * stderr is searched too; paging with limit=1 through `next` gives every
 * match of one big page, once each, in order; a search over more output than
 * one request may read (32 MiB) stops with a cursor and goes on from it;
 * every bad parameter is a 400 naming its field.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

#define ID_CAP 128

static struct server *srv;
static char first_id[ID_CAP], first_created[64], last_created[64];

static void test_setup(void)
{
	CHECK((srv = server_start(NULL)));
	const char *bodies[] = {
		"{\"target\": \"echo\", \"args\": [\"needle one\"]}",
		"{\"target\": \"worker\"}",
		"{\"target\": \"echo\", \"args\": [\"hay\\nneedle two\\nhay\\nneedle three\"]}",
		"{\"target\": \"burst\", \"args\": {\"bytes\": 50, \"stream\": \"stderr\"}}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		struct resp *r = spawn(srv, bodies[i], 5);
		CHECK_STATUS(r, 201);
		CHECK_MSG(!jis_true(r->json, "alive"), "not ended: " RESP_FMT, RESP_ARGS(r));
		if (i == 0) {
			CHECK(take_id(r, first_id));
			snprintf(first_created, sizeof first_created, "%s", jstr(r->json, "created_at"));
		}
		snprintf(last_created, sizeof last_created, "%s", jstr(r->json, "created_at"));
		sleep_s(0.01);          /* distinct created_at */
	}
}

static int match_count(const struct resp *r)
{
	return cJSON_GetArraySize(cJSON_GetObjectItem(r->json, "matches"));
}

static cJSON *match(const struct resp *r, int i)
{
	return cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "matches"), i);
}

static void test_plain_text_with_offsets(void)
{
	CHECK(srv);
	struct resp *r = get(srv, "/search?q=needle");
	CHECK_STATUS(r, 200);
	CHECK_INT(match_count(r), 3);
	CHECK(jis_null(r->json, "next"));
	/* newest process first, in order within it */
	CHECK_STR(jstr(match(r, 0), "line"), "needle two");
	CHECK_STR(jstr(match(r, 1), "line"), "needle three");
	CHECK_STR(jstr(match(r, 2), "line"), "needle one");
	CHECK_STR(jstr(match(r, 2), "id"), first_id);
	CHECK_STR(jstr(match(r, 2), "target"), "echo");
	CHECK_STR(jstr(match(r, 0), "stream"), "stdout");
	CHECK_INT(jint(match(r, 0), "offset", -1), 4);
	CHECK_INT(jint(match(r, 1), "offset", -1), 19);
	/* the offset is where the line starts in the raw output */
	struct resp *raw = get(srv, "/processes/%s/output?stream=stdout&offset=19", jstr(match(r, 1), "id"));
	CHECK_STATUS(raw, 200);
	CHECK_MSG(strstr(raw->body, "\"data\":\"needle three\\n\""), "output at offset 19: %s", raw->body);
	r = get(srv, "/search?q=0123456789");
	CHECK_STATUS(r, 200);
	CHECK_INT(match_count(r), 1);
	CHECK_STR(jstr(match(r, 0), "stream"), "stderr");
	CHECK_STR(jstr(match(r, 0), "target"), "burst");
	r = get(srv, "/search?q=no%%20such%%20text");
	CHECK_STATUS(r, 200);
	CHECK_INT(match_count(r), 0);
	CHECK_INT(jint(r->json, "scanned_processes", -1), 4);
}

static void test_regex_target_and_time(void)
{
	CHECK(srv);
	struct resp *r = get(srv, "/search?q=%%5Eneedle%%20t&regex=true");     /* ^needle t */
	CHECK_STATUS(r, 200);
	CHECK_INT(match_count(r), 2);
	r = get(srv, "/search?q=needle%%20t");          /* plain: ^ would be a character */
	CHECK_INT(match_count(r), 2);
	r = get(srv, "/search?q=%%5Eneedle&regex=false");
	CHECK_INT(match_count(r), 0);
	r = get(srv, "/search?q=Worker&target=echo");
	CHECK_INT(match_count(r), 0);
	r = get(srv, "/search?q=Worker&target=worker");
	CHECK_INT(match_count(r), 1);
	r = get(srv, "/search?q=needle&until=%s", first_created);
	CHECK_INT(match_count(r), 1);
	CHECK_STR(jstr(match(r, 0), "line"), "needle one");
	r = get(srv, "/search?q=needle&since=%s", last_created);
	CHECK_INT(match_count(r), 0);
}

static void test_paging_gives_each_match_once(void)
{
	char path[512], lines[512] = "";
	CHECK(srv);
	snprintf(path, sizeof path, "/search?q=e&limit=1");
	int pages = 0, total = 0;
	for (;;) {
		struct resp *r = get(srv, "%s", path);
		CHECK_STATUS(r, 200);
		CHECK_MSG(match_count(r) <= 1, "limit=1 gave %d", match_count(r));
		if (match_count(r) == 1) {
			strcat(lines, jstr(match(r, 0), "line"));
			strcat(lines, "|");
			total++;
		}
		CHECK_MSG(++pages < 20, "paging does not end");
		if (jis_null(r->json, "next"))
			break;
		char *cursor = url_escape(jstr(r->json, "next"));
		snprintf(path, sizeof path, "/search?q=e&limit=1&after=%s", cursor);
		free(cursor);
	}
	struct resp *all = get(srv, "/search?q=e&limit=500");
	char want[512] = "";
	for (int i = 0; i < match_count(all); i++) {
		strcat(want, jstr(match(all, i), "line"));
		strcat(want, "|");
	}
	CHECK_STR(lines, want);
	CHECK_INT(total, match_count(all));
	CHECK_INT(total, 4);            /* needle one, two, three; Worker */
}

static void test_bad_parameters(void)
{
	static const struct { const char *query, *field; } bad[] = {
		{ "", "q" }, { "q=", "q" }, { "q=a&regex=yes", "regex" }, { "q=(&regex=true", "q" },
		{ "q=a&limit=0", "limit" }, { "q=a&limit=501", "limit" }, { "q=a&limit=x", "limit" },
		{ "q=a&since=yesterday", "since" }, { "q=a&until=2026-11-22", "until" },
		{ "q=a&after=nonsense", "after" }, { "q=a&after=abc.2.0", "after" },
	};
	CHECK(srv);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct resp *r = get(srv, "/search?%s", bad[i].query);
		CHECK_MSG(r->status == 400 && err_has_field(r, bad[i].field), "%s: " RESP_FMT, bad[i].query, RESP_ARGS(r));
	}
}

/* 40 MiB of output, more than one request reads: a cursor, and the rest from it. */
static void test_bounded_per_request(void)
{
	CHECK(srv);
	struct resp *r = spawn(srv, "{\"target\": \"burst\", \"args\": {\"bytes\": 41943040}}", 60);
	CHECK_STATUS(r, 201);
	r = get(srv, "/search?q=needle&target=burst");
	CHECK_STATUS(r, 200);
	CHECK_INT(match_count(r), 0);
	CHECK_MSG(!jis_null(r->json, "next"), "a 40 MiB search ended in one request: %s", r->body);
	double scanned = jnum(r->json, "scanned_bytes", 0);
	CHECK_MSG(scanned >= 32 << 20 && scanned < 33 << 20, "scanned %.0f bytes", scanned);
	char *cursor = url_escape(jstr(r->json, "next"));
	r = get(srv, "/search?q=needle&target=burst&after=%s", cursor);
	free(cursor);
	CHECK_STATUS(r, 200);
	CHECK(jis_null(r->json, "next"));
	CHECK_MSG(jnum(r->json, "scanned_bytes", 0) >= 8 << 20, "the rest: %s", r->body);
}

static void test_stop(void)
{
	check_server_stops(&srv);
}

int main(void)
{
	RUN(test_setup);
	RUN(test_plain_text_with_offsets);
	RUN(test_regex_target_and_time);
	RUN(test_paging_gives_each_match_once);
	RUN(test_bad_parameters);
	RUN(test_bounded_per_request);
	RUN(test_stop);
	return CHECK_EXIT();
}
