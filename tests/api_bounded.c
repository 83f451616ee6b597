/* api_bounded — memory and disk stay bounded (issue 11, point 5), measured on
 * the real server: its RSS (VmRSS of /proc/PID/status) after 300 one-MiB
 * bursts and after thousands of short processes; 100,000 stored records
 * listed quickly with memory flat; a 2^40-byte burst kept to the per-process
 * output cap with a gap line; and, on a small tmpfs state folder, new
 * processes refused with 507 before the disk is full, with no acknowledged
 * record lost. Bounds are generous upper bounds (the machine is shared).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#include "tests/check.h"
#include "tests/harness.h"

CHECK_MAIN_STATE;

#define MIB (1024.0 * 1024.0)

/* The server's resident memory in bytes (-1: unknown). */
static double rss_bytes(const struct server *srv)
{
	char path[64], line[256];
	double kb = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)server_pid(srv));
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %lf kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024.0;
}

/* A server under ASan (its quarantine keeps freed memory) or valgrind: its
 * RSS says nothing about spawnd's own memory, so the bounds are not checked
 * (the rest of each case is). */
static bool instrumented(const struct server *srv)
{
	char path[64], line[512];
	bool found = false;
	snprintf(path, sizeof path, "/proc/%d/maps", (int)server_pid(srv));
	FILE *f = fopen(path, "r");
	while (f && !found && fgets(line, sizeof line, f))
		found = strstr(line, "libasan") || strstr(line, "vgpreload");
	if (f)
		fclose(f);
	if (found)
		printf("# instrumented server (ASan or valgrind): RSS bounds not checked\n");
	return found;
}

static bool spawn_id(struct server *srv, const char *body, double wait_s, char id[ID_CAP])
{
	struct resp *r = spawn(srv, body, wait_s);
	bool ok = r->status == 201 && take_id(r, id);
	if (!ok)
		fprintf(stderr, "spawn %s: %ld %.300s\n", body, r->status, r->body);
	resp_free(r);
	return ok;
}

/* 300 workers each print 1 MiB, all at once; once they have ended, the
 * server holds none of it: before, each record kept its 1 MiB for good
 * (RSS +300 MB). Every byte is still there, read back from the store. */
static void test_bursts_leave_no_memory(void)
{
	enum { N = 300 };
	struct server *srv = server_start("--output-memory-cap 16M");
	CHECK(srv);
	char (*ids)[ID_CAP] = calloc(N, ID_CAP);
	char warm[ID_CAP];
	CHECK(ids);
	CHECK(spawn_id(srv, "{\"target\": \"burst\", \"args\": {\"bytes\": 1048576}}", 30, warm));
	sleep_s(0.3);
	double before = rss_bytes(srv);
	for (int i = 0; i < N; i++)
		CHECK(spawn_id(srv, "{\"target\": \"burst\", \"args\": {\"bytes\": 1048576}}", -1, ids[i]));
	for (int i = 0; i < N; i++) {
		struct resp *r = join(srv, ids[i], 60);
		CHECK_STATUS(r, 200);
		CHECK_EXITED(r, 0);
		CHECK_MSG(jint(r->json, "stdout_bytes", -1) == 1048576, "stdout_bytes: " RESP_FMT, RESP_ARGS(r));
		resp_free(r);
	}
	sleep_s(0.5);   /* the last records leave memory once the store has them */
	double after = rss_bytes(srv);
	printf("# 300 one-MiB bursts: RSS %.1f MiB before, %.1f MiB after\n", before / MIB, after / MIB);
	CHECK_MSG(instrumented(srv) || (before > 0 && after - before < 80 * MIB), "RSS grew by %.1f MiB (from %.1f MiB)",
		  (after - before) / MIB, before / MIB);
	/* The output is all there, from the store. */
	for (int i = 0; i < N; i += 37) {
		struct resp *r = output_raw(srv, ids[i], "stdout");
		CHECK_STATUS(r, 200);
		CHECK_INT(r->len, 1048576);
		CHECK_MSG(r->body[0] == '0' && r->body[1048575] == '0' + 1048575 % 10, "byte pattern of %s", ids[i]);
		resp_free(r);
	}
	free(ids);
	check_server_stops(&srv);
}

/* Thousands of short processes: the server's memory does not grow with the
 * number of records (before: ~1.4 KB a record, for good). The warm-up fills
 * what is bounded but grows at first: the event ring (EVENTS_KEPT = 8192
 * events, three a process) and SQLite's page caches. */
static void test_records_leave_memory(void)
{
	enum { WARM = 3000, N = 3000 };
	struct server *srv = server_start(NULL);
	char id[ID_CAP];
	CHECK(srv);
	for (int i = 0; i < WARM; i++)          /* caches, arenas, SQLite pages */
		CHECK(spawn_id(srv, "{\"target\": \"worker\", \"args\": [1]}", 30, id));
	sleep_s(0.3);
	double before = rss_bytes(srv);
	for (int i = 0; i < N; i++)
		CHECK(spawn_id(srv, "{\"target\": \"worker\", \"args\": [1]}", 30, id));
	sleep_s(0.3);
	double after = rss_bytes(srv);
	printf("# %d short processes: RSS %.1f MiB before, %.1f MiB after (%.0f bytes a record)\n", N, before / MIB,
	       after / MIB, (after - before) / N);
	CHECK_MSG(instrumented(srv) || after - before < 2.5 * MIB, "RSS grew by %.1f MiB over %d records", (after - before) / MIB, N);
	struct resp *r = get(srv, "/processes/%s", id);      /* the last one, from the store */
	CHECK_STATUS(r, 200);
	CHECK_EXITED(r, 0);
	CHECK_STR(jstr(r->json, "stdout"), "Worker: 1\n");
	resp_free(r);
	check_server_stops(&srv);
}

/* RFC 3339 UTC with ms ("2026-12-01T12:38:49.655Z") as ms since the epoch; -1: not one. */
static int64_t parse_ts(const char *s)
{
	struct tm tm = { 0 };
	int ms = 0;
	const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!rest || sscanf(rest, ".%3dZ", &ms) != 1)
		return -1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* ts of the first output line read from offset (-1: none). */
static int64_t first_ts(struct server *srv, const char *id, int offset)
{
	struct resp *r = get(srv, "/processes/%s/output?stream=stdout&offset=%d", id, offset);
	cJSON **lines;
	int n = r->status == 200 ? ndjson_parse(r->body, r->len, &lines) : -1;
	int64_t ts = n > 0 && jstr(lines[0], "ts") && jstr(lines[0], "data") ? parse_ts(jstr(lines[0], "ts")) : -1;
	if (n >= 0)
		ndjson_free(lines, n);
	resp_free(r);
	return ts;
}

/* Output read back from the store keeps when each byte was captured (its
 * line's ts), not the end's time for all of it. */
static void test_stored_output_keeps_capture_times(void)
{
	struct server *srv = server_start(NULL);
	char id[ID_CAP];
	CHECK(srv);
	CHECK(spawn_id(srv, "{\"target\": \"ticker\", \"args\": {\"count\": 3, \"interval\": 0.4}}", 30, id));
	sleep_s(0.3);   /* out of memory by now: the store answers */
	struct resp *r = get(srv, "/processes/%s", id);
	int64_t ended = parse_ts(jstr(r->json, "ended_at"));
	resp_free(r);
	/* "tick 1\n" is 7 bytes: offsets 0, 7, 14 begin the three ticks */
	int64_t t0 = first_ts(srv, id, 0), t1 = first_ts(srv, id, 7), t2 = first_ts(srv, id, 14);
	CHECK_MSG(t0 > 0 && t1 > 0 && t2 > 0 && ended > 0, "ts %lld %lld %lld, ended %lld", (long long)t0,
		  (long long)t1, (long long)t2, (long long)ended);
	CHECK_MSG(t0 < t1 && t1 < t2 && t2 <= ended && t0 <= ended - 600,
		  "capture times %lld, %lld, %lld ms before the end: expected three ticks 0.4 s apart",
		  (long long)(ended - t0), (long long)(ended - t1), (long long)(ended - t2));
	check_server_stops(&srv);
}

/* Writes n ended records, from base_ms on, straight into a new SQLite store in dir, as
 * spawnd's schema has them (spawnd makes the rest of the schema at start). */
static bool fill_store(const char *dir, int n, int64_t base_ms)
{
	char path[1024];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	snprintf(path, sizeof path, "%s/spawnd.db", dir);
	bool ok = sqlite3_open(path, &db) == SQLITE_OK &&
		sqlite3_exec(db, "PRAGMA page_size=1024; PRAGMA journal_mode=WAL;"
			     "CREATE TABLE records (id TEXT PRIMARY KEY, name TEXT NOT NULL, target TEXT NOT NULL,"
			     " args_text TEXT NOT NULL, daemon INTEGER, timeout REAL, created_ms INTEGER, state INTEGER,"
			     " pid INTEGER, exitcode INTEGER, signal INTEGER, reason INTEGER, error TEXT,"
			     " started_ms INTEGER, ended_ms INTEGER, stdout_bytes INTEGER, stderr_bytes INTEGER,"
			     " start_ticks INTEGER, launch TEXT, stdout_data BLOB, stderr_data BLOB) WITHOUT ROWID;"
			     "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
		sqlite3_prepare_v2(db, "INSERT INTO records VALUES (?1, ?2, 'worker', '[1]', 0, 0, ?3, 2, 4242, 0, 0,"
				   " 1, NULL, ?3, ?3, 10, 0, 0, NULL, 'Worker: 1\n', NULL)", -1, &st, NULL) == SQLITE_OK;
	int64_t ms = base_ms;
	for (int i = 0; ok && i < n; i++) {
		char id[32], name[32];
		/* spawnd's id form: 11 hex digits of ms, 4 of counter, 8 of run */
		snprintf(id, sizeof id, "%011" PRIx64 "%04x%08x", (uint64_t)(ms + i / 16), i % 16, 0xabcdef01u);
		snprintf(name, sizeof name, "Process-%d", i + 1);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, ms + i / 16);
		ok = sqlite3_step(st) == SQLITE_DONE;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
	if (!ok)
		fprintf(stderr, "fill_store: %s\n", db ? sqlite3_errmsg(db) : "no db");
	sqlite3_close(db);
	return ok;
}

static double first_page_s(struct server *srv, int *count)
{
	double best = 1e9;
	for (int i = 0; i < 5; i++) {
		struct resp *r = get(srv, "/processes?limit=100");
		cJSON *list = r->status == 200 ? cJSON_GetObjectItem(r->json, "processes") : NULL;
		*count = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : -1;
		if (r->seconds < best)
			best = r->seconds;
		resp_free(r);
	}
	return best;
}

/* 100,000 ended records: the server's memory is that of an empty store, and
 * the first page lists in about the time it takes there. */
static void test_hundred_thousand_records(void)
{
	struct server *empty = server_start(NULL);
	CHECK(empty);
	int count;
	double empty_s = first_page_s(empty, &count), empty_rss = rss_bytes(empty);
	check_server_stops(&empty);

	char dir[] = "/tmp/spawnd-bounded.XXXXXX", cleanup[128];
	CHECK(mkdtemp(dir));
	snprintf(cleanup, sizeof cleanup, "rm -rf %s", dir);
	int64_t base_ms = (int64_t)time(NULL) * 1000 - 3600 * 1000;   /* within the retention age */
	CHECK(fill_store(dir, 100000, base_ms));
	char args[1200];
	snprintf(args, sizeof args, "--listen 127.0.0.1:0 --state-dir %s --log-level warn", dir);
	struct server *srv = server_start_bare(args);
	CHECK(srv);
	double full_s = first_page_s(srv, &count), full_rss = rss_bytes(srv);
	printf("# 100,000 records: first page %.1f ms (empty store %.1f ms), RSS %.1f MiB (empty %.1f MiB)\n",
	       full_s * 1000, empty_s * 1000, full_rss / MIB, empty_rss / MIB);
	CHECK_INT(count, 100);
	CHECK_MSG(full_s < empty_s + 0.25, "first page %.3f s, %.3f s on an empty store", full_s, empty_s);
	CHECK_MSG(instrumented(srv) || full_rss - empty_rss < 16 * MIB, "RSS %.1f MiB, %.1f MiB with an empty store", full_rss / MIB,
		  empty_rss / MIB);
	struct resp *r = get(srv, "/processes/%011" PRIx64 "%04x%08x", (uint64_t)base_ms, 3, 0xabcdef01u);
	CHECK_STATUS(r, 200);
	CHECK_STR(jstr(r->json, "stdout"), "Worker: 1\n");
	resp_free(r);
	check_server_stops(&srv);
	if (system(cleanup) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* Sums the gap lines of stream in an NDJSON output body; *offset gets the last one's. */
static long long gap_total(const struct resp *r, long long *offset, int *exit_at, int *gap_at)
{
	cJSON **lines;
	long long total = 0;
	int n = ndjson_parse(r->body, r->len, &lines);
	*exit_at = *gap_at = -1;
	for (int i = 0; i < n; i++) {
		const char *ev = jstr(lines[i], "event");
		if (ev && !strcmp(ev, "gap")) {
			total += jint(lines[i], "dropped_bytes", 0);
			*offset = jint(lines[i], "offset", -1);
			*gap_at = i;
		} else if (ev && !strcmp(ev, "exit"))
			*exit_at = i;
	}
	ndjson_free(lines, n);
	return n < 0 ? -1 : total;
}

/* A worker that would write 2^40 bytes: kept to the cap, the rest dropped
 * and said so by gap lines, the output file no bigger than the cap. */
static void test_huge_burst_stops_at_cap(void)
{
	const long long cap = 8 << 20;
	struct server *srv = server_start("--output-cap-per-process 8M");
	char id[ID_CAP], path[1024];
	CHECK(srv);
	CHECK(spawn_id(srv, "{\"target\": \"burst\", \"args\": {\"bytes\": 1099511627776}}", -1, id));
	/* Running: the stream stops at the cap, a gap line follows it. */
	long long offset = -1, dropped = 0;
	int exit_at, gap_at;
	for (double end = now_s() + 30; now_s() < end && dropped <= 0; sleep_s(0.1)) {
		struct resp *r = get(srv, "/processes/%s/output?stream=stdout&offset=%lld", id, cap);
		if (r->status == 200)
			dropped = gap_total(r, &offset, &exit_at, &gap_at);
		resp_free(r);
	}
	CHECK_MSG(dropped > 0 && offset == cap, "no gap at offset %lld while it runs (dropped %lld at %lld)", cap,
		  dropped, offset);
	struct resp *r = get(srv, "/processes/%s", id);
	CHECK_MSG(jint(r->json, "stdout_bytes", -1) == cap && jis_true(r->json, "alive"), RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	r = postf(srv, NULL, "/processes/%s/terminate", id);
	resp_free(r);
	r = join(srv, id, 30);
	CHECK_MSG(jis_false(r->json, "alive") && jint(r->json, "stdout_bytes", -1) == cap, RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	sleep_s(0.3);   /* out of memory: read back from the store */
	r = get(srv, "/processes/%s/output?stream=stdout&offset=%lld", id, cap - 10);
	CHECK_STATUS(r, 200);
	long long final = gap_total(r, &offset, &exit_at, &gap_at);
	printf("# 2^40-byte burst: %lld bytes kept, %lld dropped\n", cap, final);
	CHECK_MSG(final >= dropped && offset == cap && gap_at >= 0 && exit_at == gap_at + 1,
		  "a gap line of every dropped byte, at %lld, right before the exit line: " RESP_FMT, cap, RESP_ARGS(r));
	resp_free(r);
	struct stat st;
	snprintf(path, sizeof path, "%s/state/output/%s.stdout", server_root(srv), id);
	CHECK_MSG(stat(path, &st) == 0 && st.st_size == cap, "%s: %lld bytes, expected the cap", path,
		  (long long)st.st_size);
	check_server_stops(&srv);
}

/* A small tmpfs state folder: spawns of workers that write 3 MiB each go
 * on until the free space nears the reserve, then get 507 naming the
 * folder; /healthz says so; nothing crashes; every acknowledged record is
 * readable, then and after a restart. */
static void small_disk_cases(const char *dir)
{
	char args[256], ids[64][ID_CAP];
	int acked = 0;
	snprintf(args, sizeof args, "--listen 127.0.0.1:0 --state-dir %s --log-level warn --min-free-space 2M", dir);
	struct server *srv = server_start_bare(args);
	struct resp *r = NULL;
	CHECK(srv);
	for (int i = 0; i < 64; i++) {
		r = spawn(srv, "{\"target\": \"burst\", \"args\": {\"bytes\": 3145728}}", 30);
		if (r->status != 201)
			break;
		CHECK(take_id(r, ids[acked]));
		acked++;
		resp_free(r);
		r = NULL;
	}
	CHECK_MSG(r && r->status == 507 && !strcmp(err_code(r) ? err_code(r) : "", "insufficient_storage") &&
		  strstr(err_message(r), dir), "expected 507 naming %s, got " RESP_FMT, dir, RESP_ARGS(r));
	resp_free(r);
	printf("# tmpfs of 8 MiB, 2 MiB reserve: %d workers of 3 MiB accepted, then 507\n", acked);
	CHECK(acked >= 1 && acked < 64);
	r = get(srv, "/healthz");
	CHECK_MSG(r->status == 200 && jis_false(r->json, "disk_ok") && jis_true(r->json, "store_writable"),
		  RESP_FMT, RESP_ARGS(r));
	resp_free(r);
	int gaps = 0;
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < acked; i++) {
			r = get(srv, "/processes/%s", ids[i]);
			CHECK_MSG(r->status == 200 && jis_false(r->json, "alive"), "round %d: " RESP_FMT, round,
				  RESP_ARGS(r));
			/* all of it, or what fit and a gap for the rest */
			long long kept = jint(r->json, "stdout_bytes", -1);
			resp_free(r);
			r = get(srv, "/processes/%s/output?stream=stdout&offset=%lld", ids[i], kept);
			long long offset = -1;
			int exit_at, gap_at;
			long long dropped = gap_total(r, &offset, &exit_at, &gap_at);
			CHECK_MSG(kept + dropped == 3145728, "round %d: %s kept %lld, dropped %lld: " RESP_FMT, round,
				  ids[i], kept, dropped, RESP_ARGS(r));
			gaps += round == 0 && dropped > 0;
			resp_free(r);
		}
		if (round == 0)
			CHECK(server_restart(srv, SIGTERM) == 0);
	}
	/* The last workers wrote into the reserve: a gap, not a full disk. */
	printf("# %d of them kept their output short of the reserve, with a gap line\n", gaps);
	CHECK(gaps >= 1);
	check_server_stops(&srv);
}

/* The mount is undone however the cases end (a failed CHECK returns early). */
static void test_small_disk(void)
{
	char dir[] = "/tmp/spawnd-tmpfs.XXXXXX";
	CHECK(mkdtemp(dir));
	if (mount("none", dir, "tmpfs", 0, "size=8m") < 0) {
		printf("# SKIP small disk: cannot mount a tmpfs on %s (%s); needs root\n", dir, strerror(errno));
		rmdir(dir);
		return;
	}
	small_disk_cases(dir);
	umount2(dir, MNT_DETACH);       /* lazily, should a failed case have left its server */
	rmdir(dir);
}

int main(void)
{
	RUN(test_bursts_leave_no_memory);
	RUN(test_records_leave_memory);
	RUN(test_hundred_thousand_records);
	RUN(test_stored_output_keeps_capture_times);
	RUN(test_huge_burst_stops_at_cap);
	RUN(test_small_disk);
	return CHECK_EXIT();
}
