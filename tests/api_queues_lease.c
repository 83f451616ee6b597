/* api_queues_lease — QUALITY 22: leased queue items are never lost. 1,000
 * items go through 4 consumer workers (exec targets reaching /queues with
 * their own SPAWND_URL and SPAWND_TOKEN, QUALITY 26); in each of 4 rounds
 * one of them takes an item under a lease and is killed with SIGKILL in the
 * middle of its task. Every item must be acknowledged exactly once, none
 * delivered again after its acknowledgement, and the ones a killed worker
 * held come back with "deliveries" > 1.
 *
 * Each round the test puts 250 items while all 4 consumers wait in get, so
 * the one that stalls (after 3 tasks: a small share even for a consumer the
 * scheduler starves on a loaded machine) is sure to get there; the
 * leases are long (60 s), so an item only comes back through its worker's
 * death. The consumers print "got ID DELIVERIES" for every delivery and
 * "ack ID DELIVERIES" for every task_done answered 200; the test reads their
 * stdout at the end.
 */
#define _GNU_SOURCE
#include "tests/harness.h"
#include "tests/sync_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

CHECK_MAIN_STATE;

enum { ROUNDS = 4, PER_ROUND = 250, ITEMS = ROUNDS * PER_ROUND, STEADY = 3 };

static struct server *srv;
static char consumer_py[256];

/* argv: queue name, how many tasks before it stalls (-1: never). An item
 * "stop" ends it once acknowledged. */
static const char consumer_source[] =
	"import json, os, sys, time, urllib.request, urllib.error\n"
	"url = os.environ['SPAWND_URL'] + '/queues/' + sys.argv[1]\n"
	"hdr = {'Authorization': 'Bearer ' + os.environ['SPAWND_TOKEN'], 'Content-Type': 'application/json'}\n"
	"stall_after = int(sys.argv[2])\n"
	"def post(path, body=b'{}'):\n"
	"    req = urllib.request.Request(url + path, data=body, method='POST', headers=hdr)\n"
	"    try:\n"
	"        with urllib.request.urlopen(req) as r:\n"
	"            return r.status, json.loads(r.read())\n"
	"    except urllib.error.HTTPError as e:\n"
	"        return e.code, json.loads(e.read())\n"
	"done = 0\n"
	"while True:\n"
	"    st, a = post('/get?timeout=60&lease=60')\n"
	"    if st != 200 or a.get('empty'):\n"
	"        print('get', st, a, flush=True)\n"
	"        continue\n"
	"    print('got', a['item'], a['deliveries'], flush=True)\n"
	"    if done == stall_after:\n"
	"        print('stall', flush=True)\n"
	"        time.sleep(600)\n"
	"    done += 1\n"
	"    st, _ = post('/task_done', json.dumps({'receipt': a['receipt']}).encode())\n"
	"    print('ack' if st == 200 else 'nack', a['item'], a['deliveries'], flush=True)\n"
	"    if a['item'] == 'stop':\n"
	"        break\n";

static long long getters(void)
{
	struct call *c = call(srv, "GET", "/queues/tasks", NULL, NULL);
	long long n = jint(c->json, "getters", -1);
	call_free(c);
	return n;
}

/* Starts a consumer; its id in id. */
static bool start_consumer(int stall_after, char id[ID_CAP])
{
	char body[512];
	snprintf(body, sizeof body, "{\"target\": \"agent\", \"args\": [\"exec /usr/bin/python3 %s tasks %d\"]}",
		 consumer_py, stall_after);
	struct resp *r = spawn(srv, body, -1);
	bool ok = r->status == 201 && take_id(r, id);
	resp_free(r);
	return ok;
}

static bool stdout_has(const char *id, const char *needle, double timeout_s)
{
	for (double deadline = now_s() + timeout_s; now_s() < deadline; sleep_s(0.02)) {
		struct resp *r = output_raw(srv, id, "stdout");
		bool has = r->body && strstr(r->body, needle);
		resp_free(r);
		if (has)
			return true;
	}
	return false;
}

/* What the consumers' lines say about item i. */
struct seen {
	int acks, nacks;
	long ack_deliveries;            /* of its acknowledgement */
	long max_got;                   /* the highest delivery seen */
};

static void tally(const char *out, struct seen *s)
{
	char word[8], item[32];
	long deliveries;
	for (const char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (sscanf(line, "%7s %31s %ld", word, item, &deliveries) != 3)
			continue;
		char *end;
		long i = strtol(item, &end, 10);
		if (*end || i < 0 || i >= ITEMS)
			continue;               /* the stop pills */
		if (strcmp(word, "got") == 0) {
			if (deliveries > s[i].max_got)
				s[i].max_got = deliveries;
		} else if (strcmp(word, "ack") == 0) {
			s[i].acks++;
			s[i].ack_deliveries = deliveries;
		} else if (strcmp(word, "nack") == 0)
			s[i].nacks++;
	}
}

/* One round: a fresh consumer that stalls, 250 items, the kill, then join. */
static void run_round(int round, char killed[ID_CAP])
{
	char body[PER_ROUND * 8 + 32], path[160];
	CHECK_MSG(start_consumer(3, killed), "round %d: cannot start the consumer that stalls", round);
	for (double deadline = now_s() + 20; getters() < STEADY + 1 && now_s() < deadline;)
		sleep_s(0.02);
	CHECK_MSG(getters() == STEADY + 1, "round %d: %lld consumers wait, not %d", round, getters(), STEADY + 1);
	size_t len = (size_t)snprintf(body, sizeof body, "{\"items\": [");
	for (int i = 0; i < PER_ROUND; i++)
		len += (size_t)snprintf(body + len, sizeof body - len, "%s%d", i ? "," : "", round * PER_ROUND + i);
	snprintf(body + len, sizeof body - len, "]}");
	CHECK_INT(call_status(srv, "POST", "/queues/tasks/put", body), 200);
	if (!stdout_has(killed, "stall", 30)) {
		char said[400];
		struct resp *r = output_raw(srv, killed, "stdout");
		snprintf(said, sizeof said, "%s", r->body ? r->body : "");
		resp_free(r);
		CHECK_MSG(false, "round %d: the consumer never got to its stall; its stdout: %s", round, said);
	}
	snprintf(path, sizeof path, "/processes/%s/kill", killed);
	CHECK_INT(call_status(srv, "POST", path, NULL), 202);
	struct call *c = call(srv, "POST", "/queues/tasks/join?timeout=60", NULL, NULL);
	CHECK_MSG(c->status == 200 && jint(c->json, "unfinished", -1) == 0, "round %d: join: %s", round, c->body);
	call_free(c);
}

static void test_thousand_leased_items_through_killed_consumers(void)
{
	char steady[STEADY][ID_CAP], killed[ROUNDS][ID_CAP];
	static struct seen seen[ITEMS];
	CHECK_INT(call_status(srv, "PUT", "/queues/tasks", NULL), 201);
	for (int i = 0; i < STEADY; i++)
		CHECK_MSG(start_consumer(-1, steady[i]), "cannot start consumer %d", i);
	for (int r = 0; r < ROUNDS; r++) {
		run_round(r, killed[r]);
		if (check_failure[0])
			return;
	}
	CHECK_INT(call_status(srv, "POST", "/queues/tasks/put", "{\"items\": [\"stop\", \"stop\", \"stop\"]}"), 200);
	for (int i = 0; i < STEADY; i++) {
		struct resp *j = join(srv, steady[i], 30);
		CHECK_MSG(j->status == 200 && jint(j->json, "exitcode", -1) == 0, "consumer %d: " RESP_FMT, i,
			  RESP_ARGS(j));
		resp_free(j);
	}
	for (int w = 0; w < STEADY + ROUNDS; w++) {
		struct resp *r = output_raw(srv, w < STEADY ? steady[w] : killed[w - STEADY], "stdout");
		tally(r->body, seen);
		resp_free(r);
	}
	int retried = 0;
	for (int i = 0; i < ITEMS; i++) {
		CHECK_MSG(seen[i].acks == 1 && seen[i].nacks == 0, "item %d acknowledged %d times (%d refused)", i,
			  seen[i].acks, seen[i].nacks);
		CHECK_MSG(seen[i].max_got == seen[i].ack_deliveries,
			  "item %d delivered again (delivery %ld) after its acknowledgement (delivery %ld)", i,
			  seen[i].max_got, seen[i].ack_deliveries);
		if (seen[i].ack_deliveries > 1)
			retried++;
	}
	/* Each killed consumer held one item; it came back, delivered again. */
	CHECK_MSG(retried == ROUNDS, "%d items were delivered more than once, not the %d killed consumers held",
		  retried, ROUNDS);
	struct call *c = call(srv, "GET", "/queues/tasks", NULL, NULL);
	CHECK_MSG(jint(c->json, "size", -1) == 0 && jint(c->json, "in_flight", -1) == 0 &&
		  jint(c->json, "unfinished", -1) == 0, "at the end: %s", c->body);
	call_free(c);
}

static void check_stops(void) { check_server_stops(&srv); }

int main(void)
{
	snprintf(consumer_py, sizeof consumer_py, "/tmp/spawnd-consumer-%d.py", (int)getpid());
	FILE *f = fopen(consumer_py, "w");
	if (!f || fputs(consumer_source, f) < 0 || fclose(f) != 0) {
		printf("FAIL setup: cannot write %s\n", consumer_py);
		return 1;
	}
	srv = server_start_targets(AGENT_TARGETS, NULL);
	if (!srv) {
		unlink(consumer_py);
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_thousand_leased_items_through_killed_consumers);
	RUN(check_stops);
	unlink(consumer_py);
	return CHECK_EXIT();
}
