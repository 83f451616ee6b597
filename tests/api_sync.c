/* api_sync — the synchronisation objects of API.md "Shared objects" over
 * HTTP: the common rules (PUT 201/200/409, GET, list, DELETE answering its
 * waiters 404, unknown names 404, bad options, timeouts and leases 400 naming
 * the field), events, locks (plain, reentrant, leases that lapse and are
 * never granted on, 409 not_owner), semaphores (bounded: 409 past the
 * bound), conditions (notify n wakes exactly n) and barriers (indexes,
 * broken by a timeout or abort, reset). QUALITY 21-23 are in api_sync_death.c.
 */
#define _GNU_SOURCE
#include "tests/harness.h"
#include "tests/sync_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;

static struct call *req(const char *method, const char *path, const char *body)
{
	return call(srv, method, path, NULL, body);
}

/* Status of one request, the answer freed. */
static void test_create_get_list_delete(void)
{
	struct call *c = req("PUT", "/sync/locks/rules", "{\"reentrant\": false}");
	CHECK_CALL(c, 201);
	CHECK_STR(jstr(c->json, "name"), "rules");
	call_free(c);
	CHECK_INT(call_status(srv, "PUT", "/sync/locks/rules", NULL), 200);    /* {} is reentrant: false */
	c = req("PUT", "/sync/locks/rules", "{\"reentrant\": true}");
	CHECK_CODE(c, 409, "conflict");
	call_free(c);
	c = req("PUT", "/sync/locks/bad", "{\"reentrant\": 1}");
	CHECK_CODE(c, 400, "invalid_argument");
	CHECK_FIELD_OF(c, "reentrant");
	call_free(c);
	c = req("PUT", "/sync/locks/bad", "{\"colour\": \"red\"}");
	CHECK_CODE(c, 400, "invalid_argument");
	CHECK_FIELD_OF(c, "colour");
	call_free(c);
	c = req("GET", "/sync/locks", NULL);
	CHECK_CALL(c, 200);
	CHECK_MSG(strstr(c->body, "\"name\":\"rules\"") && !strstr(c->body, "\"name\":\"bad\""), "list: %s", c->body);
	call_free(c);
	c = req("GET", "/sync/locks/rules", NULL);
	CHECK_CALL(c, 200);
	CHECK(jis_false(c->json, "locked") && jint(c->json, "waiters", -1) == 0);
	call_free(c);
	CHECK_INT(call_status(srv, "DELETE", "/sync/locks/rules", NULL), 200);
	c = req("GET", "/sync/locks/rules", NULL);
	CHECK_CODE(c, 404, "not_found");
	call_free(c);
	c = req("POST", "/sync/locks/never/acquire", "{\"lease\": 5}");
	CHECK_CODE(c, 404, "not_found");
	call_free(c);
	CHECK_INT(call_status(srv, "DELETE", "/sync/events/never", NULL), 404);
	CHECK_INT(call_status(srv, "POST", "/sync/events/never/set", NULL), 404);
}

static void test_bad_timeout_and_lease(void)
{
	CHECK_INT(call_status(srv, "PUT", "/sync/locks/args", NULL), 201);
	struct call *c = req("POST", "/sync/locks/args/acquire?timeout=-1", "{\"lease\": 5}");
	CHECK_CODE(c, 400, "invalid_argument");
	CHECK_FIELD_OF(c, "timeout");
	call_free(c);
	c = req("POST", "/sync/locks/args/acquire?timeout=abc", "{\"lease\": 5}");
	CHECK_FIELD_OF(c, "timeout");
	call_free(c);
	c = req("POST", "/sync/locks/args/acquire", "{\"lease\": -3}");
	CHECK_CODE(c, 400, "invalid_argument");
	CHECK_FIELD_OF(c, "lease");
	call_free(c);
	c = req("POST", "/sync/locks/args/acquire", "{\"lease\": \"long\"}");
	CHECK_FIELD_OF(c, "lease");
	call_free(c);
	/* An outside client must say how long: nothing else would ever release it. */
	c = req("POST", "/sync/locks/args/acquire", NULL);
	CHECK_CODE(c, 400, "invalid_argument");
	CHECK_FIELD_OF(c, "lease");
	call_free(c);
	c = req("POST", "/sync/locks/args/acquire", "[1]");
	CHECK_CODE(c, 400, "invalid_argument");
	call_free(c);
	CHECK_INT(call_status(srv, "GET", "/sync/locks/args", NULL), 200);     /* nothing was granted */
}

static void test_event_set_clear_wait(void)
{
	CHECK_INT(call_status(srv, "PUT", "/sync/events/ev", NULL), 201);
	double t0 = now_s();
	struct call *c = req("POST", "/sync/events/ev/wait?timeout=0.3", NULL);
	CHECK_CALL(c, 200);
	CHECK(jis_false(c->json, "set"));
	CHECK_MSG(now_s() - t0 >= 0.25, "a wait of 0.3 s returned after %.3f s", now_s() - t0);
	call_free(c);
	struct live *w = live_post(srv, "/sync/events/ev/wait?timeout=20", NULL);
	live_pump(0.2);
	CHECK_MSG(!w->done, "a wait returned before the event was set: %s", w->body);
	c = req("POST", "/sync/events/ev/set", NULL);
	CHECK_CALL(c, 200);
	CHECK(jis_true(c->json, "set"));
	call_free(c);
	CHECK_MSG(live_wait_done(w, 5), "the waiter was not answered by set");
	CHECK_MSG(w->status == 200 && strstr(w->body, "\"set\":true"), "waiter: %ld %s", w->status, w->body);
	live_close(w);
	c = req("POST", "/sync/events/ev/wait?timeout=5", NULL);
	CHECK(jis_true(c->json, "set"));
	call_free(c);
	c = req("GET", "/sync/events/ev", NULL);
	CHECK(jis_true(c->json, "set"));
	call_free(c);
	c = req("POST", "/sync/events/ev/clear", NULL);
	CHECK(jis_false(c->json, "set"));
	call_free(c);
	c = req("POST", "/sync/events/ev/wait?timeout=0", NULL);
	CHECK_CALL(c, 200);
	CHECK(jis_false(c->json, "set"));
	call_free(c);
}

/* Acquires name with a lease; its owner into owner (64), fence returned (-1 failed). */
static long long acquire(const char *kind, const char *name, double lease, char *owner)
{
	char path[160], body[64];
	snprintf(path, sizeof path, "/sync/%s/%s/acquire?timeout=5", kind, name);
	snprintf(body, sizeof body, "{\"lease\": %g}", lease);
	struct call *c = req("POST", path, body);
	long long fence = c->status == 200 && jis_true(c->json, "acquired") ? jint(c->json, "fence", -1) : -1;
	if (owner)
		snprintf(owner, 64, "%s", jstr(c->json, "owner") ? jstr(c->json, "owner") : "");
	call_free(c);
	return fence;
}

static long release(const char *kind, const char *name, const char *owner)
{
	char path[160], body[128];
	snprintf(path, sizeof path, "/sync/%s/%s/release", kind, name);
	snprintf(body, sizeof body, "{\"owner\": \"%s\"}", owner);
	return call_status(srv, "POST", path, body);
}

static void test_lock_owner_and_not_owner(void)
{
	char owner[64], other[64];
	CHECK_INT(call_status(srv, "PUT", "/sync/locks/door", NULL), 201);
	long long f1 = acquire("locks", "door", 30, owner);
	CHECK_MSG(f1 > 0 && strncmp(owner, "c-", 2) == 0, "acquire: fence %lld owner %s", f1, owner);
	struct call *c = req("POST", "/sync/locks/door/acquire?timeout=0.2", "{\"lease\": 30}");
	CHECK_CALL(c, 200);
	CHECK(jis_false(c->json, "acquired"));
	call_free(c);
	c = req("POST", "/sync/locks/door/release", "{\"owner\": \"c-0000000000000000\"}");
	CHECK_CODE(c, 409, "not_owner");
	call_free(c);
	c = req("POST", "/sync/locks/door/release", NULL);
	CHECK_CODE(c, 400, "invalid_argument");
	CHECK_FIELD_OF(c, "owner");
	call_free(c);
	c = req("POST", "/sync/locks/door/renew", "{\"owner\": \"c-0000000000000000\", \"lease\": 5}");
	CHECK_CODE(c, 409, "not_owner");
	call_free(c);
	char body[128];
	snprintf(body, sizeof body, "{\"owner\": \"%s\", \"lease\": 60}", owner);
	c = req("POST", "/sync/locks/door/renew", body);
	CHECK_CALL(c, 200);
	CHECK(jint(c->json, "fence", -1) == f1 && rfc3339_ms(jstr(c->json, "expires_at")));
	call_free(c);
	CHECK_INT(release("locks", "door", owner), 200);
	CHECK_INT(release("locks", "door", owner), 409);
	long long f2 = acquire("locks", "door", 30, other);
	CHECK_MSG(f2 > f1 && strcmp(other, owner) != 0, "fences %lld then %lld", f1, f2);
	c = req("GET", "/sync/locks/door", NULL);
	CHECK_MSG(strstr(c->body, other) && jis_true(c->json, "locked"), "describe: %s", c->body);
	call_free(c);
	CHECK_INT(release("locks", "door", other), 200);
}

static void test_lease_lapse_is_never_granted_on(void)
{
	char owner[64], next[64];
	CHECK_INT(call_status(srv, "PUT", "/sync/locks/lapse", NULL), 201);
	long long f1 = acquire("locks", "lapse", 0.3, owner);
	CHECK(f1 > 0);
	struct live *w = live_post(srv, "/sync/locks/lapse/acquire?timeout=10", "{\"lease\": 30}");
	CHECK_MSG(live_wait_done(w, 5), "the waiter did not get the lock once the lease lapsed");
	cJSON *j = live_json(w);
	CHECK_MSG(j && jis_true(j, "acquired") && jis_true(j, "abandoned") && jint(j, "fence", -1) > f1,
		  "next holder: %s", w->body);
	snprintf(next, sizeof next, "%s", jstr(j, "owner"));
	cJSON_Delete(j);
	live_close(w);
	/* The lapsed holder holds nothing any more. */
	CHECK_INT(release("locks", "lapse", owner), 409);
	char body[128];
	snprintf(body, sizeof body, "{\"owner\": \"%s\", \"lease\": 5}", owner);
	CHECK_INT(call_status(srv, "POST", "/sync/locks/lapse/renew", body), 409);
	CHECK_INT(release("locks", "lapse", next), 200);
	/* A lease that lapsed while no one asked is checked at the moment of the next grant. */
	long long f3 = acquire("locks", "lapse", 0.05, owner);
	sleep_s(0.1);
	struct call *c = req("POST", "/sync/locks/lapse/acquire?timeout=0", "{\"lease\": 5}");
	CHECK_MSG(jis_true(c->json, "acquired") && jint(c->json, "fence", -1) > f3, "after a lapse: %s", c->body);
	call_free(c);
}

static void test_reentrant_lock(void)
{
	char owner[64], body[128];
	CHECK_INT(call_status(srv, "PUT", "/sync/locks/re", "{\"reentrant\": true}"), 201);
	long long f = acquire("locks", "re", 30, owner);
	CHECK(f > 0);
	snprintf(body, sizeof body, "{\"owner\": \"%s\", \"lease\": 30}", owner);
	struct call *c = req("POST", "/sync/locks/re/acquire?timeout=0", body);
	CHECK_MSG(jis_true(c->json, "acquired") && jint(c->json, "count", -1) == 2, "re-entry: %s", c->body);
	call_free(c);
	CHECK_INT(release("locks", "re", owner), 200);
	c = req("GET", "/sync/locks/re", NULL);
	CHECK_MSG(jis_true(c->json, "locked"), "released once of twice: %s", c->body);
	call_free(c);
	CHECK_INT(release("locks", "re", owner), 200);
	c = req("GET", "/sync/locks/re", NULL);
	CHECK_MSG(jis_false(c->json, "locked"), "released twice: %s", c->body);
	call_free(c);
}

static void test_semaphore_bounded(void)
{
	char a[64], b[64];
	CHECK_INT(call_status(srv, "PUT", "/sync/semaphores/pool", "{\"value\": 2, \"bounded\": true}"), 201);
	CHECK_INT(call_status(srv, "PUT", "/sync/semaphores/pool", "{\"value\": 3, \"bounded\": true}"), 409);
	struct call *c = req("PUT", "/sync/semaphores/bad", "{\"value\": -1}");
	CHECK_FIELD_OF(c, "value");
	call_free(c);
	CHECK(acquire("semaphores", "pool", 30, a) > 0);
	CHECK(acquire("semaphores", "pool", 30, b) > 0);
	c = req("POST", "/sync/semaphores/pool/acquire?timeout=0.2", "{\"lease\": 30}");
	CHECK_MSG(jis_false(c->json, "acquired"), "a third permit of 2: %s", c->body);
	call_free(c);
	struct live *w = live_post(srv, "/sync/semaphores/pool/acquire?timeout=10", "{\"lease\": 30}");
	live_pump(0.1);
	CHECK_INT(release("semaphores", "pool", a), 200);
	CHECK_MSG(live_wait_done(w, 5) && strstr(w->body, "\"acquired\":true") && strstr(w->body, "\"value\":0"),
		  "the waiter after a release: %s", w->body);
	cJSON *j = live_json(w);
	char c_owner[64];
	snprintf(c_owner, sizeof c_owner, "%s", j ? jstr(j, "owner") : "");
	cJSON_Delete(j);
	live_close(w);
	CHECK_INT(release("semaphores", "pool", b), 200);
	CHECK_INT(release("semaphores", "pool", c_owner), 200);
	c = req("POST", "/sync/semaphores/pool/release", NULL);   /* past the bound of 2 */
	CHECK_CODE(c, 409, "conflict");
	call_free(c);
	/* A plain semaphore may be raised by anyone, as multiprocessing's. */
	CHECK_INT(call_status(srv, "PUT", "/sync/semaphores/plain", "{\"value\": 0}"), 201);
	c = req("POST", "/sync/semaphores/plain/release", NULL);
	CHECK_MSG(c->status == 200 && jint(c->json, "value", -1) == 1, "release: %s", c->body);
	call_free(c);
}

/* A client that holds cond's lock and waits on it; NULL when it could not. */
static struct live *cond_waiter(const char *cond, char *owner)
{
	char path[512], body[400];
	snprintf(path, sizeof path, "/sync/conditions/%s/acquire?timeout=5", cond);
	struct call *c = req("POST", path, "{\"lease\": 60}");
	bool ok = jis_true(c->json, "acquired");
	snprintf(owner, 64, "%s", ok ? jstr(c->json, "owner") : "");
	call_free(c);
	if (!ok)
		return NULL;
	snprintf(path, sizeof path, "/sync/conditions/%s/wait?timeout=30", cond);
	snprintf(body, sizeof body, "{\"owner\": \"%s\"}", owner);
	struct live *l = live_post(srv, path, body);
	live_pump(0.05);
	return l;
}

static int count_done(struct live **w, int n)
{
	int done = 0;
	for (int i = 0; i < n; i++)
		done += w[i]->done;
	return done;
}

static void test_condition_notify_n_wakes_exactly_n(void)
{
	enum { N = 5 };
	struct live *w[N];
	char owners[N][64];
	CHECK_INT(call_status(srv, "PUT", "/sync/locks/cl", NULL), 201);
	CHECK_INT(call_status(srv, "PUT", "/sync/conditions/cv", "{\"lock\": \"cl\"}"), 201);
	struct call *c = req("POST", "/sync/conditions/cv/wait?timeout=1", "{\"owner\": \"c-0000000000000000\"}");
	CHECK_CODE(c, 409, "not_owner");
	call_free(c);
	c = req("POST", "/sync/conditions/cv/wait?timeout=1", NULL);  /* no owner: named as the caller */
	CHECK_CODE(c, 409, "not_owner");
	CHECK_MSG(strstr(c->body, "the caller does not hold it"), "not_owner without an owner: %.300s", c->body);
	call_free(c);
	for (int i = 0; i < N; i++)
		CHECK_MSG((w[i] = cond_waiter("cv", owners[i])), "waiter %d could not take the lock", i);
	c = req("GET", "/sync/conditions/cv", NULL);
	CHECK_MSG(jint(c->json, "waiters", -1) == N && jis_false(c->json, "locked"), "describe: %s", c->body);
	call_free(c);
	c = req("POST", "/sync/conditions/cv/notify", "{\"n\": 2}");
	CHECK_MSG(c->status == 200 && jint(c->json, "woken", -1) == 2, "notify: %s", c->body);
	call_free(c);
	/* The two oldest return one after the other, each with the lock held again. */
	for (int i = 0; i < 2; i++) {
		CHECK_MSG(live_wait_done(w[i], 5), "notified waiter %d did not return", i);
		CHECK_MSG(strstr(w[i]->body, "\"notified\":true") && strstr(w[i]->body, owners[i]), "%s", w[i]->body);
		CHECK_INT(release("locks", "cl", owners[i]), 200);
	}
	live_pump(0.5);
	CHECK_MSG(count_done(w, N) == 2, "notify(2) woke %d", count_done(w, N));
	c = req("POST", "/sync/conditions/cv/notify_all", NULL);
	CHECK_MSG(jint(c->json, "woken", -1) == N - 2, "notify_all: %s", c->body);
	call_free(c);
	for (int i = 2; i < N; i++) {
		CHECK_MSG(live_wait_done(w[i], 5), "waiter %d did not return after notify_all", i);
		CHECK_INT(release("locks", "cl", owners[i]), 200);
	}
	for (int i = 0; i < N; i++)
		live_close(w[i]);
	/* A condition whose lock is gone says so. */
	CHECK_INT(call_status(srv, "DELETE", "/sync/locks/cl", NULL), 200);
	c = req("POST", "/sync/conditions/cv/notify", NULL);
	CHECK_CODE(c, 409, "conflict");
	call_free(c);
}

static void test_condition_wait_timeout_holds_the_lock_again(void)
{
	char owner[64], body[128];
	CHECK_INT(call_status(srv, "PUT", "/sync/conditions/own", NULL), 201);
	struct call *c = req("POST", "/sync/conditions/own/acquire", "{\"lease\": 60}");
	snprintf(owner, sizeof owner, "%s", jstr(c->json, "owner") ? jstr(c->json, "owner") : "");
	long long f = jint(c->json, "fence", -1);
	call_free(c);
	snprintf(body, sizeof body, "{\"owner\": \"%s\"}", owner);
	double t0 = now_s();
	c = req("POST", "/sync/conditions/own/wait?timeout=0.3", body);
	CHECK_MSG(c->status == 200 && jis_false(c->json, "notified") && jis_true(c->json, "acquired") &&
		  jint(c->json, "fence", -1) > f && strcmp(jstr(c->json, "owner"), owner) == 0, "wait: %s", c->body);
	CHECK_MSG(now_s() - t0 >= 0.25, "returned after %.3f s", now_s() - t0);
	call_free(c);
	CHECK_INT(call_status(srv, "POST", "/sync/conditions/own/release", body), 200);
	CHECK_INT(call_status(srv, "POST", "/sync/conditions/own/release", body), 409);
}

static void test_barrier(void)
{
	struct live *w[3];
	CHECK_INT(call_status(srv, "PUT", "/sync/barriers/meet", "{\"parties\": 3}"), 201);
	struct call *c = req("PUT", "/sync/barriers/bad", "{\"parties\": 0}");
	CHECK_FIELD_OF(c, "parties");
	call_free(c);
	for (int i = 0; i < 2; i++) {
		w[i] = live_post(srv, "/sync/barriers/meet/wait?timeout=10", NULL);
		live_pump(0.1);
	}
	CHECK_MSG(!w[0]->done && !w[1]->done, "a barrier let one through early");
	c = req("POST", "/sync/barriers/meet/wait?timeout=10", NULL);
	CHECK_MSG(c->status == 200 && jint(c->json, "index", -1) == 2, "the last one: %s", c->body);
	call_free(c);
	for (int i = 0; i < 2; i++) {
		char want[32];
		snprintf(want, sizeof want, "{\"index\":%d}", i);
		CHECK_MSG(live_wait_done(w[i], 5) && strstr(w[i]->body, want), "waiter %d: %s", i, w[i]->body);
		live_close(w[i]);
	}
	/* A waiter that times out breaks it, for everyone, until reset. */
	w[0] = live_post(srv, "/sync/barriers/meet/wait?timeout=10", NULL);
	live_pump(0.1);
	c = req("POST", "/sync/barriers/meet/wait?timeout=0.2", NULL);
	CHECK_MSG(jis_true(c->json, "broken"), "timed out: %s", c->body);
	call_free(c);
	CHECK_MSG(live_wait_done(w[0], 5) && strstr(w[0]->body, "\"broken\":true"), "the other: %s", w[0]->body);
	live_close(w[0]);
	c = req("POST", "/sync/barriers/meet/wait?timeout=5", NULL);
	CHECK_MSG(jis_true(c->json, "broken"), "still broken: %s", c->body);
	call_free(c);
	CHECK_INT(call_status(srv, "POST", "/sync/barriers/meet/reset", NULL), 200);
	c = req("GET", "/sync/barriers/meet", NULL);
	CHECK_MSG(jis_false(c->json, "broken") && jint(c->json, "parties", 0) == 3, "after reset: %s", c->body);
	call_free(c);
	w[0] = live_post(srv, "/sync/barriers/meet/wait?timeout=10", NULL);
	live_pump(0.1);
	CHECK_INT(call_status(srv, "POST", "/sync/barriers/meet/abort", NULL), 200);
	CHECK_MSG(live_wait_done(w[0], 5) && strstr(w[0]->body, "\"broken\":true"), "after abort: %s", w[0]->body);
	live_close(w[0]);
}

static void test_delete_answers_waiters_404(void)
{
	CHECK_INT(call_status(srv, "PUT", "/sync/events/gone", NULL), 201);
	struct live *w = live_post(srv, "/sync/events/gone/wait?timeout=20", NULL);
	live_pump(0.1);
	CHECK_INT(call_status(srv, "DELETE", "/sync/events/gone", NULL), 200);
	CHECK_MSG(live_wait_done(w, 5) && w->status == 404 && strstr(w->body, "not_found"), "waiter: %ld %s",
		  w->status, w->body);
	live_close(w);
}

static void check_stops(void) { check_server_stops(&srv); }

int main(void)
{
	srv = server_start_targets(AGENT_TARGETS, NULL);
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN(test_create_get_list_delete);
	RUN(test_bad_timeout_and_lease);
	RUN(test_event_set_clear_wait);
	RUN(test_lock_owner_and_not_owner);
	RUN(test_lease_lapse_is_never_granted_on);
	RUN(test_reentrant_lock);
	RUN(test_semaphore_bounded);
	RUN(test_condition_notify_n_wakes_exactly_n);
	RUN(test_condition_wait_timeout_holds_the_lock_again);
	RUN(test_barrier);
	RUN(test_delete_answers_waiters_404);
	RUN(check_stops);
	return CHECK_EXIT();
}
