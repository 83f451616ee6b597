/* api_events — GET /events (issue 3): lifecycle events (created, started,
 * exited, removed) as NDJSON and SSE; a subscriber sees every event of 100
 * processes in order; SSE ids are sequence numbers, resumable with
 * Last-Event-ID or ?since=; a subscriber starts with the next event by
 * default; bad resume points get 400; a subscriber further behind than the
 * ring (8192 events) is told how many it missed; vanished subscribers are
 * freed and open ones end cleanly at shutdown.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <stdlib.h>
#include <string.h>

CHECK_MAIN_STATE;

static struct server *srv;

#define HEARTBEAT_S 0.5
#define NPROC 100
#define RING 8192

static const char *const NDJSON = "application/x-ndjson";
static const char *const SSE = "text/event-stream";

/* One event of a stream: its JSON (NULL for a heartbeat), the SSE event name
 * and id, and its text as sent. */
struct ev {
	cJSON *json;
	char *text;
	char name[32];
	long long seq;          /* SSE id, -1 when there is none */
	bool heartbeat;
};

struct evs {
	struct ev *v;
	int n;
	char err[400];
};

static void evs_free(struct evs *e)
{
	for (int i = 0; i < e->n; i++) {
		cJSON_Delete(e->v[i].json);
		free(e->v[i].text);
	}
	free(e->v);
	memset(e, 0, sizeof *e);
}

static struct ev *evs_add(struct evs *e)
{
	struct ev *grown = realloc(e->v, (size_t)(e->n + 1) * sizeof *grown);

	if (!grown)
		abort();
	e->v = grown;
	memset(&e->v[e->n], 0, sizeof e->v[0]);
	e->v[e->n].seq = -1;
	return &e->v[e->n++];
}

static bool add_json(struct evs *e, const char *text, size_t len, const char *name, long long seq)
{
	cJSON *j = cJSON_ParseWithLength(text, len);
	struct ev *x;
	const char *event;

	if (!cJSON_IsObject(j) || !(event = jstr(j, "event"))) {
		cJSON_Delete(j);
		snprintf(e->err, sizeof e->err, "event %d is not a JSON object with \"event\": %.*s", e->n,
			 (int)(len < 300 ? len : 300), text);
		return false;
	}
	x = evs_add(e);
	x->json = j;
	x->text = strndup(text, len);
	x->seq = seq;
	x->heartbeat = !strcmp(event, "heartbeat");
	snprintf(x->name, sizeof x->name, "%s", name ? name : event);
	return true;
}

/* Complete NDJSON lines or SSE events of body. */
static bool parse_events(const char *accept, const char *body, size_t len, struct evs *e)
{
	const char *p = body, *end = body + len;

	memset(e, 0, sizeof *e);
	while (p < end) {
		if (accept == NDJSON) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				break;
			if (!add_json(e, p, (size_t)(nl - p), NULL, -1))
				return false;
			p = nl + 1;
			continue;
		}
		const char *stop = memmem(p, (size_t)(end - p), "\n\n", 2);
		char name[32] = "", idtext[32] = "";
		const char *data = NULL;
		size_t data_len = 0;
		bool comment_only = true, heartbeat = false, has_id = false;
		if (!stop)
			break;
		for (const char *line = p; line < stop;) {
			const char *eol = memchr(line, '\n', (size_t)(stop - line));
			size_t n = eol ? (size_t)(eol - line) : (size_t)(stop - line);
			if (n && line[0] == ':') {
				heartbeat = heartbeat || (n == 11 && !memcmp(line, ": heartbeat", 11));
			} else if (n > 7 && !memcmp(line, "event: ", 7)) {
				snprintf(name, sizeof name, "%.*s", (int)(n - 7), line + 7);
				comment_only = false;
			} else if (n > 4 && !memcmp(line, "id: ", 4)) {
				snprintf(idtext, sizeof idtext, "%.*s", (int)(n - 4), line + 4);
				has_id = true;
				comment_only = false;
			} else if (n > 6 && !memcmp(line, "data: ", 6) && !data) {
				data = line + 6;
				data_len = n - 6;
				comment_only = false;
			} else {
				snprintf(e->err, sizeof e->err, "unexpected SSE line after event %d: %.*s", e->n,
					 (int)(n < 200 ? n : 200), line);
				return false;
			}
			line += n + 1;
		}
		if (comment_only) {
			if (heartbeat)
				evs_add(e)->heartbeat = true;
		} else {
			char *endp = NULL;
			long long seq = has_id ? strtoll(idtext, &endp, 10) : -1;
			if (!data || !name[0] || (has_id && (!*idtext || *endp || seq < 0))) {
				snprintf(e->err, sizeof e->err, "SSE event %d lacks data, event or a numeric id: %.*s", e->n,
					 (int)(stop - p < 300 ? stop - p : 300), p);
				return false;
			}
			if (!add_json(e, data, data_len, name, seq))
				return false;
		}
		p = stop + 2;
	}
	return true;
}

static const char *ev_type(const struct ev *x)
{
	return jstr(x->json, "event");
}

static const char *ev_pid(const struct ev *x)
{
	return jstr(cJSON_GetObjectItemCaseSensitive(x->json, "process"), "id");
}

/* Number of non-heartbeat events in body so far (-1 when it does not parse). */
static int count_events(const char *accept, const struct live *l)
{
	struct evs e;
	int n = 0;

	if (!parse_events(accept, l->body, l->len, &e)) {
		evs_free(&e);
		return -1;
	}
	for (int i = 0; i < e.n; i++)
		n += !e.v[i].heartbeat;
	evs_free(&e);
	return n;
}

struct want_events {
	struct live *l[2];
	const char *accept[2];
	int n;
};

static bool have_events(void *arg)
{
	struct want_events *w = arg;

	for (int k = 0; k < 2; k++)
		if (w->l[k] && count_events(w->accept[k], w->l[k]) < w->n && !w->l[k]->done)
			return false;
	return true;
}

static bool streams_open_is(void *arg)
{
	return metric_value(srv, "spawnd_streams_open") == *(double *)arg;
}

/* Kept from the 100-process case for the resume cases: its SSE events. */
static struct evs hundred;

static const char *const order[4] = { "created", "started", "exited", "removed" };

/* Checks the events of the 100 processes: for each exactly one of each kind,
 * in lifecycle order, with the matching process; nothing else. */
static bool check_lifecycles(const struct evs *e, char ids[NPROC][ID_CAP], char *why, size_t why_len)
{
	int seen[NPROC][4];
	char ts[NPROC][4][32];

	memset(seen, 0, sizeof seen);
	memset(ts, 0, sizeof ts);
	for (int i = 0; i < e->n; i++) {
		const struct ev *x = &e->v[i];
		const cJSON *proc;
		int p = -1, k = -1;
		if (x->heartbeat)
			continue;
		proc = cJSON_GetObjectItemCaseSensitive(x->json, "process");
		for (int j = 0; j < NPROC && p < 0 && ev_pid(x); j++)
			p = strcmp(ids[j], ev_pid(x)) == 0 ? j : -1;
		for (int j = 0; j < 4 && k < 0; j++)
			k = strcmp(order[j], ev_type(x)) == 0 ? j : -1;
		if (p < 0 || k < 0) {
			snprintf(why, why_len, "event %d is not one of the 100 processes' lifecycle: %.300s", i, x->text);
			return false;
		}
		if (!rfc3339_ms(jstr(x->json, "ts")) || !cJSON_IsObject(proc) ||
		    cJSON_HasObjectItem(proc, "stdout") || cJSON_HasObjectItem(proc, "stderr") ||
		    !jstr(proc, "target") || strcmp(jstr(proc, "target"), "worker") != 0) {
			snprintf(why, why_len, "event %d: bad ts or process (a Process without output expected): %.300s", i,
				 x->text);
			return false;
		}
		if (seen[p][k]) {
			snprintf(why, why_len, "event %d: a second \"%s\" for process %s", i, order[k], ids[p]);
			return false;
		}
		for (int j = 0; j < k; j++) {
			if (!seen[p][j]) {
				snprintf(why, why_len, "event %d: \"%s\" for process %s before its \"%s\"", i, order[k],
					 ids[p], order[j]);
				return false;
			}
		}
		for (int j = k + 1; j < 4; j++) {
			if (seen[p][j]) {
				snprintf(why, why_len, "event %d: \"%s\" for process %s after its \"%s\"", i, order[k],
					 ids[p], order[j]);
				return false;
			}
		}
		if ((k == 1 && jint(proc, "pid", -1) <= 0) ||
		    (k == 2 && !(jis_false(proc, "alive") && jint(proc, "exitcode", -1) == 0 && jstr(proc, "state") &&
				 !strcmp(jstr(proc, "state"), "exited")))) {
			snprintf(why, why_len, "event %d: the process in \"%s\" is not as expected: %.300s", i, order[k],
				 x->text);
			return false;
		}
		seen[p][k] = 1;
		snprintf(ts[p][k], sizeof ts[p][k], "%s", jstr(x->json, "ts"));
		if (k && strcmp(ts[p][k - 1], ts[p][k]) > 0) {
			snprintf(why, why_len, "event %d: ts %s of \"%s\" is before ts %s of \"%s\" (process %s)", i,
				 ts[p][k], order[k], ts[p][k - 1], order[k - 1], ids[p]);
			return false;
		}
	}
	for (int p = 0; p < NPROC; p++) {
		for (int k = 0; k < 4; k++) {
			if (!seen[p][k]) {
				snprintf(why, why_len, "no \"%s\" event for process %s", order[k], ids[p]);
				return false;
			}
		}
	}
	return true;
}

static bool both_answered(void *arg)
{
	struct live **l = arg;
	return (l[0]->status || l[0]->done) && (l[1]->status || l[1]->done);
}

/* An NDJSON and an SSE subscriber, both open before 100 processes are
 * started, joined and deleted, see all 400 events: per process created <
 * started < exited < removed, SSE ids consecutive, both the same sequence. */
static void test_subscriber_sees_every_event_of_100_processes(void)
{
	char ids[NPROC][ID_CAP], why[512];
	struct want_events w = { .accept = { NDJSON, SSE }, .n = 4 * NPROC };
	struct evs e[2];
	bool ok;

	for (int k = 0; k < 2; k++)
		w.l[k] = live_open(srv, "/events", w.accept[k]);
	/* Both answered (their subscriptions made) before the first spawn: on
	 * a slow server (valgrind) that took longer than a fixed pause. */
	live_pump(0.2);
	live_wait_until(both_answered, w.l, 10);
	for (int k = 0; k < 2; k++) {
		CHECK_MSG(w.l[k]->status == 200 && !w.l[k]->done, "GET /events (%s): %ld %s %s", w.accept[k],
			  w.l[k]->status, w.l[k]->error, w.l[k]->body);
		CHECK_MSG(!strncmp(w.l[k]->content_type, w.accept[k], strlen(w.accept[k])), "content type %s for %s",
			  w.l[k]->content_type, w.accept[k]);
	}
	for (int i = 0; i < NPROC; i++) {
		struct resp *r = spawn(srv, "{\"target\": \"worker\"}", -1);
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, ids[i]));
		resp_free(r);
		live_pump(0);
	}
	for (int i = 0; i < NPROC; i++) {
		struct resp *r = join(srv, ids[i], 10);
		CHECK_MSG(r->status == 200 && jis_false(r->json, "alive"), RESP_FMT, RESP_ARGS(r));
		resp_free(r);
		live_pump(0);
	}
	for (int i = 0; i < NPROC; i++) {
		struct resp *r = del(srv, "/processes/%s", ids[i]);
		CHECK_STATUS(r, 200);
		resp_free(r);
		live_pump(0);
	}
	CHECK_MSG(live_wait_until(have_events, &w, 15), "after 15 s: %d NDJSON and %d SSE events of the %d expected",
		  count_events(NDJSON, w.l[0]), count_events(SSE, w.l[1]), 4 * NPROC);
	for (int k = 0; k < 2; k++) {
		ok = parse_events(w.accept[k], w.l[k]->body, w.l[k]->len, &e[k]);
		if (!ok && k)
			evs_free(&e[0]);
		CHECK_MSG(ok, "%s: %s", w.accept[k], e[k].err);
	}
	for (int k = 0; k < 2; k++) {
		ok = check_lifecycles(&e[k], ids, why, sizeof why);
		if (!ok)
			break;
	}
	/* SSE: event name = "event", ids consecutive; NDJSON: the same events in the same order. */
	{
		int a = 0, b = 0;
		long long prev = -1;
		while (ok && (a < e[0].n || b < e[1].n)) {
			if (a < e[0].n && e[0].v[a].heartbeat) {
				a++;
				continue;
			}
			if (b < e[1].n && e[1].v[b].heartbeat) {
				b++;
				continue;
			}
			if (a >= e[0].n || b >= e[1].n) {
				ok = false;
				snprintf(why, sizeof why, "NDJSON has %d entries, SSE %d: not the same events", e[0].n, e[1].n);
				break;
			}
			if (strcmp(e[1].v[b].name, ev_type(&e[1].v[b])) != 0 || e[1].v[b].seq < 0 ||
			    (prev >= 0 && e[1].v[b].seq != prev + 1)) {
				ok = false;
				snprintf(why, sizeof why, "SSE event %d: \"event: %s\", id %lld after id %lld", b,
					 e[1].v[b].name, e[1].v[b].seq, prev);
				break;
			}
			if (strcmp(e[0].v[a].text, e[1].v[b].text) != 0) {
				ok = false;
				snprintf(why, sizeof why, "NDJSON entry %d differs from SSE event %d: %.200s / %.200s", a, b,
					 e[0].v[a].text, e[1].v[b].text);
				break;
			}
			prev = e[1].v[b].seq;
			a++, b++;
		}
	}
	evs_free(&e[0]);
	if (ok)
		hundred = e[1];
	else
		evs_free(&e[1]);
	CHECK_MSG(ok, "%s", why);
	live_close(w.l[0]);
	live_close(w.l[1]);
}

/* The exact SSE wire format, and heartbeats on an idle subscription. */
static void test_sse_and_ndjson_format_and_heartbeats(void)
{
	struct live *l[2];
	char id[ID_CAP];
	struct resp *r;
	const char *p;

	l[0] = live_open(srv, "/events", NDJSON);
	l[1] = live_open(srv, "/events", SSE);
	live_pump(2 * HEARTBEAT_S + 0.3);
	CHECK_MSG(l[0]->len >= 2 * strlen("{\"event\":\"heartbeat\"}\n") &&
		  !strncmp(l[0]->body, "{\"event\":\"heartbeat\"}\n{\"event\":\"heartbeat\"}\n", 44),
		  "idle NDJSON subscription: %s", l[0]->body);
	CHECK_MSG(!strncmp(l[1]->body, ": heartbeat\n\n: heartbeat\n\n", 26), "idle SSE subscription: %s", l[1]->body);
	r = spawn(srv, "{\"target\": \"worker\"}", 10);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	CHECK_MSG(live_wait_for(l[1], "event: exited\n", 10), "no exited event: %s", l[1]->body);
	CHECK_MSG(live_wait_for(l[0], "\"event\":\"exited\"", 10), "no exited event: %s", l[0]->body);
	/* SSE: "event: created\nid: N\ndata: {...}\n\n" */
	p = strstr(l[1]->body, "event: created\n");
	CHECK_MSG(p, "%s", l[1]->body);
	{
		long long seq;
		int used = 0;
		const char *data, *end;
		CHECK_MSG(sscanf(p, "event: created\nid: %lld\n%n", &seq, &used) == 1 && used > 0 && seq > 0,
			  "created event: %.200s", p);
		data = p + used;
		CHECK_MSG(!strncmp(data, "data: {\"event\":\"created\",", 25), "created event data: %.200s", data);
		end = strstr(data, "\n\n");
		CHECK_MSG(end && !memchr(data, '\n', (size_t)(end - data)), "created event is not one data line: %.300s",
			  data);
		CHECK_MSG(strstr(data, id) && strstr(data, id) < end, "created event is not about %s: %.300s", id, data);
	}
	/* NDJSON: one object a line, the "created" one first after the heartbeats. */
	p = strstr(l[0]->body, "{\"event\":\"created\"");
	CHECK_MSG(p && (p == l[0]->body || p[-1] == '\n'), "%s", l[0]->body);
	live_close(l[0]);
	live_close(l[1]);
	r = del(srv, "/processes/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

/* Resume: ?since=SEQ (NDJSON and SSE) and Last-Event-ID: SEQ (SSE) give the
 * events after SEQ, the same text, in the same order, then go on live. */
static void test_resume_with_since_and_last_event_id(void)
{
	static const int points[] = { 0, 1, 57, 199, 398 };
	char id[ID_CAP], path[64];

	CHECK_MSG(hundred.n >= 4 * NPROC, "needs the 100-process case");
	for (size_t pi = 0; pi < sizeof points / sizeof points[0]; pi++) {
		int start = 0, skipped = 0;
		long long after;
		/* after: the seq of the points[pi]-th event (or the one before the first for 0). */
		while (start < hundred.n && (hundred.v[start].heartbeat || skipped < points[pi])) {
			skipped += !hundred.v[start].heartbeat;
			start++;
		}
		while (start < hundred.n && hundred.v[start].heartbeat)
			start++;
		CHECK(start < hundred.n);
		after = hundred.v[start].seq - 1;
		for (int variant = 0; variant < 3; variant++) {
			char header[64];
			const char *headers[3] = { variant ? "Accept: text/event-stream" : "Accept: application/x-ndjson",
						   variant == 2 ? header : NULL, NULL };
			const char *accept = variant ? SSE : NDJSON;
			struct want_events w = { .accept = { accept, NULL }, .n = 0 };
			struct evs e;
			int j = start, matched = 0;
			bool ok = true;
			char why[512] = "";
			if (variant == 2) {
				snprintf(path, sizeof path, "/events");
				snprintf(header, sizeof header, "Last-Event-ID: %lld", after);
			} else {
				snprintf(path, sizeof path, "/events?since=%lld", after);
			}
			w.l[0] = live_request(srv, "GET", path, headers, NULL, 0, 0);
			w.n = 0;
			for (int i = start; i < hundred.n; i++)
				w.n += !hundred.v[i].heartbeat;
			CHECK_MSG(live_wait_until(have_events, &w, 10), "%s%s%s: %d events, expected at least %d", path,
				  variant == 2 ? " with " : "", variant == 2 ? header : "", count_events(accept, w.l[0]), w.n);
			ok = parse_events(accept, w.l[0]->body, w.l[0]->len, &e);
			CHECK_MSG(ok, "%s", e.err);
			for (int i = 0; ok && i < e.n && j < hundred.n; i++) {
				if (e.v[i].heartbeat)
					continue;
				while (j < hundred.n && hundred.v[j].heartbeat)
					j++;
				if (j >= hundred.n)
					break;
				ok = strcmp(e.v[i].text, hundred.v[j].text) == 0 &&
				     (variant == 0 || e.v[i].seq == hundred.v[j].seq);
				if (!ok)
					snprintf(why, sizeof why, "event %d after %lld is %.150s (id %lld), expected %.150s (id %lld)",
						 i, after, e.v[i].text, e.v[i].seq, hundred.v[j].text, hundred.v[j].seq);
				matched++;
				j++;
			}
			evs_free(&e);
			CHECK_MSG(ok && matched == w.n, "%s%s%s: %s (%d of %d matched)", path, variant == 2 ? " with " : "",
				  variant == 2 ? header : "", why, matched, w.n);
			live_close(w.l[0]);
		}
	}
	/* Resumed streams go on live: since=last gets the next process's created event first. */
	{
		struct live *l;
		struct resp *r;
		char want[ID_CAP + 32];
		int last = hundred.n - 1;
		while (last > 0 && hundred.v[last].heartbeat)
			last--;         /* a slow run may end on a heartbeat, which has no sequence number */
		snprintf(path, sizeof path, "/events?since=%lld", hundred.v[last].seq);
		/* Events happened after the 100-process case (format case): skip them by asking from the newest. */
		l = live_open(srv, path, SSE);
		live_pump(0.2);
		r = spawn(srv, "{\"target\": \"worker\"}", 10);
		CHECK_STATUS(r, 201);
		CHECK(take_id(r, id));
		resp_free(r);
		snprintf(want, sizeof want, "\"id\":\"%s\"", id);
		CHECK_MSG(live_wait_for(l, want, 10), "%s: no event of the new process %s: %.300s", path, id, l->body);
		live_close(l);
		r = del(srv, "/processes/%s", id);
		CHECK_STATUS(r, 200);
		resp_free(r);
	}
}

/* Without since or Last-Event-ID a subscription starts with the next event. */
static void test_default_starts_with_next_event(void)
{
	char id[ID_CAP], want[ID_CAP + 32];
	struct live *l;
	struct resp *r;
	struct evs e;
	bool ok;
	int first = -1;

	l = live_open(srv, "/events", NDJSON);
	live_pump(HEARTBEAT_S + 0.2);
	CHECK_MSG(l->status == 200, "GET /events: %ld %s", l->status, l->error);
	ok = parse_events(NDJSON, l->body, l->len, &e);
	CHECK_MSG(ok, "%s", e.err);
	for (int i = 0; i < e.n; i++)
		ok = ok && e.v[i].heartbeat;
	evs_free(&e);
	CHECK_MSG(ok, "a new subscription got old events: %.300s", l->body);
	r = spawn(srv, "{\"target\": \"worker\"}", 10);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, id));
	resp_free(r);
	snprintf(want, sizeof want, "\"id\":\"%s\"", id);
	CHECK_MSG(live_wait_for(l, "\"event\":\"exited\"", 10), "%s", l->body);
	ok = parse_events(NDJSON, l->body, l->len, &e);
	CHECK_MSG(ok, "%s", e.err);
	for (int i = 0; i < e.n && first < 0; i++)
		first = e.v[i].heartbeat ? -1 : i;
	ok = first >= 0 && !strcmp(ev_type(&e.v[first]), "created") && ev_pid(&e.v[first]) &&
	     !strcmp(ev_pid(&e.v[first]), id);
	evs_free(&e);
	CHECK_MSG(ok, "the first event is not the new process's created: %.300s", l->body);
	live_close(l);
	r = del(srv, "/processes/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
}

/* The "created" event of process id in e, or NULL. */
static const cJSON *created_of(const struct evs *e, const char *id)
{
	for (int i = 0; i < e->n; i++)
		if (!e->v[i].heartbeat && !strcmp(ev_type(&e->v[i]), "created") && ev_pid(&e->v[i]) &&
		    !strcmp(ev_pid(&e->v[i]), id))
			return cJSON_GetObjectItemCaseSensitive(e->v[i].json, "process");
	return NULL;
}

/* "created" says what is true when it is sent (issue 9): a process that
 * starts at once is running with its pid, one queued behind --max-running is
 * queued with pid null (still alive); never "running" without a pid. */
static void test_created_says_what_is_true(void)
{
	struct server *s = server_start("--heartbeat 0.5 --max-running 1");
	char running[ID_CAP], queued[ID_CAP], why[256];
	const cJSON *c;
	struct live *l;
	struct resp *r;
	struct evs e;

	CHECK_MSG(s, "server with --max-running 1 did not start");
	l = live_open(s, "/events", NDJSON);
	live_pump(0.2);
	r = spawn(s, "{\"target\": \"sleep\", \"args\": [60]}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, running));
	long long pid = jint(r->json, "pid", 0);
	resp_free(r);
	r = spawn(s, "{\"target\": \"worker\"}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, queued));
	resp_free(r);
	r = del(s, "/processes/%s?grace=0", running);
	CHECK_STATUS(r, 200);
	resp_free(r);
	r = join(s, queued, 10);
	CHECK_EXITED(r, 0);
	resp_free(r);
	CHECK_MSG(live_wait_for(l, "\"event\":\"exited\",\"ts\"", 10) && live_wait_for(l, queued, 0), "%s", l->body);
	live_pump(0.2);
	CHECK_MSG(parse_events(NDJSON, l->body, l->len, &e), "%s", e.err);
	c = created_of(&e, running);
	bool ok = c && jstr(c, "state") && !strcmp(jstr(c, "state"), "running") && jint(c, "pid", 0) == pid && pid > 0 &&
		  jis_true(c, "alive");
	c = ok ? created_of(&e, queued) : NULL;
	ok = ok && c && jstr(c, "state") && !strcmp(jstr(c, "state"), "queued") && jis_null(c, "pid") &&
	     jis_true(c, "alive");
	evs_free(&e);
	CHECK_MSG(ok, "created events (running pid %lld): %.1500s", pid, l->body);
	live_close(l);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

/* A bad since or Last-Event-ID gets 400 invalid_argument naming it. */
static void test_bad_since_400(void)
{
	static const struct {
		const char *path, *header, *field;
	} cases[] = {
		{ "/events?since=abc", NULL, "since" },
		{ "/events?since=-1", NULL, "since" },
		{ "/events?since=1.5", NULL, "since" },
		{ "/events?since=", NULL, "since" },
		{ "/events?since=12x", NULL, "since" },
		{ "/events?since=99999999999999999999999", NULL, "since" },
		{ "/events", "Last-Event-ID: banana", "Last-Event-ID" },
		{ "/events", "Last-Event-ID: -3", "Last-Event-ID" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *headers[] = { "Accept: text/event-stream", cases[i].header, NULL };
		struct live *l = live_request(srv, "GET", cases[i].path, headers, NULL, 0, 0);
		cJSON *j;
		const cJSON *d, *details;
		bool named = false, coded;
		CHECK_MSG(live_wait_done(l, 5), "GET %s%s%s: still streaming after 5 s: %.200s", cases[i].path,
			  cases[i].header ? " with " : "", cases[i].header ? cases[i].header : "", l->body);
		j = cJSON_Parse(l->body);
		details = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "details");
		cJSON_ArrayForEach(d, details)
			named = named || (jstr(d, "field") && !strcmp(jstr(d, "field"), cases[i].field));
		coded = jstr(cJSON_GetObjectItem(j, "error"), "code") &&
			!strcmp(jstr(cJSON_GetObjectItem(j, "error"), "code"), "invalid_argument");
		cJSON_Delete(j);
		CHECK_MSG(l->status == 400 && coded && named, "GET %s%s%s -> %ld, expected 400 invalid_argument naming %s: %.300s",
			  cases[i].path, cases[i].header ? " with " : "", cases[i].header ? cases[i].header : "", l->status,
			  cases[i].field, l->body);
		live_close(l);
	}
}

/* A subscriber that closes its connection is freed within heartbeat + 1 s. */
static void test_vanished_subscriber_freed(void)
{
	double base = 0, want = 2;
	struct live *l[2];

	/* The earlier cases' subscribers are gone by now (each was closed at least a heartbeat ago, or is about to be). */
	CHECK_MSG(live_wait_until(streams_open_is, &base, HEARTBEAT_S + 1),
		  "spawnd_streams_open %.0f with no subscriber connected (the earlier cases closed theirs)",
		  metric_value(srv, "spawnd_streams_open"));
	l[0] = live_open(srv, "/events", NDJSON);
	l[1] = live_open(srv, "/events", SSE);
	CHECK_MSG(live_wait_until(streams_open_is, &want, 5), "spawnd_streams_open %.0f with two subscribers, expected %.0f",
		  metric_value(srv, "spawnd_streams_open"), want);
	live_close(l[0]);
	live_close(l[1]);
	CHECK_MSG(live_wait_until(streams_open_is, &base, HEARTBEAT_S + 1),
		  "spawnd_streams_open %.0f, expected %.0f, %.1f s after two /events subscribers left",
		  metric_value(srv, "spawnd_streams_open"), base, HEARTBEAT_S + 1);
}

/* After a case: if spawnd died (or stopped answering), say so as a failure of
 * its own, with the reason, and start a new one for the next cases. */
static void check_server_survived(const char *name)
{
	char why[256] = "";

	if (!srv || server_healthy(srv))
		return;
	server_stop(srv, why, sizeof why);
	check_failed_cases++;
	printf("FAIL %s_left_spawnd_alive: spawnd stopped answering during %s (%s; log tail on stderr)\n", name, name,
	       why);
	fflush(stdout);
	srv = server_start("--heartbeat 0.5");
}

#define RUN_CASE(fn) do { RUN(fn); check_server_survived(#fn); } while (0)

static void test_shared_server_shutdown(void)
{
	char why[256];
	struct live *l;
	int rc;

	CHECK(server_healthy(srv));
	/* An open subscription ends cleanly at shutdown. */
	l = live_open(srv, "/events", SSE);
	live_pump(0.2);
	rc = server_stop(srv, why, sizeof why);
	srv = NULL;
	CHECK_MSG(rc == 0, "%s", why);
	CHECK_MSG(live_wait_done(l, 2), "the /events stream did not end at shutdown");
	CHECK_MSG(!l->error[0], "the /events stream ended with an error at shutdown: %s", l->error);
	live_close(l);
}

/* More than 8192 events (queued processes deleted before they start: created,
 * exited, removed, no fork): a subscriber that read all along misses none; one
 * that asks from 0 afterwards is first told how many are gone, then gets the
 * 8192 kept, from the oldest. */
static void test_gap_when_further_behind_than_the_ring(void)
{
	struct server *s = server_start("--heartbeat 0.5 --max-running 1");
	char blocker[ID_CAP], why[256];
	struct live *along, *late;
	struct resp *r;
	struct evs e;
	long long last = -1, prev = -1;
	int n_events = 0;
	bool ok;

	CHECK_MSG(s, "server with --max-running 1 did not start");
	along = live_open(s, "/events", SSE);
	live_pump(0.2);
	r = spawn(s, "{\"target\": \"sleep\", \"args\": [60]}", -1);
	CHECK_STATUS(r, 201);
	CHECK(take_id(r, blocker));
	resp_free(r);
	for (int i = 0; i < 3000; i++) {
		char id[ID_CAP];
		r = spawn(s, "{\"target\": \"worker\"}", -1);
		CHECK_STATUS(r, 201);
		CHECK_MSG(jstr(r->json, "state") && !strcmp(jstr(r->json, "state"), "queued"), "not queued: " RESP_FMT,
			  RESP_ARGS(r));
		CHECK(take_id(r, id));
		resp_free(r);
		r = del(s, "/processes/%s", id);
		CHECK_STATUS(r, 200);
		resp_free(r);
		if (i % 16 == 0)
			live_pump(0);
	}
	r = del(s, "/processes/%s?grace=0", blocker);
	CHECK_STATUS(r, 200);
	resp_free(r);
	CHECK_MSG(live_wait_for(along, "event: removed\nid: 9004\n", 20),
		  "the subscriber that read all along did not get event 9004 (%zu bytes)", along->len);
	ok = parse_events(SSE, along->body, along->len, &e);
	CHECK_MSG(ok, "%s", e.err);
	for (int i = 0; ok && i < e.n; i++) {
		if (e.v[i].heartbeat)
			continue;
		ok = e.v[i].seq == prev + 1 || prev < 0;
		if (!ok)
			snprintf(why, sizeof why, "id %lld after %lld (%s)", e.v[i].seq, prev, ev_type(&e.v[i]));
		prev = e.v[i].seq;
		n_events++;
	}
	evs_free(&e);
	CHECK_MSG(ok, "the subscriber that read all along: %s", why);
	CHECK_MSG(n_events == 9004, "the subscriber that read all along got %d events, expected 9004", n_events);
	last = prev;
	live_close(along);

	late = live_open(s, "/events?since=0", SSE);
	CHECK_MSG(live_wait_for(late, "id: 9004\n", 20), "since=0: no event 9004 (%zu bytes)", late->len);
	ok = parse_events(SSE, late->body, late->len, &e);
	CHECK_MSG(ok, "%s", e.err);
	{
		int first = 0, count = 0;
		while (first < e.n && e.v[first].heartbeat)
			first++;
		ok = first < e.n && !strcmp(ev_type(&e.v[first]), "gap") &&
		     jint(e.v[first].json, "dropped_events", -1) == last - RING && !strcmp(e.v[first].name, "gap");
		snprintf(why, sizeof why, "first: %.200s", first < e.n ? e.v[first].text : "(none)");
		prev = last - RING;
		for (int i = first + 1; ok && i < e.n; i++) {
			if (e.v[i].heartbeat)
				continue;
			ok = e.v[i].seq == prev + 1;
			snprintf(why, sizeof why, "after the gap: id %lld follows %lld", e.v[i].seq, prev);
			prev = e.v[i].seq;
			count++;
		}
		evs_free(&e);
		CHECK_MSG(ok, "GET /events?since=0 after %lld events: %s (expected a gap line with dropped_events %lld, "
			  "then ids from %lld)", last, why, last - RING, last - RING + 1);
		CHECK_MSG(count == RING, "since=0: %d events after the gap, expected %d", count, RING);
	}
	live_close(late);
	CHECK_MSG(server_stop(s, why, sizeof why) == 0, "%s", why);
}

int main(void)
{
	srv = server_start("--heartbeat 0.5");
	if (!srv) {
		printf("FAIL server_start: spawnd did not start (see stderr)\n");
		return 1;
	}
	RUN_CASE(test_subscriber_sees_every_event_of_100_processes);
	RUN_CASE(test_sse_and_ndjson_format_and_heartbeats);
	RUN_CASE(test_resume_with_since_and_last_event_id);
	RUN_CASE(test_default_starts_with_next_event);
	RUN_CASE(test_bad_since_400);
	RUN(test_created_says_what_is_true);
	RUN_CASE(test_vanished_subscriber_freed);
	RUN(test_shared_server_shutdown);
	RUN(test_gap_when_further_behind_than_the_ring);
	evs_free(&hundred);
	return CHECK_EXIT();
}
