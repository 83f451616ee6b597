/* metrics — see metrics.h.
 *
 * The text is put together from the modules' own counters: the engine's
 * (engine/proc_metrics.h, the store's write timing in engine/store.h), the
 * HTTP plumbing's (server/http_metrics.h, labelled here with the route
 * table's templates) and the stream count. Nothing here is on a request's
 * hot path: a scrape reads atomics and takes the engine lock only for the
 * running/queued counts and the store check, as /healthz does, and the
 * objects lock once per shared-object family.
 *
 * Naming follows Prometheus's rules: the spawnd_ prefix, base units
 * (seconds, bytes), _total for counters, labels with bounded values (target
 * names, reasons, route templates, statuses; never an id or a pid). Label
 * sets a user would alert on are present at 0 before anything happened:
 * every target x reason, and every route x each status the API documents.
 */
#define _GNU_SOURCE
#include "handlers/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <cjson/cJSON.h>

#include "engine/proc_metrics.h"
#include "engine/store.h"
#include "handlers/health.h"
#include "objects/objects.h"
#include "lib/histogram.h"
#include "server/http_metrics.h"
#include "server/stream.h"

/* The statuses openapi/openapi.yaml documents: each route shows them at 0. */
static const unsigned documented_statuses[] = {
	200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 411, 413, 415, 421, 429, 500, 503,
};

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void server_families(FILE *out)
{
	struct proc_stats st;
	proc_stats(&st);
	family(out, "spawnd_build_info", "gauge", "Always 1; the labels say which build this is.");
	fprintf(out, "spawnd_build_info{version=\"%s\",libmicrohttpd=\"%s\",cjson=\"%s\"} 1\n",
		SPAWND_VERSION, MHD_get_version(), cJSON_Version());
	family(out, "spawnd_uptime_seconds", "gauge", "Seconds since the server started.");
	fprintf(out, "spawnd_uptime_seconds %.3f\n", health_uptime());
	family(out, "spawnd_processes_running", "gauge", "Worker processes running now.");
	fprintf(out, "spawnd_processes_running %ld\n", st.running);
	family(out, "spawnd_processes_queued", "gauge", "Processes waiting for a free slot.");
	fprintf(out, "spawnd_processes_queued %ld\n", st.queued);
	family(out, "spawnd_streams_open", "gauge", "Live output and event streams open now.");
	fprintf(out, "spawnd_streams_open %ld\n", stream_count());
}

static void started_line(const char *target, const struct proc_target_counts *c, void *arg)
{
	fprintf(arg, "spawnd_processes_started_total{target=\"%s\"} %llu\n", target,
		(unsigned long long)c->started);
}

static void ended_lines(const char *target, const struct proc_target_counts *c, void *arg)
{
	for (int r = 0; r < PROC_METRICS_REASONS; r++)
		if (proc_metrics_reason_name(r))
			fprintf(arg, "spawnd_processes_ended_total{target=\"%s\",reason=\"%s\"} %llu\n", target,
				proc_metrics_reason_name(r), (unsigned long long)c->ended[r]);
}

/* Target names are [A-Za-z0-9_.-] (registry.h): label values as they are. */
static void process_families(FILE *out)
{
	family(out, "spawnd_processes_started_total", "counter", "Worker processes started, by target.");
	proc_metrics_targets(started_line, out);
	family(out, "spawnd_processes_ended_total", "counter",
	       "Processes ended, by target and reason (spawn_error: could not start).");
	proc_metrics_targets(ended_lines, out);
	family(out, "spawnd_spawn_latency_seconds", "histogram",
	       "From a process's creation to its worker's start, time queued included.");
	histogram_write(out, "spawnd_spawn_latency_seconds", "", proc_metrics_spawn_latency());
	family(out, "spawnd_process_duration_seconds", "histogram",
	       "From a worker's start to the end of its record (exited, output drained).");
	histogram_write(out, "spawnd_process_duration_seconds", "", proc_metrics_duration());
	family(out, "spawnd_output_bytes_total", "counter", "Output bytes captured from workers, by stream.");
	fprintf(out, "spawnd_output_bytes_total{stream=\"stdout\"} %llu\n",
		(unsigned long long)proc_metrics_output_bytes(PROC_STDOUT));
	fprintf(out, "spawnd_output_bytes_total{stream=\"stderr\"} %llu\n",
		(unsigned long long)proc_metrics_output_bytes(PROC_STDERR));
	family(out, "spawnd_output_dropped_bytes_total", "counter",
	       "Output bytes not kept, by stream and why (cap: output_cap_per_process; disk: min_free_space or a failed write).");
	static const char *const why[] = { [PROC_DROP_CAP] = "cap", [PROC_DROP_DISK] = "disk" };
	for (int s = PROC_STDOUT; s <= PROC_STDERR; s++)
		for (int w = PROC_DROP_CAP; w <= PROC_DROP_DISK; w++)
			fprintf(out, "spawnd_output_dropped_bytes_total{stream=\"%s\",reason=\"%s\"} %llu\n",
				s == PROC_STDOUT ? "stdout" : "stderr", why[w],
				(unsigned long long)proc_metrics_output_dropped(s, w));
}

/* One family's lines for every kind: objects now, waiters now, grants held
 * now, grants taken back from dead or lapsed holders. */
struct kind_lines {
	FILE *out;
	int which;
};

static void kind_line(const struct objects_kind_stats *st, void *arg)
{
	const struct kind_lines *k = arg;
	static const char *const names[] = { "spawnd_objects", "spawnd_object_waiters", "spawnd_object_grants",
					     "spawnd_object_grants_abandoned_total" };
	unsigned long long v = k->which == 0 ? (unsigned long long)st->objects :
			       k->which == 1 ? (unsigned long long)st->waiters :
			       k->which == 2 ? (unsigned long long)st->grants : (unsigned long long)st->abandoned;
	fprintf(k->out, "%s{kind=\"%s\"} %llu\n", names[k->which], st->folder, v);
}

static void object_families(FILE *out)
{
	static const struct { const char *name, *type, *help; } fams[] = {
		{ "spawnd_objects", "gauge", "Shared objects now, by kind (URL folder)." },
		{ "spawnd_object_waiters", "gauge", "Requests waiting on shared objects now (suspended connections)." },
		{ "spawnd_object_grants", "gauge", "Grants held now (lock and semaphore holders, leased queue items)." },
		{ "spawnd_object_grants_abandoned_total", "counter",
		  "Grants taken back because their holder ended or its lease lapsed." },
	};
	for (int i = 0; i < 4; i++) {
		family(out, fams[i].name, fams[i].type, fams[i].help);
		struct kind_lines k = { out, i };
		objects_stats(kind_line, &k);
	}
}

static bool status_shown(unsigned status)
{
	for (size_t i = 0; i < sizeof documented_statuses / sizeof documented_statuses[0]; i++)
		if (documented_statuses[i] == status)
			return true;
	return http_metrics_status_seen(status);
}

/* Row 0 is "matched no route" (http_metrics.h); the others are the table's. */
static void route_labels(int row, const struct route *routes, char *buf, size_t len)
{
	if (row == 0)
		snprintf(buf, len, "method=\"other\",route=\"unmatched\"");
	else
		snprintf(buf, len, "method=\"%s\",route=\"%s\"", routes[row - 1].method, routes[row - 1].pattern);
}

static void http_families(FILE *out, const struct route *routes, size_t n)
{
	int rows = n < HTTP_METRICS_ROUTES ? (int)n : HTTP_METRICS_ROUTES;
	char labels[256];
	family(out, "spawnd_http_requests_total", "counter",
	       "HTTP requests answered, by route template (unmatched: no route) and status.");
	for (int row = 0; row <= rows; row++) {
		route_labels(row, routes, labels, sizeof labels);
		for (unsigned s = HTTP_METRICS_STATUS_MIN; s <= HTTP_METRICS_STATUS_MAX; s++)
			if (status_shown(s))
				fprintf(out, "spawnd_http_requests_total{%s,code=\"%u\"} %llu\n", labels, s,
					(unsigned long long)http_metrics_requests(row, s));
	}
	family(out, "spawnd_http_request_duration_seconds", "histogram",
	       "From a request's first byte to the end of its answer, by route template.");
	for (int row = 0; row <= rows; row++) {
		route_labels(row, routes, labels, sizeof labels);
		histogram_write(out, "spawnd_http_request_duration_seconds", labels, http_metrics_duration(row));
	}
}

static void store_families(FILE *out)
{
	family(out, "spawnd_store_writable", "gauge", "1 when the store accepts writes now, else 0.");
	fprintf(out, "spawnd_store_writable %d\n", proc_metrics_store_check() == 0);
	family(out, "spawnd_store_write_duration_seconds", "histogram",
	       "Duration of each write (insert, update, remove) to the record store.");
	histogram_write(out, "spawnd_store_write_duration_seconds", "", store_write_latency());
	family(out, "spawnd_store_write_errors_total", "counter", "Writes to the record store that failed.");
	fprintf(out, "spawnd_store_write_errors_total %llu\n", (unsigned long long)store_write_errors());
}

enum MHD_Result metrics_get(struct http_req *r, const struct route *routes, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out)
		return http_reply_error(r, 500, "internal", NULL, "out of memory");
	server_families(out);
	process_families(out);
	object_families(out);
	http_families(out, routes, n);
	store_families(out);
	bool failed = ferror(out);
	if (fclose(out) != 0 || failed) {
		free(text);
		return http_reply_error(r, 500, "internal", NULL, "out of memory");
	}
	return http_reply_buffer(r, 200, "text/plain; version=0.0.4", text, len, false);
}
