/* api_metrics — GET /metrics and the store field of GET /healthz.
 *
 * /metrics is Prometheus text that `promtool check metrics` (Debian's
 * prometheus package; a missing promtool fails the case, it never skips)
 * accepts after traffic that touches every family; each family has its type
 * and labels (target, reason, route template, code; never an id); the
 * labelled counters are there at 0 before any traffic, for every target
 * (builtin, plugin, exec) and reason; and the values move as the traffic
 * says: 3 workers are started_total 3, an exit 3 is reason "exit", a 404 is
 * counted under its route template, a reload's new target appears at 0 and
 * a dropped one keeps its history.
 *
 * A request is counted when libmicrohttpd reports it complete, which may be
 * just after its client has read the answer: the cases wait (bounded) for a
 * counter to reach its value before comparing it.
 */
#define _GNU_SOURCE
#include "tests/harness.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

CHECK_MAIN_STATE;

static char examples[PATH_MAX];
static char broken_program[PATH_MAX];  /* an exec target's program, made unexecutable by a case */

static const char *const reasons[] = { "exit", "signal", "terminate", "kill", "timeout", "spawn_error", "lost" };
#define NREASONS (sizeof reasons / sizeof reasons[0])

/* Exec targets "hello" (prints "hello\n") and "broken" (its program loses
 * its x bit in a case: spawn_error). */
static char *targets_file(const char *first_name)
{
	char *json = NULL;
	if (asprintf(&json, "{\"version\": 1, \"targets\": ["
		     "{\"name\": \"%s\", \"program\": \"/bin/echo\", \"argv\": [\"hello\"]},"
		     "{\"name\": \"broken\", \"program\": \"%s\"}]}", first_name, broken_program) < 0)
		return NULL;
	return json;
}

static struct server *start(const char *extra)
{
	char *json = targets_file("hello"), args[PATH_MAX + 64];
	snprintf(args, sizeof args, "--plugins %s%s%s", examples, extra ? " " : "", extra ? extra : "");
	struct server *s = json ? server_start_targets(json, args) : NULL;
	free(json);
	return s;
}

static char *scrape(struct server *srv)
{
	struct resp *r = get(srv, "/metrics");
	char *body = r->status == 200 && strncmp(r->content_type, "text/plain", 10) == 0 ? strdup(r->body) : NULL;
	resp_free(r);
	return body;
}

/* The value of the sample whose name and labels are exactly series
 * (`name{a="x"}` or `name`), -1 when there is none. */
static double sample_in(const char *body, const char *series)
{
	size_t n = strlen(series);
	for (const char *line = body; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, series, n) == 0 && line[n] == ' ')
			return strtod(line + n + 1, NULL);
	return -1;
}

static double sample(struct server *srv, const char *series)
{
	char *body = scrape(srv);
	double v = body ? sample_in(body, series) : -1;
	free(body);
	return v;
}

/* Polls (at most 10 s) until series is want, and returns its last value. */
static double sample_when(struct server *srv, const char *series, double want)
{
	double v = -1, until = now_s() + 10;
	while ((v = sample(srv, series)) != want && now_s() < until)
		sleep_s(0.02);
	return v;
}

#define CHECK_SAMPLE(srv, series, want) do { \
		double got_ = sample_when((srv), (series), (want)); \
		CHECK_MSG(got_ == (want), "%s is %g, expected %g", (series), got_, (double)(want)); \
	} while (0)

static void spawn_ok(struct server *srv, const char *body, const char *state)
{
	struct resp *r = spawn(srv, body, 10);
	CHECK_STATUS(r, 201);
	CHECK_MSG(jstr(r->json, "state") && strcmp(jstr(r->json, "state"), state) == 0,
		  "expected state %s: " RESP_FMT, state, RESP_ARGS(r));
	resp_free(r);
}

/* The cases' one family table: name, type, and a label set of one sample. */
static const struct { const char *name, *type, *series; } families[] = {
	{ "spawnd_build_info", "gauge", "spawnd_build_info{version=" },
	{ "spawnd_uptime_seconds", "gauge", "spawnd_uptime_seconds " },
	{ "spawnd_processes_running", "gauge", "spawnd_processes_running " },
	{ "spawnd_processes_queued", "gauge", "spawnd_processes_queued " },
	{ "spawnd_streams_open", "gauge", "spawnd_streams_open " },
	{ "spawnd_processes_started_total", "counter", "spawnd_processes_started_total{target=\"worker\"} " },
	{ "spawnd_processes_ended_total", "counter",
	  "spawnd_processes_ended_total{target=\"exit\",reason=\"exit\"} " },
	{ "spawnd_spawn_latency_seconds", "histogram", "spawnd_spawn_latency_seconds_bucket{le=\"+Inf\"} " },
	{ "spawnd_process_duration_seconds", "histogram", "spawnd_process_duration_seconds_count " },
	{ "spawnd_output_bytes_total", "counter", "spawnd_output_bytes_total{stream=\"stderr\"} " },
	{ "spawnd_http_requests_total", "counter",
	  "spawnd_http_requests_total{method=\"GET\",route=\"/processes/{id}\",code=\"404\"} " },
	{ "spawnd_http_request_duration_seconds", "histogram",
	  "spawnd_http_request_duration_seconds_bucket{method=\"POST\",route=\"/processes\",le=\"0.001\"} " },
	{ "spawnd_store_writable", "gauge", "spawnd_store_writable " },
	{ "spawnd_store_write_duration_seconds", "histogram", "spawnd_store_write_duration_seconds_sum " },
	{ "spawnd_store_write_errors_total", "counter", "spawnd_store_write_errors_total " },
	{ "spawnd_output_dropped_bytes_total", "counter",
	  "spawnd_output_dropped_bytes_total{stream=\"stdout\",reason=\"cap\"} " },
	{ "spawnd_objects", "gauge", "spawnd_objects{kind=\"queues\"} " },
	{ "spawnd_object_waiters", "gauge", "spawnd_object_waiters{kind=\"sync/locks\"} " },
	{ "spawnd_object_grants", "gauge", "spawnd_object_grants{kind=\"sync/semaphores\"} " },
	{ "spawnd_object_grants_abandoned_total", "counter",
	  "spawnd_object_grants_abandoned_total{kind=\"sync/locks\"} " },
};

/* Runs promtool check metrics on body: its exit status, its words in out. */
static int promtool(const char *body, char *out, size_t cap)
{
	char path[] = "/tmp/spawnd-metrics-XXXXXX", cmd[PATH_MAX + 64];
	int fd = mkstemp(path);
	if (fd < 0)
		return snprintf(out, cap, "mkstemp: %s", strerror(errno)), -1;
	size_t len = strlen(body);
	bool written = write(fd, body, len) == (ssize_t)len;
	close(fd);
	snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
	FILE *p = written ? popen(cmd, "r") : NULL;
	size_t n = p ? fread(out, 1, cap - 1, p) : 0;
	out[n] = '\0';
	int st = p ? pclose(p) : -1;
	unlink(path);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Every sample line (name and labels) is there once. */
static bool series_unique(const char *body, char *dup, size_t cap)
{
	for (const char *a = body; a && *a; a = strchr(a, '\n') ? strchr(a, '\n') + 1 : NULL) {
		size_t alen = strcspn(a, " ");
		if (*a == '#')
			continue;
		for (const char *b = strchr(a, '\n') ? strchr(a, '\n') + 1 : NULL; b && *b;
		     b = strchr(b, '\n') ? strchr(b, '\n') + 1 : NULL)
			if (strcspn(b, " ") == alen && strncmp(a, b, alen) == 0) {
				snprintf(dup, cap, "%.*s", (int)alen, a);
				return false;
			}
	}
	return true;
}

/* Traffic for every family: workers of each kind, an exit 3, output on both
 * streams, a spawn error, a terminate, a 404 and an unknown path, a live
 * stream open during the scrape. */
static void traffic(struct server *srv)
{
	spawn_ok(srv, "{\"target\": \"worker\"}", "exited");
	spawn_ok(srv, "{\"target\": \"plugin_worker\"}", "exited");
	spawn_ok(srv, "{\"target\": \"hello\"}", "exited");
	spawn_ok(srv, "{\"target\": \"exit\", \"args\": {\"code\": 3}}", "exited");
	spawn_ok(srv, "{\"target\": \"burst\", \"args\": {\"bytes\": 1000, \"stream\": \"stderr\"}}", "exited");
	CHECK(chmod(broken_program, 0644) == 0);
	struct resp *r = spawn(srv, "{\"target\": \"broken\"}", 10);
	chmod(broken_program, 0755);
	CHECK_STATUS(r, 201);
	resp_free(r);
	r = get(srv, "/processes/00000000000000000000000");
	CHECK_STATUS(r, 404);
	resp_free(r);
	r = get(srv, "/no/such/path");
	CHECK_STATUS(r, 404);
	resp_free(r);
}

static struct server *scraped;

static bool one_stream_open(void *arg)
{
	return sample(scraped, "spawnd_streams_open") == 1;
}

static void test_promtool_accepts_output_after_traffic(void)
{
	struct server *srv = start(NULL);
	char out[4096], why[256];
	CHECK_MSG(srv, "spawnd did not start");
	traffic(srv);
	if (check_failure[0])
		return;
	struct live *events = live_open(srv, "/events", "text/event-stream");
	scraped = srv;
	CHECK_MSG(live_wait_until(one_stream_open, NULL, 10), "spawnd_streams_open never became 1");
	CHECK_SAMPLE(srv, "spawnd_http_requests_total{method=\"other\",route=\"unmatched\",code=\"404\"}", 1);
	char *body = scrape(srv);
	live_close(events);
	CHECK_MSG(body, "GET /metrics did not answer 200 text/plain");
	int st = promtool(body, out, sizeof out);
	CHECK_MSG(st == 0, "promtool check metrics exited %d (missing? scripts/install-deps.sh test "
		  "installs Debian's prometheus package): %s", st, out);
	CHECK_MSG(series_unique(body, out, sizeof out), "series %s appears twice", out);
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
		char type[256];
		snprintf(type, sizeof type, "\n# TYPE %s %s\n", families[i].name, families[i].type);
		CHECK_MSG(strstr(body, type), "no \"# TYPE %s %s\" line", families[i].name, families[i].type);
		CHECK_MSG(strstr(body, families[i].series), "no sample %s", families[i].series);
	}
	free(body);
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "%s", why);
}

/* Before any traffic, every target (builtin, plugin, exec) x reason is
 * there at 0, and so is a route x documented status. */
static void test_counters_at_zero_before_traffic(void)
{
	struct server *srv = start(NULL);
	static const char *const targets[] = { "worker", "exit", "plugin_worker", "hello", "broken" };
	char series[256], why[256];
	CHECK_MSG(srv, "spawnd did not start");
	char *body = scrape(srv);       /* the first request */
	CHECK_MSG(body, "GET /metrics did not answer 200 text/plain");
	for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
		snprintf(series, sizeof series, "spawnd_processes_started_total{target=\"%s\"}", targets[t]);
		CHECK_MSG(sample_in(body, series) == 0, "%s is %g, expected 0", series, sample_in(body, series));
		for (size_t r = 0; r < NREASONS; r++) {
			snprintf(series, sizeof series, "spawnd_processes_ended_total{target=\"%s\",reason=\"%s\"}",
				 targets[t], reasons[r]);
			CHECK_MSG(sample_in(body, series) == 0, "%s is %g, expected 0", series, sample_in(body, series));
		}
	}
	static const char *const zeros[] = {
		"spawnd_http_requests_total{method=\"GET\",route=\"/processes/{id}\",code=\"404\"}",
		"spawnd_http_requests_total{method=\"POST\",route=\"/processes\",code=\"201\"}",
		"spawnd_http_requests_total{method=\"POST\",route=\"/processes\",code=\"429\"}",
		"spawnd_http_requests_total{method=\"GET\",route=\"/metrics\",code=\"200\"}",
		"spawnd_http_request_duration_seconds_count{method=\"GET\",route=\"/processes/{id}/output\"}",
		"spawnd_output_bytes_total{stream=\"stdout\"}",
		"spawnd_output_bytes_total{stream=\"stderr\"}",
		"spawnd_spawn_latency_seconds_count",
		"spawnd_process_duration_seconds_count",
		"spawnd_store_write_errors_total",
	};
	for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++)
		CHECK_MSG(sample_in(body, zeros[i]) == 0, "%s is %g, expected 0", zeros[i], sample_in(body, zeros[i]));
	free(body);
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "%s", why);
}

/* 3 workers, an exit 3, known output, a 404: the counters say exactly that. */
static void test_values_follow_traffic(void)
{
	struct server *srv = start(NULL);
	char why[256], id[ID_CAP];
	CHECK_MSG(srv, "spawnd did not start");
	for (int i = 0; i < 3; i++)
		spawn_ok(srv, "{\"target\": \"worker\"}", "exited");
	spawn_ok(srv, "{\"target\": \"exit\", \"args\": {\"code\": 3}}", "exited");
	spawn_ok(srv, "{\"target\": \"echo\", \"args\": {\"words\": [\"hello\", \"world\"]}}", "exited");
	spawn_ok(srv, "{\"target\": \"burst\", \"args\": {\"bytes\": 1000, \"stream\": \"stderr\"}}", "exited");
	struct resp *r = spawn(srv, "{\"target\": \"worker\"}", 10);
	CHECK(take_id(r, id));
	resp_free(r);
	r = del(srv, "/processes/%s", id);
	CHECK_STATUS(r, 200);
	resp_free(r);
	r = get(srv, "/processes/%s", id);      /* deleted: 404 */
	CHECK_STATUS(r, 404);
	resp_free(r);
	CHECK_SAMPLE(srv, "spawnd_processes_started_total{target=\"worker\"}", 4);
	CHECK_SAMPLE(srv, "spawnd_processes_ended_total{target=\"worker\",reason=\"exit\"}", 4);
	CHECK_SAMPLE(srv, "spawnd_processes_ended_total{target=\"exit\",reason=\"exit\"}", 1);
	CHECK_SAMPLE(srv, "spawnd_processes_ended_total{target=\"exit\",reason=\"signal\"}", 0);
	CHECK_SAMPLE(srv, "spawnd_processes_started_total{target=\"sleep\"}", 0);
	CHECK_SAMPLE(srv, "spawnd_spawn_latency_seconds_count", 7);
	CHECK_SAMPLE(srv, "spawnd_process_duration_seconds_count", 7);
	CHECK_SAMPLE(srv, "spawnd_output_bytes_total{stream=\"stderr\"}", 1000);
	CHECK_SAMPLE(srv, "spawnd_http_requests_total{method=\"POST\",route=\"/processes\",code=\"201\"}", 7);
	CHECK_SAMPLE(srv, "spawnd_http_requests_total{method=\"DELETE\",route=\"/processes/{id}\",code=\"200\"}", 1);
	CHECK_SAMPLE(srv, "spawnd_http_requests_total{method=\"GET\",route=\"/processes/{id}\",code=\"404\"}", 1);
	CHECK_SAMPLE(srv, "spawnd_http_requests_total{method=\"GET\",route=\"/processes/{id}\",code=\"200\"}", 0);
	CHECK_SAMPLE(srv, "spawnd_http_request_duration_seconds_count{method=\"POST\",route=\"/processes\"}", 7);
	/* 4 workers' "Worker: ...\n" lines and "hello world\n": at least the 12 of the echo. */
	double out = sample(srv, "spawnd_output_bytes_total{stream=\"stdout\"}");
	CHECK_MSG(out >= 12, "stdout bytes %g, expected at least 12", out);
	char *body = scrape(srv);
	CHECK_MSG(body && !strstr(body, id), "the /metrics text names a process id (%s)", id);
	free(body);
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "%s", why);
}

/* A spawn error, a terminate, a queued start: their reasons, and the time
 * queued counted in the spawn latency; a long ?wait= in the HTTP duration. */
static void test_reasons_and_latencies(void)
{
	struct server *srv = start("--max-running 1");
	char why[256], id[ID_CAP];
	CHECK_MSG(srv, "spawnd did not start");
	CHECK(chmod(broken_program, 0644) == 0);
	struct resp *r = spawn(srv, "{\"target\": \"broken\"}", 10);
	chmod(broken_program, 0755);
	CHECK_STATUS(r, 201);
	resp_free(r);
	CHECK_SAMPLE(srv, "spawnd_processes_ended_total{target=\"broken\",reason=\"spawn_error\"}", 1);
	CHECK_SAMPLE(srv, "spawnd_processes_started_total{target=\"broken\"}", 0);
	r = spawn(srv, "{\"target\": \"sleep\", \"args\": {\"seconds\": 60}}", -1);
	CHECK(take_id(r, id));
	resp_free(r);
	r = spawn(srv, "{\"target\": \"worker\"}", -1);    /* queued behind the sleep */
	CHECK_STATUS(r, 201);
	resp_free(r);
	CHECK_SAMPLE(srv, "spawnd_processes_queued", 1);
	sleep_s(0.6);
	r = postf(srv, NULL, "/processes/%s/terminate", id);
	CHECK_STATUS(r, 202);
	resp_free(r);
	CHECK_SAMPLE(srv, "spawnd_processes_ended_total{target=\"sleep\",reason=\"terminate\"}", 1);
	CHECK_SAMPLE(srv, "spawnd_processes_ended_total{target=\"worker\",reason=\"exit\"}", 1);
	/* The queued worker waited >= 0.6 s: its start lies above the 0.25 s bound. */
	double below = sample(srv, "spawnd_spawn_latency_seconds_bucket{le=\"0.25\"}");
	double all = sample(srv, "spawnd_spawn_latency_seconds_count");
	CHECK_MSG(all == 2 && below >= 0 && below <= 1, "spawn latency: %g of %g starts within 0.25 s, "
		  "expected the queued one above", below, all);
	spawn_ok(srv, "{\"target\": \"sleep\", \"args\": {\"seconds\": 0.3}}", "exited");
	CHECK_SAMPLE(srv, "spawnd_http_request_duration_seconds_count{method=\"POST\",route=\"/processes\"}", 4);
	below = sample(srv, "spawnd_http_request_duration_seconds_bucket{method=\"POST\",route=\"/processes\","
			    "le=\"0.25\"}");
	CHECK_MSG(below >= 0 && below < 4, "%g of 4 POST /processes within 0.25 s: the 0.3 s ?wait= is not", below);
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "%s", why);
}

/* A reload's new exec target is there at 0; the dropped one keeps its count. */
static void test_reload_adds_targets_keeps_history(void)
{
	struct server *srv = start(NULL);
	char path[PATH_MAX], why[256];
	CHECK_MSG(srv, "spawnd did not start");
	spawn_ok(srv, "{\"target\": \"hello\"}", "exited");
	CHECK_SAMPLE(srv, "spawnd_processes_ended_total{target=\"hello\",reason=\"exit\"}", 1);
	char *json = targets_file("greeting");
	snprintf(path, sizeof path, "%s/targets.json", server_root(srv));
	FILE *f = json ? fopen(path, "w") : NULL;
	CHECK_MSG(f && fputs(json, f) >= 0 && fclose(f) == 0, "cannot rewrite %s", path);
	free(json);
	struct resp *r = post_json(srv, "/targets/reload", "");
	CHECK_STATUS(r, 200);
	resp_free(r);
	CHECK_SAMPLE(srv, "spawnd_processes_started_total{target=\"greeting\"}", 0);
	CHECK_SAMPLE(srv, "spawnd_processes_ended_total{target=\"greeting\",reason=\"timeout\"}", 0);
	CHECK_SAMPLE(srv, "spawnd_processes_started_total{target=\"hello\"}", 1);
	CHECK_SAMPLE(srv, "spawnd_processes_ended_total{target=\"hello\",reason=\"exit\"}", 1);
	spawn_ok(srv, "{\"target\": \"greeting\"}", "exited");
	CHECK_SAMPLE(srv, "spawnd_processes_started_total{target=\"greeting\"}", 1);
	char *body = scrape(srv);
	CHECK_MSG(body && series_unique(body, why, sizeof why), "series %s appears twice", why);
	free(body);
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "%s", why);
}

/* /healthz says the store is writable, as does /metrics, whose store write
 * histogram counts the record writes: each one for the memory store, each
 * commit for SQLite, whose writer commits several in one transaction. */
static void check_store_writes(const char *store, double at_least)
{
	char args[64], why[256];
	snprintf(args, sizeof args, "--store %s", store);
	struct server *srv = start(args);
	CHECK_MSG(srv, "spawnd --store %s did not start", store);
	struct resp *r = get(srv, "/healthz");
	CHECK_STATUS(r, 200);
	CHECK_MSG(jis_true(r->json, "store_writable"), "no store_writable: true: " RESP_FMT, RESP_ARGS(r));
	CHECK_STR(jstr(r->json, "status"), "ok");
	resp_free(r);
	CHECK_SAMPLE(srv, "spawnd_store_writable", 1);
	spawn_ok(srv, "{\"target\": \"worker\"}", "exited");
	/* Its insert and its transitions to running and exited: three writes to
	 * the memory store; for SQLite at least one commit (a list commits what
	 * was answered about: its answer only waited for the journal). */
	resp_free(get(srv, "/processes?limit=1"));
	double writes = sample(srv, "spawnd_store_write_duration_seconds_count");
	CHECK_MSG(writes >= at_least, "--store %s: %g store writes timed, expected at least %g", store, writes,
		  at_least);
	CHECK_SAMPLE(srv, "spawnd_store_write_errors_total", 0);
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "%s", why);
}

static void test_healthz_store_writable(void)
{
	check_store_writes("memory", 3);
	check_store_writes("sqlite", 1);
}

/* A script in a folder of its own, its x bit taken away by the cases that
 * want a spawn error. */
static int make_broken_program(void)
{
	char dir[] = "/tmp/spawnd-metrics-prog-XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	snprintf(broken_program, sizeof broken_program, "%s/prog", dir);
	FILE *f = fopen(broken_program, "w");
	if (!f || fputs("#!/bin/sh\nexit 0\n", f) < 0 || fclose(f) != 0)
		return -1;
	return chmod(broken_program, 0755);
}

/* A request sent on a connection of its own and left unread (a waiter). */
static int send_unread(struct server *srv, const char *method, const char *path)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(strrchr(server_url(srv), ':') + 1)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char req[512];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
			 method, path);
	if (fd >= 0 && (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
			send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Shared objects by kind: objects, grants held, a lapsed lease counted as
 * abandoned, a waiting get; output beyond the cap counted as dropped. */
static void test_objects_and_dropped_output(void)
{
	struct server *srv = start("--output-cap-per-process 1000");
	CHECK(srv);
	struct resp *r = http(srv, "PUT", "/sync/locks/m", "application/json", "{}", NULL);
	CHECK_STATUS(r, 201);
	resp_free(r);
	r = http(srv, "PUT", "/queues/q", "application/json", "{}", NULL);
	CHECK_STATUS(r, 201);
	resp_free(r);
	CHECK_SAMPLE(srv, "spawnd_objects{kind=\"sync/locks\"}", 1);
	CHECK_SAMPLE(srv, "spawnd_objects{kind=\"queues\"}", 1);
	CHECK_SAMPLE(srv, "spawnd_objects{kind=\"sync/events\"}", 0);
	r = post_json(srv, "/sync/locks/m/acquire", "{\"lease\": 60}");
	CHECK_STATUS(r, 200);
	resp_free(r);
	CHECK_SAMPLE(srv, "spawnd_object_grants{kind=\"sync/locks\"}", 1);
	CHECK_SAMPLE(srv, "spawnd_object_grants_abandoned_total{kind=\"sync/locks\"}", 0);
	/* A lease that lapses: its grant is taken back and counted abandoned. */
	r = http(srv, "PUT", "/sync/semaphores/s", "application/json", "{\"value\": 2}", NULL);
	CHECK_STATUS(r, 201);
	resp_free(r);
	r = post_json(srv, "/sync/semaphores/s/acquire", "{\"lease\": 0.2}");
	CHECK_STATUS(r, 200);
	resp_free(r);
	CHECK_SAMPLE(srv, "spawnd_object_grants_abandoned_total{kind=\"sync/semaphores\"}", 1);
	CHECK_SAMPLE(srv, "spawnd_object_grants{kind=\"sync/semaphores\"}", 0);
	int fd = send_unread(srv, "POST", "/queues/q/get?timeout=30");
	CHECK(fd >= 0);
	CHECK_SAMPLE(srv, "spawnd_object_waiters{kind=\"queues\"}", 1);
	close(fd);
	spawn_ok(srv, "{\"target\": \"burst\", \"args\": [5000]}", "exited");
	CHECK_SAMPLE(srv, "spawnd_output_dropped_bytes_total{stream=\"stdout\",reason=\"cap\"}", 4000);
	CHECK_SAMPLE(srv, "spawnd_output_dropped_bytes_total{stream=\"stderr\",reason=\"cap\"}", 0);
	char why[256];
	CHECK_MSG(server_stop(srv, why, sizeof why) == 0, "stop: %s", why);
}

int main(void)
{
	const char *dir = getenv("SPAWND_EXAMPLE_PLUGINS") ? getenv("SPAWND_EXAMPLE_PLUGINS") : "build/examples";
	if (!realpath(dir, examples)) {
		printf("FAIL setup: example plugins folder %s: %s (build it with make)\n", dir, strerror(errno));
		return 1;
	}
	if (make_broken_program() < 0) {
		printf("FAIL setup: cannot write a program in /tmp: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_promtool_accepts_output_after_traffic);
	RUN(test_counters_at_zero_before_traffic);
	RUN(test_values_follow_traffic);
	RUN(test_reasons_and_latencies);
	RUN(test_reload_adds_targets_keeps_history);
	RUN(test_healthz_store_writable);
	RUN(test_objects_and_dropped_output);
	unlink(broken_program);
	*strrchr(broken_program, '/') = '\0';
	rmdir(broken_program);
	return CHECK_EXIT();
}
