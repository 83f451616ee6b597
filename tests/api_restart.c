/* API tests of restarts with the default (SQLite) store: a stopped and
 * restarted spawnd answers every record and every byte of output exactly as
 * before; a spawnd killed with SIGKILL while workers run leaves no worker
 * running and no record "running" (they are lost), queued records queue
 * again, ids never repeat and Process-N goes on. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "tests/harness.h"

CHECK_MAIN_STATE;

/* The id of a new process (its POST answered 201), "" if not. */
static void spawn_id(struct server *srv, const char *body, double wait_s, char id[64])
{
	struct resp *r = spawn(srv, body, wait_s);
	const char *got = r->status == 201 ? jstr(r->json, "id") : NULL;
	snprintf(id, 64, "%s", got ? got : "");
	if (!got)
		fprintf(stderr, "spawn %s: %ld %s\n", body, r->status, r->body);
	resp_free(r);
}

struct seen {
	char id[64];
	char *record, *out, *err;       /* GET /processes/{id} and raw output, as bodies */
	size_t out_len, err_len;
};

static void take(struct server *srv, struct seen *s)
{
	struct resp *r = get(srv, "/processes/%s", s->id), *o = output_raw(srv, s->id, "stdout"),
		    *e = output_raw(srv, s->id, "stderr");
	s->record = r->status == 200 ? strdup(r->body) : NULL;
	s->out = o->status == 200 ? malloc(o->len + 1) : NULL;
	s->err = e->status == 200 ? malloc(e->len + 1) : NULL;
	if (s->out)
		memcpy(s->out, o->body, (s->out_len = o->len) + 1);
	if (s->err)
		memcpy(s->err, e->body, (s->err_len = e->len) + 1);
	resp_free(r);
	resp_free(o);
	resp_free(e);
}

static void release(struct seen *s)
{
	free(s->record);
	free(s->out);
	free(s->err);
}

static char *listing(struct server *srv, const char *query)
{
	struct resp *r = get(srv, "/processes?%s", query);
	char *body = r->status == 200 ? strdup(r->body) : NULL;
	resp_free(r);
	return body;
}

static char *targets_json;

/* Several targets, binary and large output on both streams, a signal, a
 * name and a removal: after SIGTERM and a restart every answer is the same
 * byte for byte, listings and cursors included. */
static void a_restart_keeps_every_record_and_byte(void)
{
	static const char *const bodies[] = {
		"{\"target\": \"worker\", \"args\": [7]}",
		"{\"target\": \"echo\", \"args\": [\"caf\\u00e9\", \"\\u2603\"], \"name\": \"snowman\"}",
		"{\"target\": \"exit\", \"args\": {\"code\": 3}}",
		"{\"target\": \"burst\", \"args\": {\"bytes\": 200000}}",
		"{\"target\": \"burst\", \"args\": {\"bytes\": 70000, \"stream\": \"stderr\"}}",
		"{\"target\": \"allbytes\", \"args\": [300]}",
		"{\"target\": \"cat\", \"stdin\": \"line one\\nline two\\n\"}",
		"{\"target\": \"sleep\", \"args\": [60]}",       /* terminated below */
	};
	enum { N = sizeof bodies / sizeof bodies[0] };
	struct seen seen[N] = { 0 };
	char gone[64];
	struct server *srv = server_start_targets(targets_json, NULL);
	CHECK(srv != NULL);
	for (int i = 0; i < N; i++) {
		spawn_id(srv, bodies[i], i == N - 1 ? -1 : 10, seen[i].id);
		CHECK_MSG(seen[i].id[0], "spawn %s", bodies[i]);
	}
	struct resp *t = postf(srv, NULL, "/processes/%s/terminate", seen[N - 1].id);
	CHECK_STATUS(t, 202);
	resp_free(t);
	t = join(srv, seen[N - 1].id, 10);
	CHECK_STR(jstr(t->json, "reason"), "terminate");
	resp_free(t);
	spawn_id(srv, "{\"target\": \"worker\"}", 10, gone);
	struct resp *d = del(srv, "/processes/%s", gone);
	CHECK_STATUS(d, 200);
	resp_free(d);
	for (int i = 0; i < N; i++)
		take(srv, &seen[i]);
	char *all = listing(srv, "limit=100"), *page = listing(srv, "limit=3"), *exited = listing(srv, "state=exited&limit=2");
	struct resp *first = get(srv, "/processes?limit=3");
	char after[80];
	snprintf(after, sizeof after, "limit=3&after=%s", jstr(first->json, "next") ? jstr(first->json, "next") : "");
	resp_free(first);
	char *second = listing(srv, after);

	CHECK_INT(server_restart(srv, SIGTERM), 0);
	for (int i = 0; i < N; i++) {
		struct seen again = { 0 };
		memcpy(again.id, seen[i].id, sizeof again.id);
		take(srv, &again);
		CHECK_MSG(seen[i].record && again.record && strcmp(seen[i].record, again.record) == 0,
			  "record %d:\nbefore %s\nafter  %s", i, seen[i].record, again.record);
		CHECK_MSG(seen[i].out && again.out && seen[i].out_len == again.out_len &&
			  memcmp(seen[i].out, again.out, again.out_len) == 0, "stdout of %d", i);
		CHECK_MSG(seen[i].err && again.err && seen[i].err_len == again.err_len &&
			  memcmp(seen[i].err, again.err, again.err_len) == 0, "stderr of %d", i);
		release(&again);
	}
	char *all2 = listing(srv, "limit=100"), *page2 = listing(srv, "limit=3"),
	     *exited2 = listing(srv, "state=exited&limit=2"), *second2 = listing(srv, after);
	CHECK(all && all2 && strcmp(all, all2) == 0);
	CHECK(page && page2 && strcmp(page, page2) == 0);
	CHECK(exited && exited2 && strcmp(exited, exited2) == 0);
	CHECK(second && second2 && strcmp(second, second2) == 0);
	CHECK(strstr(all2, gone) == NULL);      /* removed stays removed */
	struct resp *g = get(srv, "/processes/%s", gone);
	CHECK_STATUS(g, 404);
	resp_free(g);
	/* An ended record of the last run: joined at once, deleted for good. */
	struct resp *j = join(srv, seen[0].id, 1);
	CHECK_STATUS(j, 200);
	CHECK(jis_false(j->json, "alive"));
	resp_free(j);
	d = del(srv, "/processes/%s", seen[0].id);
	CHECK_STATUS(d, 200);
	CHECK_STR(jstr(d->json, "stdout"), "Worker: 7\n");
	resp_free(d);
	CHECK_INT(server_restart(srv, SIGTERM), 0);
	g = get(srv, "/processes/%s", seen[0].id);
	CHECK_STATUS(g, 404);
	resp_free(g);
	for (int i = 0; i < N; i++)
		release(&seen[i]);
	free(all), free(all2), free(page), free(page2), free(exited), free(exited2), free(second), free(second2);
	check_server_stops(&srv);
}

/* Output that fits the memory cap (1 MiB) goes to disk only when its process
 * ends, with the final record; a bigger one spills to its file as it comes.
 * Both must come back byte for byte: after SIGTERM, and after SIGKILL for
 * processes whose end was answered just before the kill. */
static void small_and_big_output_survive_sigterm_and_sigkill(void)
{
	static const char *const bodies[] = {
		"{\"target\": \"worker\", \"args\": [5]}",
		"{\"target\": \"allbytes\", \"args\": [3]}",
		"{\"target\": \"burst\", \"args\": {\"bytes\": 1500000}}",
		"{\"target\": \"burst\", \"args\": {\"bytes\": 1200000, \"stream\": \"stderr\"}}",
	};
	enum { N = sizeof bodies / sizeof bodies[0] };
	struct server *srv = server_start_targets(targets_json, NULL);
	CHECK(srv != NULL);
	for (int sig = 0; sig < 2; sig++) {
		struct seen seen[N] = { 0 };
		for (int i = 0; i < N; i++) {
			spawn_id(srv, bodies[i], 10, seen[i].id);      /* answered once ended */
			take(srv, &seen[i]);
		}
		CHECK(seen[2].out_len == 1500000 && seen[3].err_len == 1200000 && seen[0].out_len == 10);
		CHECK_INT(server_restart(srv, sig ? SIGKILL : SIGTERM), 0);
		for (int i = 0; i < N; i++) {
			struct seen again = { 0 };
			memcpy(again.id, seen[i].id, sizeof again.id);
			take(srv, &again);
			CHECK_MSG(seen[i].record && again.record && strcmp(seen[i].record, again.record) == 0,
				  "%s %d:\nbefore %s\nafter  %s", sig ? "SIGKILL" : "SIGTERM", i, seen[i].record, again.record);
			CHECK_MSG(seen[i].out && again.out && seen[i].out_len == again.out_len &&
				  memcmp(seen[i].out, again.out, again.out_len) == 0, "stdout of %d, sig %d", i, sig);
			CHECK_MSG(seen[i].err && again.err && seen[i].err_len == again.err_len &&
				  memcmp(seen[i].err, again.err, again.err_len) == 0, "stderr of %d, sig %d", i, sig);
			release(&again);
			release(&seen[i]);
		}
	}
	check_server_stops(&srv);
}

static long name_number(const char *name)
{
	return name && strncmp(name, "Process-", 8) == 0 ? strtol(name + 8, NULL, 10) : -1;
}

/* SIGKILL while 20 workers run, 10 times: each restart opens the store, finds
 * the 20 lost (none running), their workers gone; ids never repeat and
 * Process-N goes on. */
static void kill9_loses_no_record_and_leaves_no_worker(void)
{
	enum { ROUNDS = 10, WORKERS = 20 };
	static char ids[ROUNDS * WORKERS][64];
	int nids = 0;
	long last_n = 0;
	struct server *srv = server_start(NULL);
	CHECK(srv != NULL);
	for (int round = 0; round < ROUNDS; round++) {
		pid_t pids[WORKERS];
		for (int i = 0; i < WORKERS; i++) {
			struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [60]}", -1);
			CHECK_STATUS(r, 201);
			snprintf(ids[nids], sizeof ids[0], "%s", jstr(r->json, "id"));
			pids[i] = (pid_t)jint(r->json, "pid", 0);
			long n = name_number(jstr(r->json, "name"));
			CHECK_MSG(n == last_n + 1, "round %d: %s after Process-%ld", round, jstr(r->json, "name"), last_n);
			last_n = n;
			for (int k = 0; k < nids; k++)
				CHECK_MSG(strcmp(ids[k], ids[nids]) != 0, "id %s given twice", ids[nids]);
			nids++;
			CHECK(pids[i] > 0);
			resp_free(r);
		}
		/* The fork server ends them as soon as spawnd is gone, before any restart. */
		kill(server_pid(srv), SIGKILL);
		CHECK_MSG(pids_gone(pids, WORKERS, 5.0), "round %d: a worker outlived spawnd", round);
		CHECK_MSG(server_restart(srv, SIGKILL) == 0, "round %d: no restart", round);
		struct resp *alive = get(srv, "/processes?alive=true&limit=100");
		CHECK_STATUS(alive, 200);
		CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(alive->json, "processes")), 0);
		resp_free(alive);
		for (int k = nids - WORKERS; k < nids; k++) {
			struct resp *r = get(srv, "/processes/%s", ids[k]);
			CHECK_STATUS(r, 200);
			CHECK_STR(jstr(r->json, "state"), "lost");
			CHECK_STR(jstr(r->json, "reason"), "lost");
			CHECK(jis_false(r->json, "alive") && jis_null(r->json, "exitcode"));
			CHECK(rfc3339_ms(jstr(r->json, "ended_at")));
			resp_free(r);
		}
	}
	struct resp *lost = get(srv, "/processes?state=lost&limit=1000");
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(lost->json, "processes")), ROUNDS * WORKERS);
	resp_free(lost);
	check_server_stops(&srv);
}

/* Queued records never ran: after SIGKILL and a restart they are queued
 * again, in order, and start when a slot is free. */
static void queued_records_survive_as_queued(void)
{
	char running[64], q1[64], q2[64];
	struct server *srv = server_start("--max-running 1");
	CHECK(srv != NULL);
	spawn_id(srv, "{\"target\": \"sleep\", \"args\": [60]}", -1, running);
	spawn_id(srv, "{\"target\": \"echo\", \"args\": [\"first\"], \"stdin\": \"x\"}", -1, q1);
	spawn_id(srv, "{\"target\": \"sleep\", \"args\": [60], \"name\": \"second\"}", -1, q2);
	CHECK(running[0] && q1[0] && q2[0]);
	struct resp *r = get(srv, "/processes/%s", q2);
	CHECK_STR(jstr(r->json, "state"), "queued");
	resp_free(r);
	CHECK_INT(server_restart(srv, SIGKILL), 0);
	r = get(srv, "/processes/%s", running);
	CHECK_STR(jstr(r->json, "state"), "lost");
	resp_free(r);
	/* the older queued one took the free slot and ran; the next took its slot */
	r = join(srv, q1, 10);
	CHECK_STATUS(r, 200);
	CHECK_STR(jstr(r->json, "state"), "exited");
	CHECK_STR(jstr(r->json, "stdout"), "first\n");
	resp_free(r);
	r = get(srv, "/processes/%s", q2);
	CHECK_STR(jstr(r->json, "name"), "second");
	CHECK_STR(jstr(r->json, "state"), "running");
	resp_free(r);
	check_server_stops(&srv);
}

/* An end a client learnt of by any way - the /events stream, the timeline, a
 * list - is on disk before it is told, though a durable store commits a
 * write nobody waits for only after a linger: a SIGKILL right after it was
 * told leaves the record exited, not lost. */
enum told_by { TOLD_BY_EVENTS, TOLD_BY_TIMELINE, TOLD_BY_LIST };

static bool told_exited(struct server *srv, enum told_by how, struct live *events, const char *id, const char *name)
{
	if (how == TOLD_BY_EVENTS)
		return live_wait_for(events, "\"event\":\"exited\"", 10);
	for (double end = now_s() + 10; now_s() < end; sleep_s(0.002)) {
		struct resp *r = how == TOLD_BY_TIMELINE ? get(srv, "/processes/%s/timeline", id)
							 : get(srv, "/processes?name=%s", name);
		bool exited = r->body && strstr(r->body, how == TOLD_BY_TIMELINE ? "\"exited\"" : "\"state\":\"exited\"");
		resp_free(r);
		if (exited)
			return true;
	}
	return false;
}

static void an_end_told_any_way_survives_sigkill(void)
{
	static const char *const ways[] = { "events", "timeline", "list" };
	struct server *srv = server_start_targets(targets_json, NULL);
	CHECK(srv != NULL);
	for (int how = TOLD_BY_EVENTS; how <= TOLD_BY_LIST; how++) {
		char id[64], body[160], name[32];
		struct live *events = how == TOLD_BY_EVENTS ? live_open(srv, "/events", "application/x-ndjson") : NULL;
		if (events)
			live_pump(0.2);         /* subscribed before the process starts */
		snprintf(name, sizeof name, "told-%d", how);
		snprintf(body, sizeof body, "{\"target\": \"sleep\", \"name\": \"%s\", \"args\": {\"seconds\": 0.2}}",
			 name);
		spawn_id(srv, body, -1, id);
		CHECK_MSG(told_exited(srv, (enum told_by)how, events, id, name), "%s never told the end", ways[how]);
		CHECK_INT(server_restart(srv, SIGKILL), 0);
		if (events)
			live_close(events);
		struct resp *r = get(srv, "/processes/%s", id);
		CHECK_MSG(jstr(r->json, "state") && strcmp(jstr(r->json, "state"), "exited") == 0,
			  "told by %s, after SIGKILL: " RESP_FMT, ways[how], RESP_ARGS(r));
		resp_free(r);
	}
	check_server_stops(&srv);
}

int main(void)
{
	char *path = fixture_path("allbytes");
	if (!path || asprintf(&targets_json, "{\"targets\": ["
		     "{\"name\": \"allbytes\", \"description\": \"Writes bytes 0x00-0xFF.\", \"program\": \"%s\","
		     " \"argv\": [\"{repeat}\"], \"args\": [{\"name\": \"repeat\", \"type\": \"integer\", \"required\": true}]}"
		     "]}", path) < 0)
		return 1;
	free(path);
	RUN(a_restart_keeps_every_record_and_byte);
	RUN(kill9_loses_no_record_and_leaves_no_worker);
	RUN(small_and_big_output_survive_sigterm_and_sigkill);
	RUN(queued_records_survive_as_queued);
	RUN(an_end_told_any_way_survives_sigkill);
	free(targets_json);
	return CHECK_EXIT();
}
