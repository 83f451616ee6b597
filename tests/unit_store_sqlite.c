/* Unit tests of what only the SQLite store (engine/store_sqlite.c) promises
 * beyond the contract tests/unit_store.c runs on both stores: what it was
 * given is in STATE_DIR/spawnd.db once synced or closed, and a later open of
 * the same folder (a restart) reads it all back, Process-N count included. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/store.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

static const struct store_ops *ops = &store_sqlite_ops;
static char dir[] = "/tmp/unit_store_sqlite.XXXXXX";
static char timeline_[] = "[1]";
static char name_[] = "job", target_[] = "worker", args_[] = "[1,\"two\"]", error_[] = "gone";

static void remove_dir(void)
{
	char path[128];
	static const char *const files[] = { "spawnd.db", "spawnd.db-wal", "spawnd.db-shm" };
	for (int f = 0; f < 3; f++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[f]);
		unlink(path);
	}
	rmdir(dir);
}

/* Closing writes what is queued; opening again reads every field back. */
static void records_survive_a_reopen(void)
{
	enum { N = 2000 };
	static char ids[N][STORE_ID_MAX];
	struct store *s;
	CHECK_INT(ops->open(dir, &s), 0);
	for (int i = 0; i < N; i++) {
		store_id_new(ids[i], 1795000000000LL + i);
		struct store_record r = { .name = name_, .target = target_, .args_text = args_, .daemon = i % 2,
					  .timeout = 1.5, .created_ms = 1000 + i, .state = STORE_QUEUED };
		snprintf(r.id, sizeof r.id, "%s", ids[i]);
		CHECK_INT(ops->insert(s, &r), 0);
		/* every transition is written: the last one counts */
		r.state = STORE_RUNNING;
		r.pid = 100 + i;
		CHECK_INT(ops->update(s, &r), 0);
		r.state = i % 3 ? STORE_EXITED : STORE_FAILED;
		r.exitcode = i % 256;
		r.error = i % 3 ? NULL : error_;
		r.stdout_bytes = (uint64_t)i << 33;     /* past 32 bits */
		r.start_ticks = 77;
		CHECK_INT(ops->update(s, &r), 0);
	}
	CHECK_INT(ops->set_names(s, 12345), 0);
	ops->close(s);

	CHECK_INT(ops->open(dir, &s), 0);
	long given = 0;
	CHECK_INT(ops->get_names(s, &given), 0);
	CHECK_INT(given, 12345);
	for (int i = 0; i < N; i += 97) {
		struct store_record got;
		CHECK_INT(ops->get(s, ids[i], &got), 0);
		CHECK_STR(got.args_text, "[1,\"two\"]");
		CHECK_INT(got.daemon, i % 2);
		CHECK_INT(got.state, i % 3 ? STORE_EXITED : STORE_FAILED);
		CHECK_INT(got.pid, 100 + i);
		CHECK_INT(got.exitcode, i % 256);
		CHECK(i % 3 ? got.error == NULL : strcmp(got.error, "gone") == 0);
		CHECK(got.stdout_bytes == (uint64_t)i << 33);
		CHECK_INT(got.start_ticks, 77);
		CHECK_INT(got.created_ms, 1000 + i);
		CHECK(got.timeout == 1.5);
		store_record_release(&got);
	}
	struct store_query q = { .state = STORE_FAILED, .alive = -1, .limit = N };
	struct store_page page;
	CHECK_INT(ops->list(s, &q, &page), 0);
	CHECK_INT(page.count, (N + 2) / 3);
	CHECK_STR(page.records[0].id, ids[(N - 1) / 3 * 3]);      /* newest first */
	store_page_release(&page);
	ops->close(s);
}

/* A record written several times before the writer takes the queue (its
 * writes are merged into one row write, store_sqlite_queue.c) reads back as
 * its last write: fields, output of both streams, and an error or timeline
 * given once and not repeated (NULL in a later update keeps it). A record
 * whose insert was committed before gets its output and end in one update;
 * a remove between two writes is not merged across. */
static void merged_writes_read_back_as_the_last_one(void)
{
	struct store *s;
	char a[STORE_ID_MAX], b[STORE_ID_MAX];
	CHECK_INT(ops->open(dir, &s), 0);
	store_id_new(a, 1796000000000LL);
	store_id_new(b, 1796000000001LL);
	struct store_record r = { .name = name_, .target = target_, .args_text = args_, .state = STORE_QUEUED };
	snprintf(r.id, sizeof r.id, "%s", b);
	CHECK_INT(ops->insert(s, &r), 0);
	CHECK_INT(store_sync_all(s), 0);                /* b's insert is on disk: later writes update it */
	for (int k = 0; k < 2; k++) {
		snprintf(r.id, sizeof r.id, "%s", k ? b : a);
		r.state = STORE_QUEUED, r.pid = 0, r.error = NULL, r.timeline_text = NULL;
		if (!k)
			CHECK_INT(ops->insert(s, &r), 0);
		r.state = STORE_RUNNING, r.pid = 4242, r.error = error_, r.timeline_text = timeline_;
		CHECK_INT(ops->update(s, &r), 0);
		CHECK_INT(ops->put_output(s, r.id, 0, "Worker\n", 7, "12345678abcdefgh", 16), 0);
		CHECK_INT(ops->put_output(s, r.id, 1, "oops", 4, NULL, 0), 0);
		r.state = STORE_EXITED, r.exitcode = 3, r.stdout_bytes = 7, r.stderr_bytes = 4, r.ended_ms = 99;
		r.error = NULL, r.timeline_text = NULL;
		CHECK_INT(ops->update(s, &r), 0);
	}
	CHECK_INT(store_sync_all(s), 0);
	for (int k = 0; k < 2; k++) {
		struct store_record got;
		char buf[16], marks[32];
		CHECK_INT(ops->get(s, k ? b : a, &got), 0);
		CHECK_INT(got.state, STORE_EXITED);
		CHECK_INT(got.pid, 4242);
		CHECK_INT(got.exitcode, 3);
		CHECK_INT(got.ended_ms, 99);
		CHECK(got.stdout_bytes == 7 && got.stderr_bytes == 4);
		CHECK_STR(got.error, "gone");
		CHECK_STR(got.timeline_text, "[1]");
		CHECK_STR(got.args_text, "[1,\"two\"]");
		store_record_release(&got);
		CHECK_INT(ops->read_output(s, k ? b : a, 0, 0, buf, sizeof buf), 7);
		CHECK(memcmp(buf, "Worker\n", 7) == 0);
		CHECK_INT(ops->read_output(s, k ? b : a, 1, 0, buf, sizeof buf), 4);
		CHECK(memcmp(buf, "oops", 4) == 0);
		CHECK_INT(ops->read_marks(s, k ? b : a, 0, marks, sizeof marks), 16);
		CHECK(memcmp(marks, "12345678abcdefgh", 16) == 0);
	}
	/* insert, remove, insert again of one id: the last insert stands */
	CHECK_INT(ops->remove(s, a), 0);
	snprintf(r.id, sizeof r.id, "%s", a);
	r.state = STORE_FAILED;
	CHECK_INT(ops->insert(s, &r), 0);
	CHECK_INT(ops->remove(s, b), 0);
	CHECK_INT(store_sync_all(s), 0);
	struct store_record got;
	CHECK_INT(ops->get(s, b, &got), -ENOENT);
	CHECK_INT(ops->get(s, a, &got), 0);
	CHECK_INT(got.state, STORE_FAILED);
	store_record_release(&got);
	ops->close(s);
}

/* A write nobody syncs is committed anyway, once it has lingered (the bound
 * is generous: the linger is milliseconds): a running record's, and an end
 * (which no longer starts a commit of its own: the answers about it sync). */
static void a_write_nobody_waits_for_is_committed(void)
{
	struct store *s;
	CHECK_INT(ops->open(dir, &s), 0);
	struct store_record r = { .name = name_, .target = target_, .args_text = args_, .state = STORE_RUNNING };
	store_id_new(r.id, 1797000000000LL);
	for (int k = 0; k < 2; k++) {
		CHECK_INT(k ? ops->update(s, &r) : ops->insert(s, &r), 0);
		uint64_t seq = ops->queued(s);
		for (int i = 0; i < 1000 && !ops->written(s, seq); i++)
			usleep(10000);
		CHECK_MSG(ops->written(s, seq), "%s not committed after 10 s without a sync", k ? "an end" : "an insert");
		r.state = STORE_EXITED;
	}
	ops->close(s);
}

/* Opens the store of folder d in a child that writes what f says, syncs and
 * dies without closing (a crash: the count is not written at close). */
static void crash_after(const char *d, void (*f)(struct store *))
{
	pid_t pid = fork();
	if (pid == 0) {
		struct store *s;
		if (ops->open(d, &s) < 0)
			_exit(1);
		f(s);
		_exit(store_sync_all(s) < 0 ? 1 : 0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK_INT(status, 0);
}

static void spawn_named(struct store *s, const char *name, long given)
{
	char copy[32];
	snprintf(copy, sizeof copy, "%s", name);
	struct store_record r = { .name = copy, .target = target_, .args_text = args_, .state = STORE_RUNNING };
	store_id_new(r.id, 1798000000000LL + given);
	ops->set_names(s, given);
	ops->insert(s, &r);
}

static void gives_41(struct store *s)
{
	spawn_named(s, "Process-40", 40);
	spawn_named(s, "nap", 40);              /* a name of its own, newer */
	spawn_named(s, "Process-41", 41);
	spawn_named(s, "late", 41);
}

static void gives_and_removes_60(struct store *s)
{
	spawn_named(s, "Process-60", 60);
	struct store_page page;
	struct store_query q = { .state = -1, .alive = -1, .name = "Process-60", .limit = 1 };
	store_sync_all(s);                      /* list reads what is on disk */
	if (ops->list(s, &q, &page) == 0 && page.count == 1)
		ops->remove(s, page.records[0].id);
	store_page_release(&page);
}

/* Process-N goes on after a crash: the count is not written per spawn, so
 * an open takes the newest stored Process-N; a removed record's number is
 * written with its remove, so it never comes back either. */
static void process_n_goes_on_after_a_crash(void)
{
	char d[] = "/tmp/unit_store_sqlite_names.XXXXXX";
	struct store *s;
	long given = -1;
	CHECK(mkdtemp(d) != NULL);
	crash_after(d, gives_41);
	CHECK_INT(ops->open(d, &s), 0);
	CHECK_INT(ops->get_names(s, &given), 0);
	CHECK_INT(given, 41);
	ops->close(s);
	crash_after(d, gives_and_removes_60);
	CHECK_INT(ops->open(d, &s), 0);
	CHECK_INT(ops->get_names(s, &given), 0);
	CHECK_INT(given, 60);
	ops->close(s);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", d);
	CHECK_INT(system(cmd), 0);
}

/* A folder where no database can be made is an error at open, not later. */
static void an_unusable_folder_fails_at_open(void)
{
	struct store *s;
	CHECK(ops->open("/nonexistent/folder", &s) < 0);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	RUN(records_survive_a_reopen);
	RUN(merged_writes_read_back_as_the_last_one);
	RUN(a_write_nobody_waits_for_is_committed);
	RUN(process_n_goes_on_after_a_crash);
	RUN(an_unusable_folder_fails_at_open);
	remove_dir();
	return CHECK_EXIT();
}
