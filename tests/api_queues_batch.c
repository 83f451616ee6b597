/* api_queues_batch — two extensions of /queues: a queue's batch get, POST /queues/{name}/get?max=N
 * (openapi "QueueBatch"): up to N items at once, at least one unless the
 * timeout passes; FIFO across batch and single gets and among waiting
 * getters of both shapes; one receipt per item under a lease, each
 * acknowledged on its own, the ones not acknowledged back at the head in
 * their order when the lease lapses, when its worker is killed, or after a
 * kill -9 of the server; task_done counts items, not batches; max outside
 * 1..1000 is 400 naming the field. And a queue created "durable": false:
 * said so in its answers, an option like any other (409 against a durable
 * one of the same name), working as a queue, gone after a restart.
 */
#define _GNU_SOURCE
#include "tests/harness.h"
#include "tests/sync_client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static struct server *srv;
static char take_py[256];

/* A worker's program: a batch get of 3 items under a 60 s lease with its
 * own token, the answer printed, then asleep until it is killed. */
static const char take_source[] =
	"import os, sys, time, urllib.request\n"
	"req = urllib.request.Request(os.environ['SPAWND_URL'] + '/queues/' + sys.argv[1] + '/get?max=3&lease=60',\n"
	"    data=b'{}', method='POST', headers={'Authorization': 'Bearer ' + os.environ['SPAWND_TOKEN'],\n"
	"    'Content-Type': 'application/json'})\n"
	"print(urllib.request.urlopen(req).read().decode(), flush=True)\n"
	"time.sleep(60)\n";

static struct call *req(const char *method, const char *path, const char *body)
{
	return call(srv, method, path, NULL, body);
}

/* The compact text of answer's member key ("[1,2]"), or "" (static buffer). */
static const char *text_of(const cJSON *answer, const char *key)
{
	static char buf[512];
	char *t = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(answer, key));
	snprintf(buf, sizeof buf, "%s", t ? t : "");
	free(t);
	return buf;
}

/* POST …/get QUERY on name: its items must print as items, its deliveries as deliveries. */
#define CHECK_BATCH(name, query, items, deliveries) do { \
		char p_[160]; \
		snprintf(p_, sizeof p_, "/queues/%s/get%s", (name), (query)); \
		struct call *g_ = req("POST", p_, NULL); \
		CHECK_MSG(g_->status == 200 && strcmp(text_of(g_->json, "items"), (items)) == 0 && \
			  strcmp(text_of(g_->json, "deliveries"), (deliveries)) == 0, \
			  "get%s: expected items %s deliveries %s: %ld %.300s", (query), (items), (deliveries), \
			  g_->status, g_->body); \
		call_free(g_); \
	} while (0)

static void test_fifo_across_batch_and_single_gets(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/mixed", NULL), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/mixed/put", "{\"items\": [1, 2, 3, 4, 5, 6, 7]}"), 200);
	CHECK_BATCH("mixed", "?max=3", "[1,2,3]", "[1,1,1]");
	struct call *c = req("POST", "/queues/mixed/get", NULL);
	CHECK_MSG(c->status == 200 && strcmp(text_of(c->json, "item"), "4") == 0 &&
		  !cJSON_GetObjectItemCaseSensitive(c->json, "items"),
		  "a single get between batches: %s", c->body);
	call_free(c);
	CHECK_BATCH("mixed", "?max=10", "[5,6,7]", "[1,1,1]");        /* fewer than max: what there is */
	c = req("POST", "/queues/mixed/get?max=5&timeout=0", NULL);
	CHECK_MSG(c->status == 200 && jis_true(c->json, "empty") && strcmp(text_of(c->json, "items"), "[]") == 0,
		  "a batch get of an empty queue: %s", c->body);
	call_free(c);
	/* task_done counts the items of a batch, not the batches. */
	CHECK_INT(queue_number(srv, "mixed", "unfinished"), 7);
	for (int i = 0; i < 7; i++)
		CHECK_INT(call_status(srv, "POST", "/queues/mixed/task_done", NULL), 200);
	CHECK_INT(call_status(srv, "POST", "/queues/mixed/task_done", NULL), 409);
	CHECK_INT(queue_number(srv, "mixed", "unfinished"), 0);
}

/* Waiting getters of both shapes are served in arrival order; a batch
 * getter takes up to its max, and is answered as soon as one item comes. */
static void test_waiting_batch_getters_in_arrival_order(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/waits", NULL), 201);
	struct live *batch = live_post(srv, "/queues/waits/get?max=3&timeout=30", NULL);
	CHECK_MSG(queue_number_becomes(srv, "waits", "getters", 1), "the batch getter is not waiting");
	struct live *single = live_post(srv, "/queues/waits/get?timeout=30", NULL);
	CHECK_MSG(queue_number_becomes(srv, "waits", "getters", 2), "the single getter is not waiting");
	CHECK_INT(call_status(srv, "POST", "/queues/waits/put", "{\"items\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}"), 200);
	CHECK_MSG(live_wait_done(batch, 5) && live_wait_done(single, 5), "a waiting getter got nothing");
	cJSON *b = live_json(batch), *s = live_json(single);
	CHECK_MSG(strcmp(text_of(b, "items"), "[\"a\",\"b\",\"c\"]") == 0, "the older, batch getter: %s", batch->body);
	CHECK_MSG(strcmp(text_of(s, "item"), "\"d\"") == 0, "the single getter behind it: %s", single->body);
	cJSON_Delete(b);
	cJSON_Delete(s);
	live_close(batch);
	live_close(single);
	CHECK_INT(queue_number(srv, "waits", "size"), 1);
	CHECK_BATCH("waits", "?max=50", "[\"e\"]", "[1]");
	batch = live_post(srv, "/queues/waits/get?max=50&timeout=30", NULL);
	CHECK_MSG(queue_number_becomes(srv, "waits", "getters", 1), "the second batch getter is not waiting");
	CHECK_INT(call_status(srv, "POST", "/queues/waits/put", "{\"item\": \"f\"}"), 200);
	CHECK_MSG(live_wait_done(batch, 5) && strstr(batch->body, "\"items\":[\"f\"]"),
		  "one item answers a waiting batch get at once: %s", batch->body);
	live_close(batch);
	/* A batch getter whose client hung up takes nothing. */
	struct live *gone = live_post(srv, "/queues/waits/get?max=5&timeout=30", NULL);
	CHECK_MSG(queue_number_becomes(srv, "waits", "getters", 1), "the vanishing getter is not waiting");
	live_close(gone);
	sleep_s(0.1);
	CHECK_INT(call_status(srv, "POST", "/queues/waits/put", "{\"items\": [\"g\", \"h\"]}"), 200);
	CHECK_INT(queue_number(srv, "waits", "size"), 2);
}

/* The receipts of a batch's answer, copied (up to 8). */
static int receipts_of(const cJSON *answer, char out[8][48])
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(answer, "receipts"), *each;
	int n = 0;
	cJSON_ArrayForEach(each, r)
		if (n < 8 && cJSON_IsString(each))
			snprintf(out[n++], 48, "%s", each->valuestring);
	return n;
}

static long ack(const char *name, const char *receipt)
{
	char path[160], body[128];
	snprintf(path, sizeof path, "/queues/%s/task_done", name);
	snprintf(body, sizeof body, "{\"receipt\": \"%s\"}", receipt);
	return call_status(srv, "POST", path, body);
}

static void test_leased_batch_receipts_each_and_lapse(void)
{
	char r[8][48];
	CHECK_INT(call_status(srv, "PUT", "/queues/lb", NULL), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/lb/put", "{\"items\": [\"p\", \"q\", \"r\", \"s\"]}"), 200);
	struct call *c = req("POST", "/queues/lb/get?max=3&lease=0.5", NULL);
	int n = receipts_of(c->json, r);
	CHECK_MSG(c->status == 200 && n == 3 && strcmp(r[0], r[1]) && strcmp(r[1], r[2]) && strcmp(r[0], r[2]) &&
		  jstr(c->json, "owner") && rfc3339_ms(jstr(c->json, "expires_at")),
		  "a leased batch: three receipts, one owner and expiry: %s", c->body);
	call_free(c);
	CHECK_INT(queue_number(srv, "lb", "in_flight"), 3);
	CHECK_INT(ack("lb", r[1]), 200);                /* "q" done */
	CHECK_INT(ack("lb", r[1]), 409);                /* once only */
	char forged[64];
	snprintf(forged, sizeof forged, "%.40s9", r[2]);
	CHECK_INT(ack("lb", forged), 409);
	CHECK_INT(queue_number(srv, "lb", "in_flight"), 2);
	CHECK_INT(queue_number(srv, "lb", "unfinished"), 3);
	sleep_s(0.8);                   /* the lease lapses: "p" and "r" back at the head, in order */
	CHECK_INT(queue_number(srv, "lb", "in_flight"), 0);
	CHECK_INT(ack("lb", r[0]), 409);
	CHECK_BATCH("lb", "?max=10&lease=30", "[\"p\",\"r\",\"s\"]", "[2,2,1]");
}

/* Starts the worker of take_py on queue name; its id in id. */
static bool start_taker(const char *name, char id[ID_CAP])
{
	char body[512];
	snprintf(body, sizeof body, "{\"target\": \"agent\", \"args\": [\"exec /usr/bin/python3 %s %s\"]}", take_py, name);
	struct call *c = req("POST", "/processes", body);
	bool ok = c->status == 201 && jstr(c->json, "id");
	if (ok)
		snprintf(id, ID_CAP, "%s", jstr(c->json, "id"));
	call_free(c);
	return ok;
}

static void test_killed_worker_gives_its_batch_back(void)
{
	char id[ID_CAP], path[160];
	CHECK_INT(call_status(srv, "PUT", "/queues/wb", NULL), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/wb/put", "{\"items\": [\"w1\", \"w2\", \"w3\", \"w4\"]}"), 200);
	CHECK_MSG(start_taker("wb", id), "the worker did not start");
	CHECK_MSG(queue_number_becomes(srv, "wb", "in_flight", 3), "the worker did not take its batch");
	CHECK_INT(queue_number(srv, "wb", "size"), 1);
	snprintf(path, sizeof path, "/processes/%s/kill", id);
	CHECK_INT(call_status(srv, "POST", path, NULL), 202);
	CHECK_MSG(queue_number_becomes(srv, "wb", "size", 4), "the killed worker's items did not come back");
	CHECK_BATCH("wb", "?max=10", "[\"w1\",\"w2\",\"w3\",\"w4\"]", "[2,2,2,1]");
}

static void test_max_out_of_bounds_400(void)
{
	const char *bad[] = { "0", "-1", "1.5", "abc", "", "1001", "1e9", "nan" };
	char path[96];
	CHECK_INT(call_status(srv, "PUT", "/queues/bounds", NULL), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/bounds/put", "{\"item\": 1}"), 200);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(path, sizeof path, "/queues/bounds/get?timeout=0&max=%s", bad[i]);
		struct call *c = req("POST", path, NULL);
		CHECK_CODE(c, 400, "invalid_argument");
		CHECK_FIELD_OF(c, "max");
		CHECK_MSG(strstr(c->body, "from 1 to 1000"), "max=%s: the message says the bounds: %s", bad[i], c->body);
		call_free(c);
	}
	CHECK_INT(queue_number(srv, "bounds", "size"), 1);      /* a refused get takes nothing */
	CHECK_BATCH("bounds", "?max=1000", "[1]", "[1]");
}

/* A leased batch in flight when the server is killed is back at the head,
 * in order, with its deliveries counted. */
static void test_batch_in_flight_survives_kill(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/kb", NULL), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/kb/put", "{\"items\": [\"a\", \"b\", \"c\"]}"), 200);
	struct call *c = req("POST", "/queues/kb/get?max=2&lease=60", NULL);
	CHECK_MSG(c->status == 200 && strstr(c->body, "\"items\":[\"a\",\"b\"]"), "leased batch: %s", c->body);
	call_free(c);
	CHECK_MSG(server_restart(srv, SIGKILL) == 0, "the server did not come back after kill -9");
	CHECK_INT(queue_number(srv, "kb", "size"), 3);
	CHECK_BATCH("kb", "?max=10", "[\"a\",\"b\",\"c\"]", "[2,2,1]");
}

/* Batches stored as one row each, got in part (final, leased, final) across
 * their bounds, then the server killed: the leased items back at the head
 * with their delivery counted, the rest in order, nothing got twice; and
 * after one more kill -9 with all of it gone, nothing comes back. */
static void test_partly_got_batches_survive_kill(void)
{
	CHECK_INT(call_status(srv, "PUT", "/queues/pk", NULL), 201);
	CHECK_INT(call_status(srv, "POST", "/queues/pk/put", "{\"items\": [1, 2, 3, 4, 5]}"), 200);
	CHECK_INT(call_status(srv, "POST", "/queues/pk/put", "{\"items\": [6, 7, 8, 9, 10]}"), 200);
	CHECK_BATCH("pk", "?max=3", "[1,2,3]", "[1,1,1]");
	CHECK_BATCH("pk", "?max=4&lease=60", "[4,5,6,7]", "[1,1,1,1]");
	CHECK_BATCH("pk", "?max=1", "[8]", "[1]");
	CHECK_MSG(server_restart(srv, SIGKILL) == 0, "the server did not come back after kill -9");
	CHECK_INT(queue_number(srv, "pk", "size"), 6);
	CHECK_INT(queue_number(srv, "pk", "unfinished"), 10);
	CHECK_BATCH("pk", "?max=2", "[4,5]", "[2,2]");
	CHECK_BATCH("pk", "?max=10", "[6,7,9,10]", "[2,2,1,1]");
	CHECK_MSG(server_restart(srv, SIGKILL) == 0, "the server did not come back after kill -9");
	CHECK_INT(queue_number(srv, "pk", "size"), 0);
	CHECK_INT(queue_number(srv, "pk", "unfinished"), 10);
	CHECK_BATCH("pk", "?max=10&timeout=0", "[]", "");
}

static void test_in_memory_queue_is_gone_after_a_restart(void)
{
	struct call *c = req("PUT", "/queues/fast", "{\"durable\": false}");
	CHECK_MSG(c->status == 201 && jis_false(c->json, "durable"), "create in memory: %s", c->body);
	call_free(c);
	CHECK_INT(call_status(srv, "PUT", "/queues/fast", "{\"durable\": false, \"maxsize\": 0}"), 200);
	CHECK_INT(call_status(srv, "PUT", "/queues/fast", NULL), 409);         /* a durable one is another queue */
	c = req("PUT", "/queues/fast2", "{\"durable\": \"no\"}");
	CHECK_CODE(c, 400, "invalid_argument");
	CHECK_FIELD_OF(c, "durable");
	call_free(c);
	c = req("PUT", "/queues/kept", "{\"durable\": true}");
	CHECK_MSG(c->status == 201 && jis_true(c->json, "durable"), "durable true is the default: %s", c->body);
	call_free(c);
	CHECK_INT(call_status(srv, "PUT", "/queues/kept", NULL), 200);
	CHECK_INT(call_status(srv, "POST", "/queues/fast/put", "{\"items\": [1, 2, 3]}"), 200);
	CHECK_INT(call_status(srv, "POST", "/queues/kept/put", "{\"items\": [1, 2, 3]}"), 200);
	CHECK_BATCH("fast", "?max=2", "[1,2]", "[1,1]");
	CHECK_MSG(server_restart(srv, SIGTERM) == 0, "the server did not come back");
	CHECK_INT(call_status(srv, "GET", "/queues/fast", NULL), 404);
	CHECK_INT(queue_number(srv, "kept", "size"), 3);
}

static void check_stops(void) { check_server_stops(&srv); }

int main(void)
{
	snprintf(take_py, sizeof take_py, "/tmp/spawnd-take-%d.py", (int)getpid());
	FILE *f = fopen(take_py, "w");
	if (!f || fputs(take_source, f) < 0 || fclose(f) != 0) {
		printf("FAIL setup: cannot write %s\n", take_py);
		return 1;
	}
	srv = server_start_targets(AGENT_TARGETS, NULL);
	if (!srv) {
		unlink(take_py);
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_fifo_across_batch_and_single_gets);
	RUN(test_waiting_batch_getters_in_arrival_order);
	RUN(test_leased_batch_receipts_each_and_lapse);
	RUN(test_killed_worker_gives_its_batch_back);
	RUN(test_max_out_of_bounds_400);
	RUN(test_batch_in_flight_survives_kill);
	RUN(test_partly_got_batches_survive_kill);
	RUN(test_in_memory_queue_is_gone_after_a_restart);
	RUN(check_stops);
	unlink(take_py);
	return CHECK_EXIT();
}
