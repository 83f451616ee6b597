/* api_sync_death — shared objects when holders die and clients vanish, and
 * across restarts:
 *   QUALITY 21  a worker that took a lock with its SPAWND_TOKEN and is killed
 *               with SIGKILL frees it within 1 s; the next holder sees
 *               "abandoned": true and a larger fence
 *   QUALITY 23  100 waiters on an Event all return once it is set; lock
 *               waiters are served in arrival order; a waiter whose client
 *               closed its connection takes nothing
 *   QUALITY 24  event flags and fences are the same after a restart and
 *               after a kill -9 of the server (fences never go back)
 *   QUALITY 26  the worker's token reaches the shared objects (the lock above)
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
static char hold_py[256];

/* A worker's program: acquires /sync/locks/NAME with its own token, prints
 * the answer, then sleeps until it is killed. */
static const char hold_source[] =
	"import json, os, sys, time, urllib.request\n"
	"req = urllib.request.Request(os.environ['SPAWND_URL'] + '/sync/locks/' + sys.argv[1] + '/acquire',\n"
	"    data=b'{}', method='POST', headers={'Authorization': 'Bearer ' + os.environ['SPAWND_TOKEN'],\n"
	"    'Content-Type': 'application/json'})\n"
	"print(urllib.request.urlopen(req).read().decode(), flush=True)\n"
	"time.sleep(60)\n";

/* Waits up to 10 s for process id's stdout to hold needle. */
static bool stdout_has(const char *id, const char *needle, char *out, size_t cap)
{
	char path[192];
	snprintf(path, sizeof path, "/processes/%s", id);
	for (double deadline = now_s() + 10; now_s() < deadline; sleep_s(0.02)) {
		struct call *c = call(srv, "GET", path, NULL, NULL);
		const char *o = jstr(c->json, "stdout");
		bool has = o && strstr(o, needle);
		if (has)
			snprintf(out, cap, "%s", o);
		call_free(c);
		if (has)
			return true;
	}
	return false;
}

static void test_killed_worker_frees_its_lock(void)
{
	char body[512], id[ID_CAP], out[4096], path[160];
	CHECK_INT(call_status(srv, "PUT", "/sync/locks/held", NULL), 201);
	snprintf(body, sizeof body, "{\"target\": \"agent\", \"args\": [\"exec /usr/bin/python3 %s held\"]}", hold_py);
	struct call *c = call(srv, "POST", "/processes", NULL, body);
	CHECK_MSG(c->status == 201 && jstr(c->json, "id"), "spawn: %s", c->body);
	snprintf(id, sizeof id, "%s", jstr(c->json, "id"));
	call_free(c);
	CHECK_MSG(stdout_has(id, "\"acquired\":true", out, sizeof out), "the worker did not get the lock");
	const char *answer = strstr(out, "{\"acquired\"");
	cJSON *grant = answer ? cJSON_Parse(answer) : NULL;
	CHECK_MSG(grant && strcmp(jstr(grant, "owner"), id) == 0 && jis_null(grant, "expires_at"),
		  "a worker's grant is its own, without a lease: %s", out);
	long long fence = jint(grant, "fence", -1);
	cJSON_Delete(grant);
	c = call(srv, "GET", "/sync/locks/held", NULL, NULL);
	CHECK_MSG(strstr(c->body, "\"worker\":true") && jis_true(c->json, "locked"), "describe: %s", c->body);
	call_free(c);

	struct live *next = live_post(srv, "/sync/locks/held/acquire?timeout=20", "{\"lease\": 30}");
	live_pump(0.2);
	CHECK_MSG(!next->done, "the lock was granted while its worker held it: %s", next->body);
	snprintf(path, sizeof path, "/processes/%s/kill", id);
	CHECK_INT(call_status(srv, "POST", path, NULL), 202);
	double killed = now_s();
	CHECK_MSG(live_wait_done(next, 10), "the lock of a killed worker was not released");
	double took = now_s() - killed;
	cJSON *j = live_json(next);
	CHECK_MSG(j && jis_true(j, "acquired") && jis_true(j, "abandoned") && jint(j, "fence", -1) > fence,
		  "next holder after the kill: %s (worker's fence %lld)", next->body, fence);
	cJSON_Delete(j);
	live_close(next);
	CHECK_MSG(took < 1.0, "released %.3f s after SIGKILL (QUALITY 21: within 1 s)", took);
}

static void test_hundred_event_waiters_all_return(void)
{
	enum { N = 100 };
	struct live *w[N];
	CHECK_INT(call_status(srv, "PUT", "/sync/events/crowd", NULL), 201);
	for (int i = 0; i < N; i++)
		w[i] = live_post(srv, "/sync/events/crowd/wait?timeout=30", NULL);
	for (double deadline = now_s() + 10; now_s() < deadline; live_pump(0.05)) {
		struct call *c = call(srv, "GET", "/sync/events/crowd", NULL, NULL);
		long n = (long)jint(c->json, "waiters", -1);
		call_free(c);
		if (n == N)
			break;
	}
	CHECK_INT(call_status(srv, "POST", "/sync/events/crowd/set", NULL), 200);
	int ok = 0;
	for (int i = 0; i < N; i++) {
		if (live_wait_done(w[i], 10) && w[i]->status == 200 && strstr(w[i]->body, "\"set\":true"))
			ok++;
		live_close(w[i]);
	}
	CHECK_MSG(ok == N, "%d of %d waiters returned set", ok, N);
}

static long waiters_of(const char *path)
{
	struct call *c = call(srv, "GET", path, NULL, NULL);
	long n = (long)jint(c->json, "waiters", -1);
	call_free(c);
	return n;
}

static char *owner_of(const struct live *l)
{
	cJSON *j = live_json(l);
	char *o = j && jstr(j, "owner") ? strdup(jstr(j, "owner")) : NULL;
	cJSON_Delete(j);
	return o;
}

static void test_lock_waiters_in_arrival_order(void)
{
	enum { N = 5 };
	struct live *w[N];
	char first[64] = "";
	CHECK_INT(call_status(srv, "PUT", "/sync/locks/line", NULL), 201);
	struct call *c = call(srv, "POST", "/sync/locks/line/acquire", NULL, "{\"lease\": 30}");
	snprintf(first, sizeof first, "%s", jstr(c->json, "owner") ? jstr(c->json, "owner") : "");
	call_free(c);
	for (int i = 0; i < N; i++) {
		w[i] = live_post(srv, "/sync/locks/line/acquire?timeout=30", "{\"lease\": 30}");
		for (double deadline = now_s() + 5; waiters_of("/sync/locks/line") < i + 1 && now_s() < deadline;)
			live_pump(0.01);
	}
	char *holder = strdup(first);
	for (int i = 0; i < N; i++) {
		char body[128];
		snprintf(body, sizeof body, "{\"owner\": \"%s\"}", holder);
		CHECK_INT(call_status(srv, "POST", "/sync/locks/line/release", body), 200);
		CHECK_MSG(live_wait_done(w[i], 5), "waiter %d (in arrival order) did not get the lock", i);
		for (int k = i + 1; k < N; k++)
			CHECK_MSG(!w[k]->done, "waiter %d got the lock before waiter %d", k, i);
		free(holder);
		holder = owner_of(w[i]);
		CHECK(holder);
	}
	free(holder);
	for (int i = 0; i < N; i++)
		live_close(w[i]);
}

static void test_vanished_waiter_takes_nothing(void)
{
	char owner[64];
	CHECK_INT(call_status(srv, "PUT", "/sync/locks/ghost", NULL), 201);
	struct call *c = call(srv, "POST", "/sync/locks/ghost/acquire", NULL, "{\"lease\": 30}");
	snprintf(owner, sizeof owner, "%s", jstr(c->json, "owner") ? jstr(c->json, "owner") : "");
	long long fence = jint(c->json, "fence", -1);
	call_free(c);
	struct live *gone = live_post(srv, "/sync/locks/ghost/acquire?timeout=30", "{\"lease\": 30}");
	for (double deadline = now_s() + 5; waiters_of("/sync/locks/ghost") < 1 && now_s() < deadline;)
		live_pump(0.01);
	live_close(gone);               /* its client hangs up while it waits */
	sleep_s(0.1);
	char body[128];
	snprintf(body, sizeof body, "{\"owner\": \"%s\"}", owner);
	CHECK_INT(call_status(srv, "POST", "/sync/locks/ghost/release", body), 200);
	c = call(srv, "GET", "/sync/locks/ghost", NULL, NULL);
	CHECK_MSG(jis_false(c->json, "locked") && jint(c->json, "fence", -1) == fence,
		  "the vanished waiter was granted the lock: %s", c->body);
	call_free(c);
	c = call(srv, "POST", "/sync/locks/ghost/acquire?timeout=0", NULL, "{\"lease\": 30}");
	CHECK_MSG(jis_true(c->json, "acquired") && jis_false(c->json, "abandoned"), "next: %s", c->body);
	call_free(c);
}

/* The event flag and the lock's next fence after the server ends with sig. */
static void check_state_survives(int sig)
{
	long long before = -1, after = -1;
	for (int i = 0; i < 3; i++) {
		struct call *c = call(srv, "POST", "/sync/locks/durable/acquire", NULL, "{\"lease\": 30}");
		before = jint(c->json, "fence", -1);
		char body[128];
		snprintf(body, sizeof body, "{\"owner\": \"%s\"}", jstr(c->json, "owner") ? jstr(c->json, "owner") : "");
		call_free(c);
		CHECK_INT(call_status(srv, "POST", "/sync/locks/durable/release", body), 200);
	}
	CHECK_INT(call_status(srv, "POST", "/sync/events/flag/set", NULL), 200);
	CHECK_INT(call_status(srv, "POST", "/sync/events/unset/clear", NULL), 200);
	CHECK_MSG(server_restart(srv, sig) == 0, "the server did not come back after signal %d", sig);
	struct call *c = call(srv, "GET", "/sync/events/flag", NULL, NULL);
	CHECK_MSG(c->status == 200 && jis_true(c->json, "set"), "event after signal %d: %s", sig, c->body);
	call_free(c);
	c = call(srv, "GET", "/sync/events/unset", NULL, NULL);
	CHECK_MSG(c->status == 200 && jis_false(c->json, "set"), "event after signal %d: %s", sig, c->body);
	call_free(c);
	c = call(srv, "GET", "/sync/semaphores/slots", NULL, NULL);
	CHECK_MSG(c->status == 200 && jint(c->json, "value", -1) == 3, "semaphore after signal %d: %s", sig, c->body);
	call_free(c);
	c = call(srv, "POST", "/sync/locks/durable/acquire", NULL, "{\"lease\": 30}");
	after = jint(c->json, "fence", -1);
	char body[128];
	snprintf(body, sizeof body, "{\"owner\": \"%s\"}", jstr(c->json, "owner") ? jstr(c->json, "owner") : "");
	call_free(c);
	CHECK_MSG(after > before, "fence %lld after signal %d, %lld before: fences must never go back", after, sig,
		  before);
	CHECK_INT(call_status(srv, "POST", "/sync/locks/durable/release", body), 200);
}

static void test_state_survives_restart_and_kill(void)
{
	CHECK_INT(call_status(srv, "PUT", "/sync/locks/durable", NULL), 201);
	CHECK_INT(call_status(srv, "PUT", "/sync/events/flag", NULL), 201);
	CHECK_INT(call_status(srv, "PUT", "/sync/events/unset", NULL), 201);
	CHECK_INT(call_status(srv, "PUT", "/sync/semaphores/slots", "{\"value\": 2}"), 201);
	CHECK_INT(call_status(srv, "POST", "/sync/semaphores/slots/release", NULL), 200);     /* 3 now */
	check_state_survives(SIGTERM);
	if (check_failure[0])
		return;
	check_state_survives(SIGKILL);
}

static void check_stops(void) { check_server_stops(&srv); }

int main(void)
{
	snprintf(hold_py, sizeof hold_py, "/tmp/spawnd-hold-%d.py", (int)getpid());
	FILE *f = fopen(hold_py, "w");
	if (!f || fputs(hold_source, f) < 0 || fclose(f) != 0) {
		printf("FAIL setup: cannot write %s\n", hold_py);
		return 1;
	}
	srv = server_start_targets(AGENT_TARGETS, NULL);
	if (!srv) {
		unlink(hold_py);
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_killed_worker_frees_its_lock);
	RUN(test_hundred_event_waiters_all_return);
	RUN(test_lock_waiters_in_arrival_order);
	RUN(test_vanished_waiter_takes_nothing);
	RUN(test_state_survives_restart_and_kill);
	RUN(check_stops);
	unlink(hold_py);
	return CHECK_EXIT();
}
