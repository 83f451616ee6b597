/* API tests of the worker start time the SQLite store keeps for recovery
 * (engine/store.h, store_record.pidfd): a running process's row holds the
 * start time /proc/PID/stat gives, read only when that row is committed; a
 * short process answered at its end (?wait) was never written running, so
 * its row holds none; the pidfds the store dup'd for that are all closed;
 * and workers that escaped a SIGKILLed fork server are found by that start
 * time and killed by the next run. The rows are read with SQLite itself
 * from spawnd's state folder once spawnd is gone (it holds the database
 * against every other process: the unix-excl VFS, store_sqlite.c): killed
 * with SIGKILL, it keeps what it answered about, then the next run starts. */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "tests/check.h"
#include "tests/harness.h"

CHECK_MAIN_STATE;

/* The start_ticks column of record id, -1 if there is no such row. */
static long long stored_ticks(struct server *srv, const char *id)
{
	char path[1024];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long ticks = -1;
	snprintf(path, sizeof path, "%s/state/spawnd.db", server_root(srv));
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_busy_timeout(db, 5000)) == SQLITE_OK &&
	    (rc = sqlite3_prepare_v2(db, "SELECT start_ticks FROM records WHERE id=?1", -1, &st, NULL)) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW)
			ticks = sqlite3_column_int64(st, 0);
	}
	if (ticks < 0)
		fprintf(stderr, "%s: %s: %s\n", path, id, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ticks;
}

/* SIGKILL, and wait till spawnd has let go of its database. A list first:
 * it commits every write so far (a sync only journals them: the rows this
 * test reads would be in spawnd.journal.N, for the next start to replay). */
static bool crash(struct server *srv)
{
	struct resp *r = get(srv, "/processes?limit=1");
	bool listed = r && r->status == 200;
	resp_free(r);
	if (!listed)
		return false;
	kill(server_pid(srv), SIGKILL);
	for (double end = now_s() + 10; pid_alive(server_pid(srv)); sleep_s(0.01))
		if (now_s() > end)
			return false;
	return true;
}

/* Field 22 of /proc/PID/stat (its start time), 0 if gone. */
static long long start_time(pid_t pid)
{
	char buf[1024];
	long long ticks = 0;
	const char *f = proc_stat_fields(pid, buf, sizeof buf);    /* from field 3 on */
	if (!f || sscanf(f, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %lld",
			 &ticks) != 1)
		return 0;
	return ticks;
}

/* n sleeping workers, each answered (GET syncs its running row); their ids
 * and pids. */
static bool start_sleepers(struct server *srv, int n, char (*ids)[64], pid_t *pids)
{
	for (int i = 0; i < n; i++) {
		struct resp *r = spawn(srv, "{\"target\": \"sleep\", \"args\": [60]}", -1);
		bool ok = r->status == 201 && take_id(r, ids[i]);
		resp_free(r);
		r = ok ? get(srv, "/processes/%s", ids[i]) : NULL;
		ok = r && r->status == 200 && jstr(r->json, "state") && strcmp(jstr(r->json, "state"), "running") == 0;
		pids[i] = ok ? (pid_t)jint(r->json, "pid", 0) : 0;
		resp_free(r);
		if (!ok || pids[i] <= 0)
			return false;
	}
	return true;
}

/* A running worker's row holds its start time as /proc tells it. */
static void a_running_row_holds_the_start_time(void)
{
	enum { N = 5 };
	char ids[N][64];
	pid_t pids[N];
	struct server *srv = server_start(NULL);
	CHECK(srv != NULL);
	CHECK(start_sleepers(srv, N, ids, pids));
	long long want[N];
	for (int i = 0; i < N; i++)
		CHECK((want[i] = start_time(pids[i])) > 0);
	CHECK(crash(srv));
	for (int i = 0; i < N; i++)
		CHECK_INT(stored_ticks(srv, ids[i]), want[i]);
	CHECK_INT(server_restart(srv, SIGKILL), 0);
	check_server_stops(&srv);
}

/* A short process answered at its end (?wait, P1 of bench/run.py) is
 * normally written once, ended: its row has no start time, for none was
 * read. At least one of 20 (a loaded machine may let the writer's linger
 * end while one still runs: then its row has one, rightly). */
static void a_short_process_row_has_none(void)
{
	enum { N = 20 };
	char ids[N][64];
	int without = 0;
	struct server *srv = server_start(NULL);
	CHECK(srv != NULL);
	for (int i = 0; i < N; i++) {
		struct resp *r = spawn(srv, "{\"target\": \"worker\"}", 10);
		CHECK_STATUS(r, 201);
		CHECK_STR(jstr(r->json, "state"), "exited");
		CHECK(take_id(r, ids[i]));
		resp_free(r);
	}
	CHECK(crash(srv));
	for (int i = 0; i < N; i++) {
		long long t = stored_ticks(srv, ids[i]);
		CHECK(t >= 0);
		without += t == 0;
	}
	CHECK_MSG(without > 0, "all %d short processes' rows hold a start time", N);
	CHECK_INT(server_restart(srv, SIGKILL), 0);
	check_server_stops(&srv);
}

/* 1,000 short and 100 long processes: spawnd's fd count comes back to where
 * it was (every pidfd the store dup'd is closed). */
static void no_fd_is_left_behind(void)
{
	enum { SHORT = 1000, LONG = 100, BATCH = 20 };
	struct server *srv = server_start(NULL);
	CHECK(srv != NULL);
	struct resp *warm = spawn(srv, "{\"target\": \"worker\"}", 10);
	CHECK_STATUS(warm, 201);
	resp_free(warm);
	int baseline = fd_count(server_pid(srv));
	CHECK(baseline > 0);
	for (int i = 0; i < SHORT; i++) {
		struct resp *r = spawn(srv, "{\"target\": \"worker\"}", 10);
		CHECK_STATUS(r, 201);
		resp_free(r);
	}
	for (int b = 0; b < LONG / BATCH; b++) {
		char ids[BATCH][64];
		pid_t pids[BATCH];
		CHECK(start_sleepers(srv, BATCH, ids, pids));
		for (int i = 0; i < BATCH; i++) {
			struct resp *k = postf(srv, "{}", "/processes/%s/kill", ids[i]);
			CHECK_MSG(k->status < 300, "kill: " RESP_FMT, RESP_ARGS(k));
			resp_free(k);
			struct resp *j = join(srv, ids[i], 10);
			CHECK_STATUS(j, 200);
			resp_free(j);
		}
	}
	int n = fd_count(server_pid(srv));
	for (double end = now_s() + 30; n > baseline && now_s() < end; sleep_s(0.05))
		n = fd_count(server_pid(srv));
	CHECK_MSG(n <= baseline, "spawnd has %d fds, %d before", n, baseline);
	check_server_stops(&srv);
}

/* spawnd's fork server (a direct child named "spawnd-fork"), 0 if none. */
static pid_t fork_server(pid_t spawnd)
{
	pid_t pids[256];
	int n = proc_descendants(spawnd, pids, 256, NULL);
	for (int i = 0; i < n && i < 256; i++) {
		char path[64], name[64] = "";
		if (proc_parent(pids[i]) != spawnd)
			continue;
		snprintf(path, sizeof path, "/proc/%d/comm", (int)pids[i]);
		FILE *c = fopen(path, "re");
		bool found = c && fgets(name, sizeof name, c) && strncmp(name, "spawnd-fork", 11) == 0;
		if (c)
			fclose(c);
		if (found)
			return pids[i];
	}
	return 0;
}

/* The fork server SIGKILLed (so it ends no worker), then spawnd: its
 * workers outlive both, and the next run finds them by their stored start
 * time and kills them. */
static void escaped_workers_are_killed_by_the_next_run(void)
{
	enum { N = 5 };
	char ids[N][64];
	pid_t pids[N];
	struct server *srv = server_start(NULL);
	CHECK(srv != NULL);
	CHECK(start_sleepers(srv, N, ids, pids));
	pid_t fs = fork_server(server_pid(srv));
	CHECK(fs > 0);
	kill(fs, SIGKILL);
	kill(server_pid(srv), SIGKILL);
	for (int i = 0; i < N; i++)
		CHECK_MSG(pid_alive(pids[i]), "worker %d ended with its fork server: nothing to recover", i);
	CHECK_INT(server_restart(srv, SIGKILL), 0);
	bool gone = pids_gone(pids, N, 10.0);
	for (int i = 0; !gone && i < N; i++)
		kill(pids[i], SIGKILL);         /* leave none behind */
	CHECK_MSG(gone, "a worker of the earlier run still runs after a restart");
	for (int i = 0; i < N; i++) {
		struct resp *r = get(srv, "/processes/%s", ids[i]);
		CHECK_STATUS(r, 200);
		CHECK_STR(jstr(r->json, "state"), "lost");
		resp_free(r);
	}
	check_server_stops(&srv);
}

int main(void)
{
	RUN(a_running_row_holds_the_start_time);
	RUN(a_short_process_row_has_none);
	RUN(no_fd_is_left_behind);
	RUN(escaped_workers_are_killed_by_the_next_run);
	return CHECK_EXIT();
}
