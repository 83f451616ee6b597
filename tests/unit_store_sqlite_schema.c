/* Unit tests of the SQLite store's records table (engine/store_sqlite.c):
 * a store made by an earlier build (records WITHOUT ROWID, three indexes)
 * opens and is migrated with every field and byte of output; a short
 * process's commit writes few WAL pages (no overflow page, no index entry for
 * an exited record); the WAL is copied back by the checkpoint thread and stays
 * bounded; and lists filtered by state, target and name are right
 * over a big store, through the partial index or the id index alike. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/store.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

static const struct store_ops *ops = &store_sqlite_ops;
static char name_[] = "job", target_[] = "worker", rare_[] = "rare", args_[] = "[1]";

/* A new empty folder in d (a template). */
static bool new_dir(char *d)
{
	return mkdtemp(d) != NULL;
}

static void remove_dir(const char *d)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s", d);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d);
}

/* The records table and indexes as the builds before the rowid table made
 * them, with three records: running, failed (error, pool), exited (output,
 * marks, timeline), and a Process-N count. */
static const char old_store_sql[] =
	"PRAGMA page_size=1024; PRAGMA journal_mode=WAL;"
	"CREATE TABLE records (id TEXT PRIMARY KEY, name TEXT NOT NULL, target TEXT NOT NULL,"
	" args_text TEXT NOT NULL, daemon INTEGER, timeout REAL, created_ms INTEGER, state INTEGER,"
	" pid INTEGER, exitcode INTEGER, signal INTEGER, reason INTEGER, error TEXT, started_ms INTEGER,"
	" ended_ms INTEGER, stdout_bytes INTEGER, stderr_bytes INTEGER, start_ticks INTEGER, launch TEXT,"
	" stdout_data BLOB, stderr_data BLOB, stdout_dropped INTEGER DEFAULT 0, stderr_dropped INTEGER DEFAULT 0,"
	" stdout_marks BLOB, stderr_marks BLOB, timeline TEXT, pool TEXT) WITHOUT ROWID;"
	"CREATE INDEX records_state ON records (state, id);"
	"CREATE INDEX records_target ON records (target, id);"
	"CREATE INDEX records_name ON records (name, id);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;"
	"INSERT INTO meta VALUES ('names_given', 77);"
	"INSERT INTO records (id, name, target, args_text, daemon, timeout, created_ms, state, pid, start_ticks)"
	" VALUES ('18f00000000000000abcdef01', 'Process-75', 'worker', '[]', 1, 2.5, 1000, 1, 4321, 99);"
	"INSERT INTO records (id, name, target, args_text, created_ms, state, exitcode, reason, error, pool)"
	" VALUES ('18f00000001000000abcdef01', 'Process-76', 'rare', '{\"a\":1}', 1001, 3, 1, 2, 'bad', 'p1');"
	"INSERT INTO records (id, name, target, args_text, created_ms, state, stdout_bytes, stdout_data,"
	" stdout_marks, stderr_dropped, timeline)"
	" VALUES ('18f00000002000000abcdef01', 'Process-77', 'worker', '[]', 1002, 2, 7, CAST('Worker\n' AS BLOB),"
	" x'00000000000000000102030405060708', 3, '[{\"event\":\"created\"}]');";

static bool make_old_store(const char *d)
{
	char path[256];
	sqlite3 *db = NULL;
	snprintf(path, sizeof path, "%s/spawnd.db", d);
	bool ok = sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, old_store_sql, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	return ok;
}

/* How many rows of sqlite_schema match where (the store's file, read apart). */
static int schema_count(const char *d, const char *where)
{
	char path[256], sql[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;
	snprintf(path, sizeof path, "%s/spawnd.db", d);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema WHERE %s", where);
	if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void check_old_records(struct store *s)
{
	struct store_record r;
	char out[16];
	CHECK_INT(ops->get(s, "18f00000000000000abcdef01", &r), 0);
	CHECK_INT(r.state, STORE_RUNNING);
	CHECK_INT(r.pid, 4321);
	CHECK_INT(r.start_ticks, 99);
	CHECK(r.daemon && r.timeout == 2.5);
	store_record_release(&r);
	CHECK_INT(ops->get(s, "18f00000001000000abcdef01", &r), 0);
	CHECK_STR(r.error, "bad");
	CHECK_STR(r.pool, "p1");
	CHECK_STR(r.args_text, "{\"a\":1}");
	store_record_release(&r);
	CHECK_INT(ops->get(s, "18f00000002000000abcdef01", &r), 0);
	CHECK_STR(r.timeline_text, "[{\"event\":\"created\"}]");
	CHECK_INT(r.stderr_dropped, 3);
	store_record_release(&r);
	CHECK_INT(ops->read_output(s, "18f00000002000000abcdef01", 0, 0, out, sizeof out), 7);
	CHECK(memcmp(out, "Worker\n", 7) == 0);
	CHECK_INT(ops->read_marks(s, "18f00000002000000abcdef01", 0, out, sizeof out), 16);
	long given = 0;
	CHECK_INT(ops->get_names(s, &given), 0);
	CHECK_INT(given, 77);
	struct store_page page;
	struct store_query alive = { .state = -1, .alive = 1, .limit = 10 };
	CHECK_INT(ops->list(s, &alive, &page), 0);
	CHECK_INT(page.count, 1);
	store_page_release(&page);
}

/* A migration copies the whole table through the WAL: the WAL is emptied
 * at once, not left as big as the table until the checkpoints catch up. */
static void a_migration_leaves_no_big_wal(void)
{
	char d[] = "/tmp/unit_store_schema_wal.XXXXXX", path[256];
	static const char fill[] =
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)"
		" INSERT INTO records (id, name, target, args_text, stdout_data)"
		" SELECT printf('19%023d', i), 'n', 't', '{}', randomblob(1000) FROM c";
	struct store *s;
	struct stat wal;
	sqlite3 *db = NULL;
	CHECK(new_dir(d));
	CHECK(make_old_store(d));
	snprintf(path, sizeof path, "%s/spawnd.db", d);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db, fill, NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(ops->open(d, &s), 0);
	snprintf(path, sizeof path, "%s/spawnd.db-wal", d);
	CHECK_MSG(stat(path, &wal) == 0 && wal.st_size < 64 * 1024, "WAL after the migration: %lld bytes",
		  (long long)wal.st_size);
	ops->close(s);
	if (!check_failure[0])
		remove_dir(d);
}

/* A store an earlier build made opens, is migrated in place (the old
 * indexes gone, the rowid table there), reads back whole, opens again. */
static void an_old_store_is_migrated_at_open(void)
{
	char d[] = "/tmp/unit_store_schema_old.XXXXXX";
	struct store *s;
	CHECK(new_dir(d));
	CHECK(make_old_store(d));
	CHECK_INT(ops->open(d, &s), 0);
	check_old_records(s);
	ops->close(s);
	if (check_failure[0])
		return;
	CHECK_INT(schema_count(d, "name='records' AND sql LIKE '%WITHOUT ROWID%'"), 0);
	CHECK_INT(schema_count(d, "name IN ('records_state', 'records_target', 'records_name')"), 0);
	CHECK_INT(schema_count(d, "name='records_unended'"), 1);
	CHECK_INT(ops->open(d, &s), 0);         /* a second open: nothing left to migrate */
	check_old_records(s);
	ops->close(s);
	if (!check_failure[0])
		remove_dir(d);
}

static long wal_bytes(const char *d)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof path, "%s/spawnd.db-wal", d);
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* One short process as the engine writes it (insert, start, end with its
 * output and timeline, merged in the queue), synced: one commit. */
static int write_short_process(struct store *s, int i, enum store_state end)
{
	static char timeline[] = "[{\"ts\":\"2026-12-01T18:54:02.204Z\",\"event\":\"created\"},"
		"{\"ts\":\"2026-12-01T18:54:02.206Z\",\"event\":\"started\",\"pid\":30891},"
		"{\"ts\":\"2026-12-01T18:54:02.206Z\",\"event\":\"exited\",\"exitcode\":0,\"reason\":\"exit\"}]";
	char name[32];
	snprintf(name, sizeof name, "Process-%d", i + 1);
	struct store_record r = { .name = name, .target = target_, .args_text = args_, .created_ms = 1000 + i,
				  .state = STORE_QUEUED };
	store_id_new(r.id, 1799000000000LL + i);
	int rc = ops->insert(s, &r);
	r.state = STORE_RUNNING;
	r.pid = 30000 + i;
	rc = rc ? rc : ops->update(s, &r);
	rc = rc ? rc : ops->put_output(s, r.id, 0, "Worker\n", 7, "0123456789abcdef", 16);
	r.state = end;
	r.stdout_bytes = 7;
	r.timeline_text = timeline;
	rc = rc ? rc : ops->update(s, &r);
	return rc ? rc : store_sync_all(s);
}

/* A short process's one commit writes its row's page, the id index's, and
 * now and then the header page as the file grows: no overflow page (its row
 * is ~350 bytes) and no entry in an index of states, targets or names
 * (bounded at 4 pages a commit; the WITHOUT ROWID table wrote ~6). */
static void a_short_process_commits_few_pages(void)
{
	char d[] = "/tmp/unit_store_schema_wal.XXXXXX";
	struct store *s;
	enum { N = 100 };
	CHECK(new_dir(d));
	CHECK_INT(ops->open(d, &s), 0);
	CHECK_INT(write_short_process(s, 0, STORE_EXITED), 0);
	long before = wal_bytes(d);
	for (int i = 1; i <= N; i++)
		CHECK_INT(write_short_process(s, i, STORE_EXITED), 0);
	long after = wal_bytes(d);
	ops->close(s);
	remove_dir(d);
	double pages = (double)(after - before) / (24 + 1024) / N;
	printf("# %.2f WAL pages per short process's commit\n", pages);
	CHECK_MSG(before > 0 && pages > 0.9 && pages <= 4.0, "%.2f pages a commit (WAL %ld -> %ld bytes)", pages,
		  before, after);
}

static long file_bytes(const char *d, const char *name)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", d, name);
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The checkpoint thread copies the WAL back once it passes CHECKPOINT_PAGES
 * (1,000): spawnd.db grows then, long before the writer's forced checkpoint
 * at 8,000 pages (its connection had never read, so its checkpoints did
 * nothing); and with a pause now and then (as any load has) the WAL is
 * restarted from its start, so a burst of ~10,000 pages leaves a WAL well
 * under the 8,000 pages (8.4 MB) it reached before. */
static void the_wal_is_copied_back_and_stays_bounded(void)
{
	char d[] = "/tmp/unit_store_schema_ckpt.XXXXXX";
	struct store *s;
	enum { N = 3500, PAUSE_EVERY = 50, FORCE_BYTES = 8000 * (24 + 1024) };
	CHECK(new_dir(d));
	CHECK_INT(ops->open(d, &s), 0);
	long db_at_open = file_bytes(d, "spawnd.db");
	int i = 0;
	for (; i < 400; i++)            /* ~1,200 pages (~3 a commit) */
		CHECK_INT(write_short_process(s, i, STORE_EXITED), 0);
	for (int tries = 0; tries < 1000 && file_bytes(d, "spawnd.db") < db_at_open + 32 * 1024; tries++)
		usleep(10000);          /* up to 10 s: a bound, not a timing */
	long db_after = file_bytes(d, "spawnd.db");
	CHECK_MSG(db_after >= db_at_open + 32 * 1024, "spawnd.db %ld -> %ld bytes: the WAL was not copied back",
		  db_at_open, db_after);
	for (; i < N; i++) {
		CHECK_INT(write_short_process(s, i, STORE_EXITED), 0);
		if (i % PAUSE_EVERY == 0)
			usleep(50000);
	}
	long wal = wal_bytes(d);
	ops->close(s);
	printf("# WAL at most %ld bytes after %d short processes\n", wal, N);
	CHECK_MSG(wal > 0 && wal < FORCE_BYTES / 2, "the WAL reached %ld bytes", wal);
	if (!check_failure[0])
		remove_dir(d);
}

/* Record i of the big store: mostly exited workers; every 7th failed,
 * every 1000th running, every 500th of target "rare", every 300th named "odd". */
static enum store_state state_of(int i) { return i % 1000 == 0 ? STORE_RUNNING : i % 7 == 0 ? STORE_FAILED : STORE_EXITED; }
static bool rare_of(int i) { return i % 500 == 3; }
static bool odd_of(int i) { return i % 300 == 5; }

static int fill_big(struct store *s, int n, char (*ids)[STORE_ID_MAX])
{
	static char odd[] = "odd";
	for (int i = 0; i < n; i++) {
		struct store_record r = { .name = odd_of(i) ? odd : name_, .target = rare_of(i) ? rare_ : target_,
					  .args_text = args_, .state = state_of(i), .created_ms = i };
		store_id_new(r.id, 1800000000000LL + i);
		memcpy(ids[i], r.id, STORE_ID_MAX);
		int rc = ops->insert(s, &r);
		if (rc)
			return rc;
	}
	return store_sync_all(s);
}

/* Pages through q (limit per page) and checks each record against want(),
 * newest first: every match, in order, and nothing else. */
static void check_pages(struct store *s, struct store_query q, int n, char (*ids)[STORE_ID_MAX],
			bool (*want)(int))
{
	char after[STORE_ID_MAX] = "";
	int i = n - 1, pages = 0;
	for (;;) {
		struct store_page page;
		q.after = after[0] ? after : NULL;
		CHECK_INT(ops->list(s, &q, &page), 0);
		for (int k = 0; k < page.count; k++, i--) {
			while (i >= 0 && !want(i))
				i--;
			CHECK_MSG(i >= 0 && strcmp(page.records[k].id, ids[i]) == 0, "page %d entry %d: %s, expected %s",
				  pages, k, page.records[k].id, i >= 0 ? ids[i] : "none");
		}
		snprintf(after, sizeof after, "%s", page.next);
		store_page_release(&page);
		pages++;
		if (!after[0])
			break;
	}
	while (i >= 0 && !want(i))
		i--;
	CHECK_MSG(i < 0, "record %d (%s) missing from the list", i, ids[i]);
}

static int big_n;
static bool is_failed(int i) { return state_of(i) == STORE_FAILED; }
static bool is_running(int i) { return state_of(i) == STORE_RUNNING; }
static bool is_exited(int i) { return state_of(i) == STORE_EXITED; }
static bool is_ended(int i) { return state_of(i) != STORE_RUNNING; }
static bool is_rare(int i) { return rare_of(i); }
static bool is_odd_failed(int i) { return odd_of(i) && is_failed(i); }
static bool is_all(int i) { return i < big_n; }

/* Every filter over 30,000 records: the same records, in the same order,
 * page by page, whichever index the query goes through. */
static void filtered_lists_are_right_over_a_big_store(void)
{
	enum { N = 30000 };
	static char ids[N][STORE_ID_MAX];
	char d[] = "/tmp/unit_store_schema_big.XXXXXX";
	struct store *s;
	big_n = N;
	CHECK(new_dir(d));
	CHECK_INT(ops->open(d, &s), 0);
	CHECK_INT(fill_big(s, N, ids), 0);
	check_pages(s, (struct store_query){ .state = STORE_FAILED, .alive = -1, .limit = 500 }, N, ids, is_failed);
	check_pages(s, (struct store_query){ .state = STORE_RUNNING, .alive = -1, .limit = 7 }, N, ids, is_running);
	check_pages(s, (struct store_query){ .state = -1, .alive = 1, .limit = 4 }, N, ids, is_running);
	check_pages(s, (struct store_query){ .state = STORE_EXITED, .alive = -1, .limit = 1000 }, N, ids, is_exited);
	check_pages(s, (struct store_query){ .state = -1, .alive = 0, .limit = 1000 }, N, ids, is_ended);
	check_pages(s, (struct store_query){ .state = -1, .alive = -1, .target = "rare", .limit = 9 }, N, ids, is_rare);
	check_pages(s, (struct store_query){ .state = STORE_FAILED, .alive = -1, .name = "odd", .limit = 3 }, N, ids,
		    is_odd_failed);
	check_pages(s, (struct store_query){ .state = -1, .alive = -1, .limit = 2000 }, N, ids, is_all);
	ops->close(s);
	if (!check_failure[0])          /* a failure keeps the store to look at */
		remove_dir(d);
}

int main(void)
{
	RUN(an_old_store_is_migrated_at_open);
	RUN(a_migration_leaves_no_big_wal);
	RUN(a_short_process_commits_few_pages);
	RUN(the_wal_is_copied_back_and_stays_bounded);
	RUN(filtered_lists_are_right_over_a_big_store);
	return CHECK_EXIT();
}
