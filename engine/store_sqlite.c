/* store_sqlite — the durable store (store.h): STATE_DIR/spawnd.db, SQLite in
 * WAL mode.
 *
 * Why a writer thread: every transition of every record is written, and the
 * engine makes them under its lock, from the thread that drains the workers'
 * pipes. So insert/update/remove/set_names only copy the record into a queue
 * (STORE_ASYNC_WRITES) and one writer thread, with its own connection, takes
 * whatever has queued up and writes it in one transaction (group commit: the
 * more is queued, the fewer commits per record). Each write has a sequence
 * number; sync(seq) returns once the writes up to seq are on disk: an HTTP
 * thread that must not answer before a record is on disk appends the queued
 * writes' images to the journal (store_sqlite_journal.c, one write(2))
 * rather than wait for a commit; flush(seq) waits for the commit (reads).
 * The writes of one record that meet in the queue are merged into one row
 * write, and a commit lingers a few ms so that they meet
 * (store_sqlite_queue.c: a short process is one row write, not four).
 *
 * Why a second connection for reads: in WAL mode readers and the writer do
 * not block each other, so get/list run from HTTP threads without the engine
 * lock (STORE_SHARED_READS), serialised among themselves by read_lock.
 *
 * Durability: synchronous=NORMAL in WAL mode: a commit survives a crash or
 * kill of spawnd (the WAL is in the page cache); a power loss may lose the
 * last commits (README "Durability").
 * Why a checkpoint thread: the WAL is copied back into the database (a
 * checkpoint, with an fsync) every CHECKPOINT_PAGES; done by the writer, as
 * SQLite does by default, it stalled every commit queued meanwhile for
 * 10-20 ms (bench P1 p99). A third connection does it (PASSIVE: it never
 * blocks the writer), woken once per CHECKPOINT_PAGES of growth, with
 * catch-up passes so that the WAL is restarted under steady load too
 * (store_sqlite_write.c); should it fall behind by CHECKPOINT_FORCE_PAGES,
 * the writer checkpoints itself, so the WAL stays bounded.
 * Errors of a write are logged and make the next sync() answer -EIO; the
 * writer goes on with the next batch.
 */
#define _GNU_SOURCE
#include "engine/store_sqlite_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/histogram.h"

/* The records table (records_def() names it). Why an ordinary rowid table:
 * it was WITHOUT ROWID, an index b-tree, whose rows may keep at most ~230
 * bytes on a 1 KiB page; a record's row is ~350 (its timeline alone ~200),
 * so every row had an overflow page, and every commit wrote it too. In a
 * rowid table a row keeps up to ~990 bytes on its page. */
#define RECORDS_DEF(table) "CREATE TABLE " table " (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL," \
	" target TEXT NOT NULL, args_text TEXT NOT NULL, daemon INTEGER, timeout REAL, created_ms INTEGER," \
	" state INTEGER, pid INTEGER, exitcode INTEGER, signal INTEGER, reason INTEGER, error TEXT," \
	" started_ms INTEGER, ended_ms INTEGER, stdout_bytes INTEGER, stderr_bytes INTEGER, start_ticks INTEGER," \
	" launch TEXT, stdout_data BLOB, stderr_data BLOB, stdout_dropped INTEGER DEFAULT 0," \
	" stderr_dropped INTEGER DEFAULT 0, stdout_marks BLOB, stderr_marks BLOB, timeline TEXT, pool TEXT)"

static const char schema[] =
	/* Why 1 KiB pages: each commit writes every page it touched to the WAL
	 * (a short process's commit: its row's page and one page per index it
	 * enters), so 4 KiB pages wrote 4x the bytes (bench P3: 1840 -> 2160/s).
	 * Takes effect in a new store only. */
	"PRAGMA page_size=1024;"
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;";

/* Why one index beside the id's: each index is one more page in a commit
 * (bench S: ~8 us each). records_unended holds only the records not
 * exited (SQL_UNEXITED): the merged insert of a short process that exited is
 * not in it at all, while the queued, running, failed and lost ones (few, or
 * rare) are found through it. A list filtered by target, by name or by
 * exited/ended walks the records newest first (the id index) until its page
 * is full: fast where matches are common, a scan of the store where they are
 * rare. */
static const char indexes[] =
	"CREATE INDEX IF NOT EXISTS records_unended ON records (state, id) WHERE " SQL_UNEXITED ";";

/* A store made by an earlier build: its records table (WITHOUT ROWID, and
 * the indexes records_state, _target, _name) is copied into the new form,
 * in one transaction (a crash meanwhile leaves the old one whole). */
static const char migrate_sql[] =
	"BEGIN IMMEDIATE;"
	RECORDS_DEF("records_new") ";"
	"INSERT INTO records_new (" COLUMNS ", stdout_data, stdout_marks, stderr_data, stderr_marks)"
	" SELECT " COLUMNS ", stdout_data, stdout_marks, stderr_data, stderr_marks FROM records ORDER BY id;"
	"DROP TABLE records;"
	"ALTER TABLE records_new RENAME TO records;"
	"COMMIT;";

static const char *const op_sql[OP_KINDS] = {
	[OP_INSERT] = "INSERT INTO records (" COLUMNS ", stdout_data, stdout_marks, stderr_data, stderr_marks)"
		      " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[OP_UPDATE] = "UPDATE records SET state=?2, pid=?3, exitcode=?4, signal=?5, reason=?6,"
		      " error=coalesce(?7, error), started_ms=?8, ended_ms=?9, stdout_bytes=?10, stderr_bytes=?11,"
		      " start_ticks=coalesce(nullif(?12, 0), start_ticks), stdout_dropped=?13, stderr_dropped=?14,"
		      " timeline=coalesce(?15, timeline) WHERE id=?1",
	[OP_REMOVE] = "DELETE FROM records WHERE id=?1",
	/* Never smaller: a count read back at open may be ahead of this run's. */
	[OP_NAMES] = ("INSERT INTO meta (key, value) VALUES ('names_given', ?1)"
		      " ON CONFLICT (key) DO UPDATE SET value=max(value, excluded.value)"),
	[OP_OUTPUT0] = "UPDATE records SET stdout_data=?2, stdout_marks=?3 WHERE id=?1",
	[OP_OUTPUT1] = "UPDATE records SET stderr_data=?2, stderr_marks=?3 WHERE id=?1",
};

/* An update that took a record's output as well (coalesced): one row write. */
static const char update_output_sql[] =
	"UPDATE records SET state=?2, pid=?3, exitcode=?4, signal=?5, reason=?6,"
	" error=coalesce(?7, error), started_ms=?8, ended_ms=?9, stdout_bytes=?10, stderr_bytes=?11,"
	" start_ticks=coalesce(nullif(?12, 0), start_ticks), stdout_dropped=?13, stderr_dropped=?14,"
	" timeline=coalesce(?15, timeline),"
	" stdout_data=CASE WHEN ?16 THEN ?17 ELSE stdout_data END, stdout_marks=CASE WHEN ?16 THEN ?18 ELSE stdout_marks END,"
	" stderr_data=CASE WHEN ?19 THEN ?20 ELSE stderr_data END, stderr_marks=CASE WHEN ?19 THEN ?21 ELSE stderr_marks END"
	" WHERE id=?1";

/* Where the journal stood when the batch committing this was taken
 * (store_sqlite_journal.c). */
static const char journal_sql[] =
	"INSERT INTO meta (key, value) VALUES ('journal_gen', ?1), ('journal_off', ?2), ('journal_seq', ?3)"
	" ON CONFLICT (key) DO UPDATE SET value=excluded.value";

/* A journal's insert, replayed: its record may be there from an earlier image. */
static const char replace_sql[] =
	"INSERT OR REPLACE INTO records (" COLUMNS ", stdout_data, stdout_marks, stderr_data, stderr_marks)"
	" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

static const char *op_text(int k) { return op_sql[k] ? op_sql[k] : store_sqlite_objects_sql[k]; }

/* ---- open and close -------------------------------------------------------- */

/* True when the records table is the WITHOUT ROWID one of earlier builds. */
static bool records_old_form(sqlite3 *db)
{
	sqlite3_stmt *st;
	bool old = false;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='records'"
			       " AND sql LIKE '%WITHOUT ROWID%'", -1, &st, NULL) == SQLITE_OK) {
		old = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	return old;
}

/* The records table as this build has it: made, or its missing columns
 * added, or migrated from the earlier form; then its index. */
static int set_up_records(sqlite3 *db, const char *path)
{
	/* A store made before the output (or dropped-bytes, timeline, pool) columns: they are added (an error here
	 * only says they are there already). */
	static const char *const added[] = {
		"ALTER TABLE records ADD COLUMN stdout_data BLOB", "ALTER TABLE records ADD COLUMN stderr_data BLOB",
		"ALTER TABLE records ADD COLUMN stdout_dropped INTEGER DEFAULT 0",
		"ALTER TABLE records ADD COLUMN stderr_dropped INTEGER DEFAULT 0",
		"ALTER TABLE records ADD COLUMN stdout_marks BLOB", "ALTER TABLE records ADD COLUMN stderr_marks BLOB",
		"ALTER TABLE records ADD COLUMN timeline TEXT",       /* proc_timeline.h */
		"ALTER TABLE records ADD COLUMN pool TEXT",           /* pools: the pool a worker works for */
	};
	char *err = NULL;
	bool migrated = false;
	int rc = sqlite3_exec(db, RECORDS_DEF("IF NOT EXISTS records"), NULL, NULL, &err);
	for (size_t i = 0; rc == SQLITE_OK && i < sizeof added / sizeof added[0]; i++)
		sqlite3_exec(db, added[i], NULL, NULL, NULL);
	if (rc == SQLITE_OK && records_old_form(db)) {
		log_event(LOG_INFO, "migrating the store's records to the rowid table", "path=\"%s\"", path);
		if ((rc = sqlite3_exec(db, migrate_sql, NULL, NULL, &err)) != SQLITE_OK && !sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		migrated = rc == SQLITE_OK;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, indexes, NULL, NULL, &err);
	/* The copy went through the WAL (as big as the table): back into
	 * spawnd.db and the WAL emptied now, not left for the checkpoints. */
	if (rc == SQLITE_OK && migrated)
		sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		log_event(LOG_ERROR, "cannot set up the store's records table", "path=\"%s\" error=\"%s\"", path,
			  err ? err : sqlite3_errmsg(db));
	sqlite3_free(err);
	return rc == SQLITE_OK ? 0 : -EIO;
}

/* Why the "unix-excl" VFS: with the default one the WAL index is a shared
 * memory file, and a commit took and dropped six fcntl() locks on it (the
 * read mark, the reader's lock, the writer's lock), locks meant for other
 * processes. unix-excl holds one lock on the database against every other
 * process (only this spawnd uses its state dir) and keeps the WAL index in
 * this process's heap, shared by its three connections: no -shm file, no
 * fcntl on a commit. A crash loses nothing: the next open rebuilds the index
 * from the WAL, as after any crash. */
static int open_connection(const char *path, sqlite3 **db)
{
	int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 "unix-excl");
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(*db, 10000);
	if (rc != SQLITE_OK)
		log_event(LOG_ERROR, "cannot open the store", "path=\"%s\" error=\"%s\"", path,
			  *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
	return rc == SQLITE_OK ? 0 : -EIO;
}

static int prepare_all(struct sql_store *m)
{
	int rc = sqlite3_prepare_v2(m->reader, "SELECT " COLUMNS " FROM records WHERE id=?", -1, &m->get_stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(m->reader, "SELECT substr(stdout_data, ?2, ?3) FROM records WHERE id=?1", -1,
					&m->output_stmt[0], NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(m->reader, "SELECT substr(stderr_data, ?2, ?3) FROM records WHERE id=?1", -1,
					&m->output_stmt[1], NULL);
	for (int i = 0; i < 2 && rc == SQLITE_OK; i++)
		rc = sqlite3_prepare_v2(m->reader, i ? "SELECT stderr_marks FROM records WHERE id=?1" :
					"SELECT stdout_marks FROM records WHERE id=?1", -1, &m->marks_stmt[i], NULL);
	for (int k = 0; k < OP_KINDS && rc == SQLITE_OK; k++)
		rc = sqlite3_prepare_v2(m->writer, op_text(k), -1, &m->op_stmt[k], NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(m->writer, update_output_sql, -1, &m->update_output, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(m->writer, journal_sql, -1, &m->journal_stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(m->writer, replace_sql, -1, &m->replace_stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(m->writer, "BEGIN", -1, &m->begin, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(m->writer, "COMMIT", -1, &m->commit, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(m->writer, "ROLLBACK", -1, &m->rollback, NULL);
	if (rc != SQLITE_OK)
		log_event(LOG_ERROR, "cannot prepare the store's statements", "error=\"%s\"", sqlite3_errstr(rc));
	return rc == SQLITE_OK ? 0 : -EIO;
}

static void sql_close(struct store *s)
{
	struct sql_store *m = sql(s);
	if (m->thread_started) {
		pthread_mutex_lock(&m->queue_lock);
		m->stopping = true;             /* the writer writes what is queued, then ends */
		pthread_cond_signal(&m->queued_cond);
		pthread_mutex_unlock(&m->queue_lock);
		pthread_join(m->thread, NULL);
	}
	if (m->checkpoint_started) {
		pthread_mutex_lock(&m->queue_lock);
		m->stopping = true;
		pthread_cond_signal(&m->checkpoint_cond);
		pthread_mutex_unlock(&m->queue_lock);
		pthread_join(m->checkpoint_thread, NULL);
	}
	store_sqlite_journal_close(m);
	store_sqlite_free_ops(m->head);
	sqlite3_finalize(m->get_stmt);
	sqlite3_finalize(m->output_stmt[0]);
	sqlite3_finalize(m->output_stmt[1]);
	sqlite3_finalize(m->marks_stmt[0]);
	sqlite3_finalize(m->marks_stmt[1]);
	for (int k = 0; k < OP_KINDS; k++)
		sqlite3_finalize(m->op_stmt[k]);
	sqlite3_finalize(m->update_output);
	sqlite3_finalize(m->journal_stmt);
	sqlite3_finalize(m->replace_stmt);
	sqlite3_finalize(m->begin);
	sqlite3_finalize(m->commit);
	sqlite3_finalize(m->rollback);
	sqlite3_close(m->checkpointer);
	sqlite3_close(m->reader);
	sqlite3_close(m->writer);       /* the last connection: checkpoints the WAL */
	pthread_mutex_destroy(&m->read_lock);
	pthread_mutex_destroy(&m->queue_lock);
	pthread_cond_destroy(&m->queued_cond);
	pthread_cond_destroy(&m->committed_cond);
	pthread_cond_destroy(&m->checkpoint_cond);
	pthread_cond_destroy(&m->journal_cond);
	free(m->state_dir);
	free(m);
}

static int sql_open(const char *state_dir, struct store **out)
{
	struct sql_store *m = calloc(1, sizeof *m);
	char *path = NULL, *err = NULL;
	if (!m || asprintf(&path, "%s/spawnd.db", state_dir) < 0 || !(m->state_dir = strdup(state_dir))) {
		free(path);
		free(m);
		return -ENOMEM;
	}
	m->base.ops = &store_sqlite_ops;
	m->jfd = -1;
	pthread_mutex_init(&m->read_lock, NULL);
	pthread_mutex_init(&m->queue_lock, NULL);
	pthread_condattr_t monotonic;           /* the writer's linger is timed on it */
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&m->queued_cond, &monotonic);
	pthread_condattr_destroy(&monotonic);
	pthread_cond_init(&m->committed_cond, NULL);
	pthread_cond_init(&m->checkpoint_cond, NULL);
	pthread_cond_init(&m->journal_cond, NULL);
	int r = open_connection(path, &m->writer);
	if (r == 0 && sqlite3_exec(m->writer, schema, NULL, NULL, &err) != SQLITE_OK) {
		log_event(LOG_ERROR, "cannot set up the store", "path=\"%s\" error=\"%s\"", path, err);
		r = -EIO;
	}
	if (r == 0)
		r = set_up_records(m->writer, path);
	if (r == 0 && sqlite3_exec(m->writer, store_sqlite_objects_schema, NULL, NULL, &err) != SQLITE_OK) {
		log_event(LOG_ERROR, "cannot set up the store's objects tables", "path=\"%s\" error=\"%s\"", path, err);
		r = -EIO;
	}
	sqlite3_free(err);
	if (r == 0)
		r = open_connection(path, &m->reader);
	if (r == 0)
		r = open_connection(path, &m->checkpointer);
	/* Why the checkpointer reads once: a connection opens the WAL at its
	 * first read; until then its checkpoint did nothing at all (so the
	 * writer's forced one did all of them, in whichever thread committed). */
	if (r == 0 && sqlite3_exec(m->checkpointer, "PRAGMA schema_version", NULL, NULL, &err) != SQLITE_OK) {
		log_event(LOG_ERROR, "cannot read the store", "path=\"%s\" error=\"%s\"", path, err);
		sqlite3_free(err);
		r = -EIO;
	}
	if (r == 0 && (r = -pthread_create(&m->checkpoint_thread, NULL, store_sqlite_checkpoint_main, m)) == 0) {
		m->checkpoint_started = true;
		sqlite3_wal_hook(m->writer, store_sqlite_wal_committed, m);
	}
	if (r == 0)
		r = prepare_all(m);
	if (r == 0)
		r = store_sqlite_journal_open(m);
	if (r == 0 && (r = -pthread_create(&m->thread, NULL, store_sqlite_writer_main, m)) == 0)
		m->thread_started = true;
	free(path);
	if (r < 0) {
		sql_close(&m->base);
		return r;
	}
	*out = &m->base;
	return 0;
}

/* /healthz: what the last commit said (no disk I/O: called under the engine lock). */
static int sql_check(struct store *s)
{
	struct sql_store *m = (struct sql_store *)s;
	pthread_mutex_lock(&m->queue_lock);
	bool failed = m->fold_failed || m->journal_failed;
	pthread_mutex_unlock(&m->queue_lock);
	return failed ? -EIO : 0;
}

const struct store_ops store_sqlite_ops = {
	.flags = STORE_ASYNC_WRITES | STORE_SHARED_READS | STORE_DURABLE,
	.open = sql_open, .close = sql_close, .insert = store_sqlite_insert, .update = store_sqlite_update,
	.get = store_sqlite_get, .remove = store_sqlite_remove, .list = store_sqlite_list,
	.get_names = store_sqlite_get_names, .set_names = store_sqlite_set_names,
	.queued = store_sqlite_queued, .sync = store_sqlite_sync, .flush = store_sqlite_flush, .written = store_sqlite_written, .check = sql_check,
	.expired = store_sqlite_expired,
	.put_output = store_sqlite_put_output, .read_output = store_sqlite_read_output,
	.object_put = store_sqlite_object_put, .object_remove = store_sqlite_object_remove,
	.entry_put = store_sqlite_entry_put, .entry_remove = store_sqlite_entry_remove,
	.objects_load = store_sqlite_objects_load,
	.read_marks = store_sqlite_read_marks,
};

