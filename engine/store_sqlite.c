/* store_sqlite — the durable store (store.h): STATE_DIR/spawnd.db, SQLite in
 * WAL mode.
 *
 * Why a writer thread: every transition of every record is written, and the
 * engine makes them under its lock, from the thread that drains the workers'
 * pipes. So insert/update/remove/set_names only copy the record into a queue
 * (STORE_ASYNC_WRITES) and one writer thread, with its own connection, takes
 * whatever has queued up and writes it in one transaction (group commit: the
 * more is queued, the fewer commits per record). Each write has a sequence
 * number; sync(seq) waits on a condition variable until the writer has
 * committed it, so an HTTP thread that must not answer before a record is on
 * disk waits for a commit and never does disk I/O itself.
 *
 * Why a second connection for reads: in WAL mode readers and the writer do
 * not block each other, so get/list run from HTTP threads without the engine
 * lock (STORE_SHARED_READS), serialised among themselves by read_lock.
 *
 * Durability: synchronous=NORMAL in WAL mode: a commit survives a crash or
 * kill of spawnd (the WAL is in the page cache); a power loss may lose the
 * last commits (README "Durability").
 * Errors of a write are logged and make the next sync() answer -EIO; the
 * writer goes on with the next batch.
 */
#define _GNU_SOURCE
#include "engine/store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/histogram.h"

#define COLUMNS "id, name, target, args_text, daemon, timeout, created_ms, state, pid, exitcode, signal, " \
		"reason, error, started_ms, ended_ms, stdout_bytes, stderr_bytes, start_ticks, launch"

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, name TEXT NOT NULL, target TEXT NOT NULL,"
	" args_text TEXT NOT NULL, daemon INTEGER, timeout REAL, created_ms INTEGER, state INTEGER,"
	" pid INTEGER, exitcode INTEGER, signal INTEGER, reason INTEGER, error TEXT, started_ms INTEGER,"
	" ended_ms INTEGER, stdout_bytes INTEGER, stderr_bytes INTEGER, start_ticks INTEGER, launch TEXT)"
	" WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS records_state ON records (state, id);"
	"CREATE INDEX IF NOT EXISTS records_target ON records (target, id);"
	"CREATE INDEX IF NOT EXISTS records_name ON records (name, id);"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;";

enum op_kind { OP_INSERT, OP_UPDATE, OP_REMOVE, OP_NAMES, OP_KINDS };

struct op {
	struct op *next;
	enum op_kind kind;
	struct store_record rec;        /* OP_UPDATE: id, mutable fields, error */
	long names;
	uint64_t seq;
};

static const char *const op_sql[OP_KINDS] = {
	[OP_INSERT] = "INSERT INTO records (" COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[OP_UPDATE] = "UPDATE records SET state=?2, pid=?3, exitcode=?4, signal=?5, reason=?6,"
		      " error=coalesce(?7, error), started_ms=?8, ended_ms=?9, stdout_bytes=?10, stderr_bytes=?11,"
		      " start_ticks=?12 WHERE id=?1",
	[OP_REMOVE] = "DELETE FROM records WHERE id=?1",
	[OP_NAMES] = "INSERT OR REPLACE INTO meta (key, value) VALUES ('names_given', ?1)",
};

struct sql_store {
	struct store base;
	sqlite3 *reader, *writer;
	sqlite3_stmt *get_stmt, *op_stmt[OP_KINDS], *begin, *commit, *rollback;
	pthread_mutex_t read_lock, queue_lock;
	pthread_cond_t queued_cond, committed_cond;
	struct op *head, *tail;
	uint64_t queued_seq, committed_seq, failed_seq;     /* failed_seq: the last write that failed */
	bool stopping, thread_started;
	pthread_t thread;
};

static struct sql_store *sql(struct store *s) { return (struct sql_store *)s; }

/* ---- writing (the writer thread) ----------------------------------------- */

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_insert(sqlite3_stmt *st, const struct store_record *r)
{
	bind_text(st, 1, r->id);
	bind_text(st, 2, r->name);
	bind_text(st, 3, r->target);
	bind_text(st, 4, r->args_text);
	sqlite3_bind_int(st, 5, r->daemon);
	sqlite3_bind_double(st, 6, r->timeout);
	sqlite3_bind_int64(st, 7, r->created_ms);
	sqlite3_bind_int(st, 8, r->state);
	sqlite3_bind_int(st, 9, r->pid);
	sqlite3_bind_int(st, 10, r->exitcode);
	sqlite3_bind_int(st, 11, r->signal);
	sqlite3_bind_int(st, 12, r->reason);
	bind_text(st, 13, r->error);
	sqlite3_bind_int64(st, 14, r->started_ms);
	sqlite3_bind_int64(st, 15, r->ended_ms);
	sqlite3_bind_int64(st, 16, (sqlite3_int64)r->stdout_bytes);
	sqlite3_bind_int64(st, 17, (sqlite3_int64)r->stderr_bytes);
	sqlite3_bind_int64(st, 18, (sqlite3_int64)r->start_ticks);
	bind_text(st, 19, r->launch_text);
}

static void bind_update(sqlite3_stmt *st, const struct store_record *r)
{
	bind_text(st, 1, r->id);
	sqlite3_bind_int(st, 2, r->state);
	sqlite3_bind_int(st, 3, r->pid);
	sqlite3_bind_int(st, 4, r->exitcode);
	sqlite3_bind_int(st, 5, r->signal);
	sqlite3_bind_int(st, 6, r->reason);
	bind_text(st, 7, r->error);
	sqlite3_bind_int64(st, 8, r->started_ms);
	sqlite3_bind_int64(st, 9, r->ended_ms);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)r->stdout_bytes);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)r->stderr_bytes);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)r->start_ticks);
}

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

static int apply(struct sql_store *m, const struct op *o)
{
	sqlite3_stmt *st = m->op_stmt[o->kind];
	if (o->kind == OP_INSERT)
		bind_insert(st, &o->rec);
	else if (o->kind == OP_UPDATE)
		bind_update(st, &o->rec);
	else if (o->kind == OP_REMOVE)
		bind_text(st, 1, o->rec.id);
	else
		sqlite3_bind_int64(st, 1, o->names);
	int rc = step_reset(st);
	if (rc)
		log_event(LOG_ERROR, "store write failed", "id=%s error=\"%s\"", o->rec.id, sqlite3_errstr(rc));
	return rc;
}

static void free_ops(struct op *o)
{
	for (struct op *next; o; o = next) {
		next = o->next;
		store_record_release(&o->rec);
		free(o);
	}
}

/* One transaction for the whole batch; a write that fails alone (a
 * constraint) does not undo the others, a failed commit fails them all. */
static bool write_batch(struct sql_store *m, struct op *batch)
{
	bool ok = step_reset(m->begin) == 0;
	for (struct op *o = batch; ok && o; o = o->next)
		if (apply(m, o) && sqlite3_get_autocommit(m->writer))
			ok = false;             /* the transaction is gone */
	if (ok && step_reset(m->commit) != 0) {
		log_event(LOG_ERROR, "store commit failed", "error=\"%s\"", sqlite3_errmsg(m->writer));
		step_reset(m->rollback);
		ok = false;
	}
	return ok;
}

static void *writer_main(void *arg)
{
	struct sql_store *m = arg;
	pthread_mutex_lock(&m->queue_lock);
	for (;;) {
		while (!m->head && !m->stopping)
			pthread_cond_wait(&m->queued_cond, &m->queue_lock);
		struct op *batch = m->head;
		if (!batch)
			break;                  /* stopping, and everything is written */
		m->head = m->tail = NULL;
		uint64_t last = m->queued_seq;
		pthread_mutex_unlock(&m->queue_lock);

		uint64_t start = histogram_now_ns();
		bool ok = write_batch(m, batch);
		store_write_timed(start, ok ? 0 : -EIO);   /* the commit, not the enqueue */
		free_ops(batch);

		pthread_mutex_lock(&m->queue_lock);
		if (!ok)
			m->failed_seq = last;
		m->committed_seq = last;
		pthread_cond_broadcast(&m->committed_cond);
	}
	pthread_mutex_unlock(&m->queue_lock);
	return NULL;
}

static int enqueue(struct sql_store *m, struct op *o)
{
	pthread_mutex_lock(&m->queue_lock);
	o->seq = ++m->queued_seq;
	if (m->tail)
		m->tail->next = o;
	else
		m->head = o;
	m->tail = o;
	pthread_cond_signal(&m->queued_cond);
	pthread_mutex_unlock(&m->queue_lock);
	return 0;
}

static struct op *new_op(enum op_kind kind, const char *id)
{
	struct op *o = calloc(1, sizeof *o);
	if (o) {
		o->kind = kind;
		snprintf(o->rec.id, sizeof o->rec.id, "%s", id);
	}
	return o;
}

static int sql_insert(struct store *s, const struct store_record *r)
{
	struct op *o = calloc(1, sizeof *o);
	if (!o || store_record_copy(&o->rec, r) < 0) {
		free(o);
		return -ENOMEM;
	}
	o->kind = OP_INSERT;
	return enqueue(sql(s), o);
}

static int sql_update(struct store *s, const struct store_record *r)
{
	struct op *o = new_op(OP_UPDATE, r->id);
	if (!o)
		return -ENOMEM;
	o->rec.state = r->state;
	o->rec.pid = r->pid;
	o->rec.exitcode = r->exitcode;
	o->rec.signal = r->signal;
	o->rec.reason = r->reason;
	o->rec.started_ms = r->started_ms;
	o->rec.ended_ms = r->ended_ms;
	o->rec.stdout_bytes = r->stdout_bytes;
	o->rec.stderr_bytes = r->stderr_bytes;
	o->rec.start_ticks = r->start_ticks;
	if (r->error && !(o->rec.error = strdup(r->error))) {
		free(o);
		return -ENOMEM;
	}
	return enqueue(sql(s), o);
}

static int sql_remove(struct store *s, const char *id)
{
	struct op *o = new_op(OP_REMOVE, id);
	return o ? enqueue(sql(s), o) : -ENOMEM;
}

static int sql_set_names(struct store *s, long given)
{
	struct op *o = new_op(OP_NAMES, "");
	if (!o)
		return -ENOMEM;
	o->names = given;
	return enqueue(sql(s), o);
}

static uint64_t sql_queued(struct store *s)
{
	struct sql_store *m = sql(s);
	pthread_mutex_lock(&m->queue_lock);
	uint64_t seq = m->queued_seq;
	pthread_mutex_unlock(&m->queue_lock);
	return seq;
}

static int sql_sync(struct store *s, uint64_t seq)
{
	struct sql_store *m = sql(s);
	pthread_mutex_lock(&m->queue_lock);
	uint64_t failed_before = m->failed_seq;
	while (m->committed_seq < seq)
		pthread_cond_wait(&m->committed_cond, &m->queue_lock);
	/* A batch that failed and held seq: this write is not on disk. */
	int r = m->failed_seq != failed_before && m->failed_seq >= seq ? -EIO : 0;
	pthread_mutex_unlock(&m->queue_lock);
	return r;
}

/* ---- reading (any thread, read_lock) -------------------------------------- */

static char *column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static int read_row(sqlite3_stmt *st, struct store_record *r)
{
	*r = (struct store_record){ 0 };
	snprintf(r->id, sizeof r->id, "%s", (const char *)sqlite3_column_text(st, 0));
	r->name = column_dup(st, 1);
	r->target = column_dup(st, 2);
	r->args_text = column_dup(st, 3);
	r->daemon = sqlite3_column_int(st, 4);
	r->timeout = sqlite3_column_double(st, 5);
	r->created_ms = sqlite3_column_int64(st, 6);
	int state = sqlite3_column_int(st, 7);
	r->state = state >= 0 && state < STORE_STATES ? (enum store_state)state : STORE_LOST;
	r->pid = sqlite3_column_int(st, 8);
	r->exitcode = sqlite3_column_int(st, 9);
	r->signal = sqlite3_column_int(st, 10);
	r->reason = sqlite3_column_int(st, 11);
	r->error = column_dup(st, 12);
	r->started_ms = sqlite3_column_int64(st, 13);
	r->ended_ms = sqlite3_column_int64(st, 14);
	r->stdout_bytes = (uint64_t)sqlite3_column_int64(st, 15);
	r->stderr_bytes = (uint64_t)sqlite3_column_int64(st, 16);
	r->start_ticks = (uint64_t)sqlite3_column_int64(st, 17);
	r->launch_text = column_dup(st, 18);
	if (!r->name || !r->target || !r->args_text || (!r->error && sqlite3_column_type(st, 12) != SQLITE_NULL) ||
	    (!r->launch_text && sqlite3_column_type(st, 18) != SQLITE_NULL)) {
		store_record_release(r);
		return -ENOMEM;
	}
	return 0;
}

static int sql_get(struct store *s, const char *id, struct store_record *out)
{
	struct sql_store *m = sql(s);
	pthread_mutex_lock(&m->read_lock);
	bind_text(m->get_stmt, 1, id);
	int rc = sqlite3_step(m->get_stmt), r;
	if (rc == SQLITE_ROW)
		r = read_row(m->get_stmt, out);
	else
		r = rc == SQLITE_DONE ? -ENOENT : -EIO;
	sqlite3_reset(m->get_stmt);
	pthread_mutex_unlock(&m->read_lock);
	return r;
}

/* The query of q; its parameters are bound by bind_query in the same order. */
static void build_query(const struct store_query *q, char *sql_text, size_t len)
{
	snprintf(sql_text, len, "SELECT " COLUMNS " FROM records WHERE 1%s%s%s%s%s ORDER BY id DESC LIMIT ?",
		 q->state >= 0 ? " AND state=?" : "",
		 q->alive == 1 ? " AND state IN (0,1)" : q->alive == 0 ? " AND state NOT IN (0,1)" : "",
		 q->target ? " AND target=?" : "", q->name ? " AND name=?" : "", q->after ? " AND id<?" : "");
}

static void bind_query(sqlite3_stmt *st, const struct store_query *q)
{
	int i = 1;
	if (q->state >= 0)
		sqlite3_bind_int(st, i++, q->state);
	if (q->target)
		bind_text(st, i++, q->target);
	if (q->name)
		bind_text(st, i++, q->name);
	if (q->after)
		bind_text(st, i++, q->after);
	sqlite3_bind_int64(st, i, (sqlite3_int64)q->limit + 1);   /* one more: is there a next page? */
}

static int read_page(sqlite3_stmt *st, const struct store_query *q, struct store_page *out)
{
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->count == q->limit) {
			snprintf(out->next, sizeof out->next, "%s", out->records[out->count - 1].id);
			return 0;
		}
		if ((size_t)out->count == cap) {
			cap = cap ? cap * 2 : 64;
			struct store_record *grown = realloc(out->records, cap * sizeof *grown);
			if (!grown)
				return -ENOMEM;
			out->records = grown;
		}
		if (read_row(st, &out->records[out->count]) < 0)
			return -ENOMEM;
		out->count++;
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int sql_list(struct store *s, const struct store_query *q, struct store_page *out)
{
	struct sql_store *m = sql(s);
	char text[512];
	sqlite3_stmt *st;
	*out = (struct store_page){ 0 };
	if ((q->after && !store_id_valid(q->after)) || q->limit < 1)
		return -EINVAL;
	build_query(q, text, sizeof text);
	pthread_mutex_lock(&m->read_lock);
	int r = sqlite3_prepare_v2(m->reader, text, -1, &st, NULL) == SQLITE_OK ? 0 : -EIO;
	if (r == 0) {
		bind_query(st, q);
		r = read_page(st, q, out);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&m->read_lock);
	if (r < 0)
		store_page_release(out);
	return r;
}

static int sql_get_names(struct store *s, long *given)
{
	struct sql_store *m = sql(s);
	sqlite3_stmt *st;
	*given = 0;
	pthread_mutex_lock(&m->read_lock);
	int r = sqlite3_prepare_v2(m->reader, "SELECT value FROM meta WHERE key='names_given'", -1, &st, NULL);
	if (r == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			*given = (long)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&m->read_lock);
	return r == SQLITE_OK ? 0 : -EIO;
}

/* Retention: the ended records past the keep-th newest ended one, or ended
 * (created, when it has no end) before before_ms, oldest first. The keep-th
 * newest is found once per call (an uncorrelated subquery), so one call reads
 * at most the ended rows, on the reader connection. */
static int sql_expired(struct store *s, const struct store_expiry *q, struct store_page *out)
{
	struct sql_store *m = sql(s);
	const struct store_query page = { .limit = q->limit };
	char text[1024];
	sqlite3_stmt *st;
	*out = (struct store_page){ 0 };
	if (q->limit < 1)
		return -EINVAL;
	snprintf(text, sizeof text,
		 "SELECT " COLUMNS " FROM records WHERE state NOT IN (0,1) AND (0%s%s) ORDER BY id LIMIT ?3",
		 q->keep > 0 ? " OR id < coalesce((SELECT id FROM records WHERE state NOT IN (0,1)"
			       " ORDER BY id DESC LIMIT 1 OFFSET ?1), '')" : "",
		 q->before_ms > 0 ? " OR (CASE WHEN ended_ms > 0 THEN ended_ms ELSE created_ms END) < ?2" : "");
	pthread_mutex_lock(&m->read_lock);
	int r = sqlite3_prepare_v2(m->reader, text, -1, &st, NULL) == SQLITE_OK ? 0 : -EIO;
	if (r == 0) {
		sqlite3_bind_int64(st, 1, q->keep - 1);
		sqlite3_bind_int64(st, 2, q->before_ms);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)q->limit + 1);
		r = read_page(st, &page, out);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&m->read_lock);
	if (r < 0)
		store_page_release(out);
	return r;
}

/* ---- open and close -------------------------------------------------------- */

static int open_connection(const char *path, sqlite3 **db)
{
	int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
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
	for (int k = 0; k < OP_KINDS && rc == SQLITE_OK; k++)
		rc = sqlite3_prepare_v2(m->writer, op_sql[k], -1, &m->op_stmt[k], NULL);
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
	free_ops(m->head);
	sqlite3_finalize(m->get_stmt);
	for (int k = 0; k < OP_KINDS; k++)
		sqlite3_finalize(m->op_stmt[k]);
	sqlite3_finalize(m->begin);
	sqlite3_finalize(m->commit);
	sqlite3_finalize(m->rollback);
	sqlite3_close(m->reader);
	sqlite3_close(m->writer);       /* the last connection: checkpoints the WAL */
	pthread_mutex_destroy(&m->read_lock);
	pthread_mutex_destroy(&m->queue_lock);
	pthread_cond_destroy(&m->queued_cond);
	pthread_cond_destroy(&m->committed_cond);
	free(m);
}

static int sql_open(const char *state_dir, struct store **out)
{
	struct sql_store *m = calloc(1, sizeof *m);
	char *path = NULL, *err = NULL;
	if (!m || asprintf(&path, "%s/spawnd.db", state_dir) < 0) {
		free(m);
		return -ENOMEM;
	}
	m->base.ops = &store_sqlite_ops;
	pthread_mutex_init(&m->read_lock, NULL);
	pthread_mutex_init(&m->queue_lock, NULL);
	pthread_cond_init(&m->queued_cond, NULL);
	pthread_cond_init(&m->committed_cond, NULL);
	int r = open_connection(path, &m->writer);
	if (r == 0 && sqlite3_exec(m->writer, schema, NULL, NULL, &err) != SQLITE_OK) {
		log_event(LOG_ERROR, "cannot set up the store", "path=\"%s\" error=\"%s\"", path, err);
		r = -EIO;
	}
	sqlite3_free(err);
	if (r == 0)
		r = open_connection(path, &m->reader);
	if (r == 0)
		r = prepare_all(m);
	if (r == 0 && (r = -pthread_create(&m->thread, NULL, writer_main, m)) == 0)
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
	bool failed = m->failed_seq != 0 && m->failed_seq == m->committed_seq;
	pthread_mutex_unlock(&m->queue_lock);
	return failed ? -EIO : 0;
}

const struct store_ops store_sqlite_ops = {
	.flags = STORE_ASYNC_WRITES | STORE_SHARED_READS | STORE_DURABLE,
	.open = sql_open, .close = sql_close, .insert = sql_insert, .update = sql_update,
	.get = sql_get, .remove = sql_remove, .list = sql_list,
	.get_names = sql_get_names, .set_names = sql_set_names,
	.queued = sql_queued, .sync = sql_sync, .check = sql_check, .expired = sql_expired,
};
