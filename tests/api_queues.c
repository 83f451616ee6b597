/* api_queues — /queues of API.md "Shared objects" over HTTP: PUT 201/200/409,
 * GET, list, DELETE answering every kind of waiter 404, unknown names 404,
 * bad options, items, timeouts, leases and receipts 400, task_done 409;
 * FIFO items, getters and putters (a put wakes exactly as many getters as
 * items; a batch put is all or nothing), full/empty at the timeout, leases
 * that lapse put the item back at the head with deliveries counted,
 * task_done and join; a getter whose client vanished takes no item; and
 * QUALITY 24: items (leased ones in flight included) identical after a
 * restart and after a kill -9. QUALITY 22 (workers killed mid-task) is
 * api_queues_lease.c.
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

static struct call *req(const char *method, const char *path, const char *body)
{
	return call(srv, method, path, NULL, body);
}

/* The text of the "item" of a get's answer, e.g. "\"a\"" (caller frees), or NULL. */
static char *item_text(const cJSON *answer)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(answer, "item");
	return item ? cJSON_PrintUnformatted(item) : NULL;
}

/* POST get with query q (e.g. "?timeout=0"): the item's text must be want. */
#define CHECK_GET(name, q, want) do { \
		char p_[160]; \
		snprintf(p_, sizeof p_, "/queues/%s/get%s", (name), (q)); \
		struct call *g_ = req("POST", p_, NULL); \
		char *t_ = item_text(g_->json); \
		bool ok_ = g_->status == 200 && t_ && strcmp(t_, (want)) == 0; \
		free(t_); \
		CHECK_MSG(ok_, "get %s: expected item %s: %ld %.300s", (name), (want), g_->status, g_->body); \
		call_free(g_); \
	} while (0)

static void test_create_get_list_delete(void)
{
	struct call *c = req("PUT", "/queues/jobs", "{\"maxsize\": 5}");
	CHECK_CALL(c, 201);
	CHECK_STR(jstr(c->json, "name"), "jobs");
	CHECK_INT(jint(c->json, "maxsize", -1), 5);
	CHECK_INT(jint(c->json, "size", -1), 0);
	call_free(c);
	CHECK_INT(call_status(srv, "PUT", "/queues/jobs", "{\"maxsize\": 5}"), 200);
	c = req("PUT", "/queues/jobs", "{\"maxsize\": 6}");
	CHECK_CODE(c, 409, "conflict");
	call_free(c);
	CHECK_INT(call_status(srv, "PUT", "/queues/free", NULL), 201);        /* maxsize 0: unbounded */
	CHECK_INT(call_status(srv, "PUT", "/queues/free", "{\"maxsize\": 0}"), 200);
	const char *bad[] = { "{\"maxsize\": -1}", "{\"maxsize\": 1.5}", "{\"maxsize\": \"3\"}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		c = req("PUT", "/queues/bad", bad[i]);
		CHECK_CODE(c, 400, "invalid_argument");
		CHECK_FIELD_OF(c, "maxsize");
		call_free(c);
	}
	c = req("PUT", "/queues/bad", "{\"size\": 3}");
	CHECK_CODE(c, 400, "invalid_argument");
	CHECK_FIELD_OF(c, "size");
	call_free(c);
	c = req("GET", "/queues", NULL);
	CHECK_CALL(c, 200);
	CHECK_MSG(strstr(c->body, "\"name\":\"jobs\"") && strstr(c->body, "\"name\":\"free\"") &&
		  !strstr(c->body, "\"name\":\"bad\""), "list: %s", c->body);
	call_free(c);
	const char *unknown[][2] = { { "GET", "/queues/nope" }, { "DELETE", "/queues/nope" },
				     { "POST", "/queues/nope/put" }, { "POST", "/queues/nope/get" },
				     { "POST", "/queues/nope/task_done" }, { "POST", "/queues/nope/join" } };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		c = req(unknown[i][0], unknown[i][1], strcmp(unknown[i][1], "/queues/nope/put") ? NULL : "{\"item\": 1}");
		CHECK_CODE(c, 404, "not_found");
		call_free(c);
	}
	CHECK_INT(call_status(srv, "DELETE", "/queues/free", NULL), 200);
	CHECK_INT(call_status(srv, "GET", "/queues/free", NULL), 404);
}

static void test_bad_arguments(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/args", "{\"maxsize\": 2}"), 201);
	struct { const char *path, *body, *field; } bad[] = {
		{ "/queues/args/put", "{}", "item" },
		{ "/queues/args/put", "{\"item\": 1, \"items\": [2]}", "item" },
		{ "/queues/args/put", "{\"items\": []}", "items" },
		{ "/queues/args/put", "{\"items\": 3}", "items" },
		{ "/queues/args/put", "{\"items\": [1, 2, 3]}", "items" },        /* never fits in 2 */
		{ "/queues/args/put?timeout=-1", "{\"item\": 1}", "timeout" },
		{ "/queues/args/get?timeout=soon", NULL, "timeout" },
		{ "/queues/args/get?lease=abc", NULL, "lease" },
		{ "/queues/args/get?lease=0", NULL, "lease" },
		{ "/queues/args/get", "{\"lease\": \"10\"}", "lease" },
		{ "/queues/args/get", "{\"lease\": -2}", "lease" },
		{ "/queues/args/join?timeout=x", NULL, "timeout" },
		{ "/queues/args/task_done", "{\"receipt\": 5}", "receipt" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct call *c = req("POST", bad[i].path, bad[i].body);
		CHECK_CODE(c, 400, "invalid_argument");
		CHECK_MSG(strstr(c->body, bad[i].field), "%s %s: no field %s: %s", bad[i].path,
			  bad[i].body ? bad[i].body : "", bad[i].field, c->body);
		call_free(c);
	}
	CHECK_INT(queue_number(srv, "args", "size"), 0);        /* nothing of the refused puts went in */
	struct call *c = req("POST", "/queues/args/task_done", NULL);
	CHECK_CODE(c, 409, "conflict");                 /* more task_done than gets */
	call_free(c);
	c = req("POST", "/queues/args/task_done", "{\"receipt\": \"12345\"}");
	CHECK_CODE(c, 409, "not_owner");
	call_free(c);
	c = req("POST", "/queues/args/frobnicate", NULL);
	CHECK_CALL(c, 404);
	call_free(c);
}

static void test_fifo_items_empty_and_full(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/line", "{\"maxsize\": 3}"), 201);
	struct call *c = req("POST", "/queues/line/put", "{\"item\": {\"n\": 1}}");
	CHECK_CALL(c, 200);
	CHECK_INT(jint(c->json, "size", -1), 1);
	call_free(c);
	c = req("POST", "/queues/line/put", "{\"items\": [\"two\", [3]]}");
	CHECK_CALL(c, 200);
	CHECK_INT(jint(c->json, "size", -1), 3);
	call_free(c);
	double t0 = now_s();
	c = req("POST", "/queues/line/put?timeout=0.3", "{\"item\": 4}");
	CHECK_MSG(c->status == 200 && jis_true(c->json, "full"), "put on a full queue: %s", c->body);
	CHECK_MSG(now_s() - t0 >= 0.25, "full answered before its timeout (%.3f s)", now_s() - t0);
	call_free(c);
	c = req("POST", "/queues/line/put?timeout=0", "{\"item\": 4}");
	CHECK_MSG(c->status == 200 && jis_true(c->json, "full"), "put?timeout=0 on a full queue: %s", c->body);
	call_free(c);
	CHECK_GET("line", "", "{\"n\":1}");
	CHECK_GET("line", "", "\"two\"");
	CHECK_GET("line", "?timeout=0", "[3]");
	c = req("POST", "/queues/line/get?timeout=0", NULL);
	CHECK_MSG(c->status == 200 && jis_true(c->json, "empty") && !cJSON_HasObjectItem(c->json, "item"),
		  "get?timeout=0 on an empty queue: %s", c->body);
	call_free(c);
	t0 = now_s();
	c = req("POST", "/queues/line/get?timeout=0.3", NULL);
	CHECK_MSG(c->status == 200 && jis_true(c->json, "empty"), "get on an empty queue: %s", c->body);
	CHECK_MSG(now_s() - t0 >= 0.25, "empty answered before its timeout (%.3f s)", now_s() - t0);
	call_free(c);
}

/* Five getters in arrival order: a put of two items answers exactly the two oldest. */
static void test_getters_in_arrival_order(void)
{
	enum { N = 5 };
	struct live *w[N];
	const char *want[N] = { "\"a\"", "\"b\"", "\"c\"", "\"d\"", "\"e\"" };
	CHECK_INT(call_status(srv, "PUT", "/queues/crowd", NULL), 201);
	for (int i = 0; i < N; i++) {
		w[i] = live_post(srv, "/queues/crowd/get?timeout=30", NULL);
		CHECK_MSG(queue_number_becomes(srv, "crowd", "getters", i + 1), "getter %d is not waiting", i);
	}
	CHECK_INT(call_status(srv, "POST", "/queues/crowd/put", "{\"items\": [\"a\", \"b\"]}"), 200);
	CHECK_MSG(live_wait_done(w[0], 5) && live_wait_done(w[1], 5), "the two oldest getters got nothing");
	live_pump(0.3);
	for (int i = 2; i < N; i++)
		CHECK_MSG(!w[i]->done, "getter %d woke for a put of 2 items: %s", i, w[i]->body);
	CHECK_INT(queue_number(srv, "crowd", "getters"), 3);
	CHECK_INT(call_status(srv, "POST", "/queues/crowd/put", "{\"items\": [\"c\", \"d\", \"e\"]}"), 200);
	for (int i = 0; i < N; i++) {
		CHECK_MSG(live_wait_done(w[i], 5), "getter %d got nothing", i);
		cJSON *j = live_json(w[i]);
		char *t = item_text(j);
		bool ok = t && strcmp(t, want[i]) == 0;
		free(t);
		cJSON_Delete(j);
		CHECK_MSG(ok, "getter %d (in arrival order) expected %s: %s", i, want[i], w[i]->body);
		live_close(w[i]);
	}
	CHECK_INT(queue_number(srv, "crowd", "size"), 0);
}

/* Blocked putters go in in arrival order; a batch waits until all of it fits. */
static void test_putters_in_arrival_order_all_or_nothing(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/narrow", "{\"maxsize\": 2}"), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/narrow/put", "{\"item\": 0}"), 200);
	struct live *pair = live_post(srv, "/queues/narrow/put?timeout=30", "{\"items\": [1, 2]}");
	CHECK_MSG(queue_number_becomes(srv, "narrow", "putters", 1), "the batch put is not waiting");
	struct live *single = live_post(srv, "/queues/narrow/put?timeout=30", "{\"item\": 3}");
	CHECK_MSG(queue_number_becomes(srv, "narrow", "putters", 2), "the second putter is not waiting");
	live_pump(0.2);
	/* One place is free, but the batch needs two, and the single one is behind it. */
	CHECK_MSG(!pair->done && !single->done, "a putter went in without room: %s | %s", pair->body, single->body);
	CHECK_INT(queue_number(srv, "narrow", "size"), 1);
	CHECK_GET("narrow", "", "0");
	CHECK_MSG(live_wait_done(pair, 5) && strstr(pair->body, "\"size\":2"), "the batch: %s", pair->body);
	live_pump(0.2);
	CHECK_MSG(!single->done, "the later putter went in past a full queue: %s", single->body);
	CHECK_GET("narrow", "", "1");
	CHECK_MSG(live_wait_done(single, 5) && strstr(single->body, "\"size\":2"), "the single: %s", single->body);
	CHECK_GET("narrow", "", "2");
	CHECK_GET("narrow", "", "3");
	live_close(pair);
	live_close(single);
}

/* A blocked putter at the head that times out lets the one behind it in. */
static void test_putter_timing_out_lets_the_next_in(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/tight", "{\"maxsize\": 2}"), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/tight/put", "{\"item\": 0}"), 200);
	struct live *pair = live_post(srv, "/queues/tight/put?timeout=0.5", "{\"items\": [1, 2]}");
	CHECK_MSG(queue_number_becomes(srv, "tight", "putters", 1), "the batch put is not waiting");
	struct live *single = live_post(srv, "/queues/tight/put?timeout=30", "{\"item\": 3}");
	CHECK_MSG(live_wait_done(pair, 5) && strstr(pair->body, "\"full\":true"), "the batch: %s", pair->body);
	CHECK_MSG(live_wait_done(single, 5) && strstr(single->body, "\"size\":2"),
		  "the putter behind a timed-out one: %s", single->body);
	CHECK_GET("tight", "", "0");
	CHECK_GET("tight", "", "3");
	live_close(pair);
	live_close(single);
}

static void test_vanished_getter_takes_nothing(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/ghost", NULL), 201);
	struct live *gone = live_post(srv, "/queues/ghost/get?timeout=30", NULL);
	CHECK_MSG(queue_number_becomes(srv, "ghost", "getters", 1), "the getter is not waiting");
	live_close(gone);               /* its client hangs up while it waits */
	sleep_s(0.1);
	CHECK_INT(call_status(srv, "POST", "/queues/ghost/put", "{\"item\": \"kept\"}"), 200);
	CHECK_INT(queue_number(srv, "ghost", "size"), 1);
	CHECK_GET("ghost", "?timeout=0", "\"kept\"");
}

static void test_lease_lapses_back_to_the_head(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/leased", NULL), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/leased/put", "{\"items\": [\"first\", \"second\"]}"), 200);
	struct call *c = req("POST", "/queues/leased/get?lease=0.3", NULL);
	CHECK_MSG(c->status == 200 && strstr(c->body, "\"item\":\"first\"") && jstr(c->json, "receipt") &&
		  jint(c->json, "deliveries", -1) == 1 && rfc3339_ms(jstr(c->json, "expires_at")),
		  "leased get: %s", c->body);
	char old_receipt[64];
	snprintf(old_receipt, sizeof old_receipt, "%s", jstr(c->json, "receipt"));
	call_free(c);
	CHECK_INT(queue_number(srv, "leased", "in_flight"), 1);
	CHECK_INT(queue_number(srv, "leased", "size"), 1);
	CHECK_INT(queue_number(srv, "leased", "unfinished"), 2);
	sleep_s(0.5);                   /* the lease lapses: "first" is back at the head */
	CHECK_INT(queue_number(srv, "leased", "size"), 2);
	c = req("POST", "/queues/leased/get", "{\"lease\": 30}");
	CHECK_MSG(c->status == 200 && strstr(c->body, "\"item\":\"first\"") && jint(c->json, "deliveries", -1) == 2,
		  "after the lapse: %s", c->body);
	char body[128];
	snprintf(body, sizeof body, "{\"receipt\": \"%s\"}", jstr(c->json, "receipt"));
	CHECK_MSG(strcmp(jstr(c->json, "receipt"), old_receipt) != 0, "a new delivery keeps its receipt: %s", c->body);
	call_free(c);
	char stale[128];
	snprintf(stale, sizeof stale, "{\"receipt\": \"%s\"}", old_receipt);
	c = req("POST", "/queues/leased/task_done", stale);
	CHECK_CODE(c, 409, "not_owner");        /* the lapsed delivery cannot be acknowledged */
	call_free(c);
	c = req("POST", "/queues/leased/task_done", body);
	CHECK_CALL(c, 200);
	CHECK_INT(jint(c->json, "unfinished", -1), 1);
	call_free(c);
	c = req("POST", "/queues/leased/task_done", body);
	CHECK_CODE(c, 409, "not_owner");        /* acknowledged once only */
	call_free(c);
	c = req("POST", "/queues/leased/task_done", NULL);
	CHECK_CODE(c, 409, "conflict");         /* "second" is still queued: nothing to finish */
	call_free(c);
	CHECK_GET("leased", "", "\"second\"");
	c = req("POST", "/queues/leased/get?timeout=0", NULL);
	CHECK_MSG(jis_true(c->json, "empty"), "an acknowledged item came back: %s", c->body);
	call_free(c);
}

static void test_task_done_and_join(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/work", NULL), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/work/put", "{\"items\": [1, 2]}"), 200);
	struct live *joiner = live_post(srv, "/queues/work/join?timeout=30", NULL);
	CHECK_MSG(queue_number_becomes(srv, "work", "joiners", 1), "join is not waiting");
	struct call *c = req("POST", "/queues/work/join?timeout=0.2", NULL);
	CHECK_MSG(c->status == 200 && jint(c->json, "unfinished", -1) == 2, "join at its timeout: %s", c->body);
	call_free(c);
	CHECK_GET("work", "", "1");
	CHECK_GET("work", "", "2");
	CHECK_INT(queue_number(srv, "work", "unfinished"), 2);
	c = req("POST", "/queues/work/task_done", NULL);
	CHECK_MSG(c->status == 200 && jint(c->json, "unfinished", -1) == 1, "task_done: %s", c->body);
	call_free(c);
	live_pump(0.2);
	CHECK_MSG(!joiner->done, "join returned with a task unfinished: %s", joiner->body);
	CHECK_INT(call_status(srv, "POST", "/queues/work/task_done", NULL), 200);
	CHECK_MSG(live_wait_done(joiner, 5) && joiner->status == 200 && strstr(joiner->body, "\"unfinished\":0"),
		  "join after the last task_done: %ld %s", joiner->status, joiner->body);
	live_close(joiner);
	c = req("POST", "/queues/work/join", NULL);
	CHECK_MSG(c->status == 200 && jint(c->json, "unfinished", -1) == 0, "join of a finished queue: %s", c->body);
	call_free(c);
}

static void test_delete_answers_waiters_404(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/doomed", "{\"maxsize\": 1}"), 201);
	struct live *getter = live_post(srv, "/queues/doomed/get?timeout=30", NULL);
	CHECK_MSG(queue_number_becomes(srv, "doomed", "getters", 1), "the getter is not waiting");
	CHECK_INT(call_status(srv, "PUT", "/queues/doomed2", "{\"maxsize\": 1}"), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/doomed2/put", "{\"item\": 1}"), 200);
	struct live *putter = live_post(srv, "/queues/doomed2/put?timeout=30", "{\"item\": 2}");
	struct live *joiner = live_post(srv, "/queues/doomed2/join?timeout=30", NULL);
	CHECK_MSG(queue_number_becomes(srv, "doomed2", "putters", 1) && queue_number_becomes(srv, "doomed2", "joiners", 1),
		  "the putter and joiner are not waiting");
	CHECK_INT(call_status(srv, "DELETE", "/queues/doomed", NULL), 200);
	CHECK_INT(call_status(srv, "DELETE", "/queues/doomed2", NULL), 200);
	struct live *all[] = { getter, putter, joiner };
	for (size_t i = 0; i < 3; i++) {
		CHECK_MSG(live_wait_done(all[i], 5) && all[i]->status == 404 && strstr(all[i]->body, "not_found"),
			  "waiter %zu after DELETE: %ld %s", i, all[i]->status, all[i]->body);
		live_close(all[i]);
	}
}

/* One round: a final get ("taken", not task_done yet), four items, the first
 * of them leased and in flight; after the server ends with sig, the same
 * counts, the leased item back at the head with its delivery counted, the
 * others in order. Leaves the queue empty and finished. */
static void check_state_survives(int sig)
{
	CHECK_INT(call_status(srv, "POST", "/queues/durable/put", "{\"item\": \"taken\"}"), 200);
	CHECK_GET("durable", "", "\"taken\"");
	CHECK_INT(call_status(srv, "POST", "/queues/durable/put", "{\"items\": [{\"k\": \"x\"}, \"y\", [1, 2], 3.5]}"), 200);
	struct call *c = req("POST", "/queues/durable/get?lease=60", NULL);
	CHECK_MSG(strstr(c->body, "{\"k\":\"x\"}") && jint(c->json, "deliveries", -1) == 1, "leased get: %s", c->body);
	call_free(c);
	CHECK_INT(queue_number(srv, "durable", "size"), 3);
	CHECK_INT(queue_number(srv, "durable", "in_flight"), 1);
	CHECK_INT(queue_number(srv, "durable", "unfinished"), 5);
	CHECK_MSG(server_restart(srv, sig) == 0, "the server did not come back after signal %d", sig);
	c = req("GET", "/queues/durable", NULL);
	CHECK_MSG(jint(c->json, "size", -1) == 4 && jint(c->json, "in_flight", -1) == 0 &&
		  jint(c->json, "unfinished", -1) == 5 && jint(c->json, "maxsize", -1) == 10,
		  "after signal %d: %s", sig, c->body);
	call_free(c);
	const char *want[] = { "{\"k\":\"x\"}", "\"y\"", "[1,2]", "3.5" };
	for (int i = 0; i < 4; i++) {
		c = req("POST", "/queues/durable/get?timeout=0", NULL);
		char *t = item_text(c->json);
		bool ok = t && strcmp(t, want[i]) == 0 && jint(c->json, "deliveries", -1) == (i == 0 ? 2 : 1);
		free(t);
		CHECK_MSG(ok, "item %d after signal %d: expected %s: %s", i, sig, want[i], c->body);
		call_free(c);
	}
	for (int i = 0; i < 5; i++)
		CHECK_INT(call_status(srv, "POST", "/queues/durable/task_done", NULL), 200);
	CHECK_INT(queue_number(srv, "durable", "unfinished"), 0);
}

/* Numbers come back as they went in: cJSON's own print keeps only 15 digits
 * (9007199254740991 came back as 9.00719925474099e+15). Compared on the raw
 * body, since a re-print here would lose them as well. */
static void test_items_keep_every_digit(void)
{
	static const char item[] = "[9007199254740991,-4503599627370497,0.30000000000000004,1.2345678901234567e+19]";
	char body[256];
	CHECK_INT(call_status(srv, "PUT", "/queues/digits", "{}"), 201);
	snprintf(body, sizeof body, "{\"item\": %s}", item);
	struct call *c = req("POST", "/queues/digits/put", body);
	CHECK_CALL(c, 200);
	call_free(c);
	c = req("POST", "/queues/digits/get?timeout=1", NULL);
	CHECK_MSG(c->status == 200 && strstr(c->body, item), "expected %s in %.300s", item, c->body);
	call_free(c);
	CHECK_INT(call_status(srv, "PUT", "/namespaces/digits", "{}"), 201);
	CHECK_INT(call_status(srv, "PUT", "/namespaces/digits/keys/k", item), 200);
	c = req("GET", "/namespaces/digits/keys/k", NULL);
	CHECK_MSG(c->status == 200 && strstr(c->body, item), "namespace: expected %s in %.300s", item, c->body);
	call_free(c);
}

static void test_state_survives_restart_and_kill(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/durable", "{\"maxsize\": 10}"), 201);
	check_state_survives(SIGTERM);
	if (check_failure[0])
		return;
	check_state_survives(SIGKILL);
}

static void check_stops(void) { check_server_stops(&srv); }

int main(void)
{
	srv = server_start(NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_create_get_list_delete);
	RUN(test_bad_arguments);
	RUN(test_fifo_items_empty_and_full);
	RUN(test_getters_in_arrival_order);
	RUN(test_putters_in_arrival_order_all_or_nothing);
	RUN(test_putter_timing_out_lets_the_next_in);
	RUN(test_vanished_getter_takes_nothing);
	RUN(test_lease_lapses_back_to_the_head);
	RUN(test_task_done_and_join);
	RUN(test_delete_answers_waiters_404);
	RUN(test_items_keep_every_digit);
	RUN(test_state_survives_restart_and_kill);
	RUN(check_stops);
	return CHECK_EXIT();
}
