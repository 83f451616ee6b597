/* store_sqlite_write — the SQLite store's writes: insert, update, remove and
 * output only queue a copy (STORE_ASYNC_WRITES); one writer thread commits
 * whatever has queued up in one transaction, and a checkpoint thread copies
 * the WAL back (the design note is at the top of store_sqlite.c).
 */
#define _GNU_SOURCE
#include "engine/store_sqlite_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/histogram.h"

/* ---- writing (the writer thread) ----------------------------------------- */

void store_sqlite_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_insert(sqlite3_stmt *st, const struct store_record *r)
{
	store_sqlite_bind_text(st, 1, r->id);
	store_sqlite_bind_text(st, 2, r->name);
	store_sqlite_bind_text(st, 3, r->target);
	store_sqlite_bind_text(st, 4, r->args_text);
	sqlite3_bind_int(st, 5, r->daemon);
	sqlite3_bind_double(st, 6, r->timeout);
	sqlite3_bind_int64(st, 7, r->created_ms);
	sqlite3_bind_int(st, 8, r->state);
	sqlite3_bind_int(st, 9, r->pid);
	sqlite3_bind_int(st, 10, r->exitcode);
	sqlite3_bind_int(st, 11, r->signal);
	sqlite3_bind_int(st, 12, r->reason);
	store_sqlite_bind_text(st, 13, r->error);
	sqlite3_bind_int64(st, 14, r->started_ms);
	sqlite3_bind_int64(st, 15, r->ended_ms);
	sqlite3_bind_int64(st, 16, (sqlite3_int64)r->stdout_bytes);
	sqlite3_bind_int64(st, 17, (sqlite3_int64)r->stderr_bytes);
	sqlite3_bind_int64(st, 18, (sqlite3_int64)r->start_ticks);
	store_sqlite_bind_text(st, 19, r->launch_text);
	sqlite3_bind_int64(st, 20, (sqlite3_int64)r->stdout_dropped);
	sqlite3_bind_int64(st, 21, (sqlite3_int64)r->stderr_dropped);
	store_sqlite_bind_text(st, 22, r->timeline_text);
	store_sqlite_bind_text(st, 23, r->pool);
}

static void bind_update(sqlite3_stmt *st, const struct store_record *r)
{
	store_sqlite_bind_text(st, 1, r->id);
	sqlite3_bind_int(st, 2, r->state);
	sqlite3_bind_int(st, 3, r->pid);
	sqlite3_bind_int(st, 4, r->exitcode);
	sqlite3_bind_int(st, 5, r->signal);
	sqlite3_bind_int(st, 6, r->reason);
	store_sqlite_bind_text(st, 7, r->error);
	sqlite3_bind_int64(st, 8, r->started_ms);
	sqlite3_bind_int64(st, 9, r->ended_ms);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)r->stdout_bytes);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)r->stderr_bytes);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)r->start_ticks);
	sqlite3_bind_int64(st, 13, (sqlite3_int64)r->stdout_dropped);
	sqlite3_bind_int64(st, 14, (sqlite3_int64)r->stderr_dropped);
	store_sqlite_bind_text(st, 15, r->timeline_text);
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
		store_sqlite_bind_text(st, 1, o->rec.id);
	else if (o->kind >= OP_OBJECT_PUT)
		store_sqlite_bind_object(st, o);
	else if (o->kind == OP_OUTPUT0 || o->kind == OP_OUTPUT1) {
		store_sqlite_bind_text(st, 1, o->rec.id);
		if (o->data)
			sqlite3_bind_blob64(st, 2, o->data, o->len, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 2);       /* in its file */
		if (o->marks)
			sqlite3_bind_blob64(st, 3, o->marks, o->marks_len, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 3);
	}
	else
		sqlite3_bind_int64(st, 1, o->names);
	int rc = step_reset(st);
	if (rc)
		log_event(LOG_ERROR, "store write failed", "id=%s error=\"%s\"", o->rec.id, sqlite3_errstr(rc));
	return rc;
}

void store_sqlite_free_ops(struct op *o)
{
	for (struct op *next; o; o = next) {
		next = o->next;
		store_record_release(&o->rec);
		free(o->data);
		free(o->obj_kind);
		free(o->obj_name);
		free(o->obj_key);
		free(o->obj_value);
		free(o->marks);
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

/* Commits everything queued, queue_lock held (dropped while writing). The
 * writer thread calls it, and so does a thread in store_sqlite_sync() that
 * finds its write queued and no commit running: it commits it itself rather
 * than wake the writer and sleep until the writer wakes it back (two thread
 * hops, most of a shared object's round trip on a busy machine). `writing`
 * keeps the writer connection to one thread at a time. Waiters are told
 * before the ops are freed: their answer does not wait for that. */
static void commit_queued(struct sql_store *m)
{
	struct op *batch = m->head;
	m->head = m->tail = NULL;
	uint64_t last = m->queued_seq;
	m->writing = true;
	pthread_mutex_unlock(&m->queue_lock);

	uint64_t start = histogram_now_ns();
	bool ok = write_batch(m, batch);
	store_write_timed(start, ok ? 0 : -EIO);   /* the commit, not the enqueue */

	pthread_mutex_lock(&m->queue_lock);
	m->writing = false;
	if (!ok)
		m->failed_seq = last;
	m->committed_seq = last;
	pthread_cond_broadcast(&m->committed_cond);
	if (m->head || m->stopping)
		pthread_cond_signal(&m->queued_cond);   /* queued while this commit ran, or the writer ends after it */
	pthread_mutex_unlock(&m->queue_lock);
	store_sqlite_free_ops(batch);
	pthread_mutex_lock(&m->queue_lock);
}

void *store_sqlite_writer_main(void *arg)
{
	struct sql_store *m = arg;
	pthread_mutex_lock(&m->queue_lock);
	for (;;) {
		while ((!m->head || m->writing) && !(m->stopping && !m->writing))
			pthread_cond_wait(&m->queued_cond, &m->queue_lock);
		if (!m->head)
			break;                  /* stopping, and everything is written */
		commit_queued(m);
	}
	pthread_mutex_unlock(&m->queue_lock);
	return NULL;
}

/* The writer's WAL hook (after each commit): replaces SQLite's automatic
 * checkpoint. */
int store_sqlite_wal_committed(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sql_store *m = arg;
	if (pages >= CHECKPOINT_FORCE_PAGES)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	else if (pages >= CHECKPOINT_PAGES) {
		pthread_mutex_lock(&m->queue_lock);
		m->checkpoint_wanted = true;
		pthread_cond_signal(&m->checkpoint_cond);
		pthread_mutex_unlock(&m->queue_lock);
	}
	return SQLITE_OK;
}

void *store_sqlite_checkpoint_main(void *arg)
{
	struct sql_store *m = arg;
	pthread_mutex_lock(&m->queue_lock);
	for (;;) {
		while (!m->checkpoint_wanted && !m->stopping)
			pthread_cond_wait(&m->checkpoint_cond, &m->queue_lock);
		if (m->stopping)
			break;          /* closing the last connection checkpoints */
		m->checkpoint_wanted = false;
		pthread_mutex_unlock(&m->queue_lock);
		sqlite3_wal_checkpoint_v2(m->checkpointer, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&m->queue_lock);
	}
	pthread_mutex_unlock(&m->queue_lock);
	return NULL;
}

int store_sqlite_enqueue(struct sql_store *m, struct op *o)
{
	pthread_mutex_lock(&m->queue_lock);
	o->seq = ++m->queued_seq;
	if (m->tail)
		m->tail->next = o;
	else
		m->head = o;
	m->tail = o;
	/* A shared object's write is always waited for (objects_sync(), by the
	 * reply or the objects timer's next tick), and that thread commits it
	 * itself: waking the writer too would only cost two context switches. */
	if (o->kind < OP_OBJECT_PUT)
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

int store_sqlite_insert(struct store *s, const struct store_record *r)
{
	struct op *o = calloc(1, sizeof *o);
	if (!o || store_record_copy(&o->rec, r) < 0) {
		free(o);
		return -ENOMEM;
	}
	o->kind = OP_INSERT;
	return store_sqlite_enqueue(sql(s), o);
}

int store_sqlite_update(struct store *s, const struct store_record *r)
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
	o->rec.stdout_dropped = r->stdout_dropped;
	o->rec.stderr_dropped = r->stderr_dropped;
	if ((r->error && !(o->rec.error = strdup(r->error))) ||
	    (r->timeline_text && !(o->rec.timeline_text = strdup(r->timeline_text)))) {
		store_record_release(&o->rec);
		free(o);
		return -ENOMEM;
	}
	return store_sqlite_enqueue(sql(s), o);
}

int store_sqlite_remove(struct store *s, const char *id)
{
	struct op *o = new_op(OP_REMOVE, id);
	return o ? store_sqlite_enqueue(sql(s), o) : -ENOMEM;
}

int store_sqlite_set_names(struct store *s, long given)
{
	struct op *o = new_op(OP_NAMES, "");
	if (!o)
		return -ENOMEM;
	o->names = given;
	return store_sqlite_enqueue(sql(s), o);
}

/* A copy of len bytes (NULL stays NULL); false: out of memory. */
static bool copy_blob(void **to, const void *from, size_t len)
{
	if (!from)
		return true;
	*to = malloc(len ? len : 1);
	if (*to)
		memcpy(*to, from, len);
	return *to != NULL;
}

int store_sqlite_put_output(struct store *s, const char *id, int stream, const void *data, size_t len,
			    const void *marks, size_t marks_len)
{
	struct op *o = new_op(stream ? OP_OUTPUT1 : OP_OUTPUT0, id);
	if (!o || !copy_blob(&o->data, data, len) || !copy_blob(&o->marks, marks_len ? marks : NULL, marks_len)) {
		store_sqlite_free_ops(o);
		return -ENOMEM;
	}
	o->len = len;
	o->marks_len = marks_len;
	return store_sqlite_enqueue(sql(s), o);
}

uint64_t store_sqlite_queued(struct store *s)
{
	struct sql_store *m = sql(s);
	pthread_mutex_lock(&m->queue_lock);
	uint64_t seq = m->queued_seq;
	pthread_mutex_unlock(&m->queue_lock);
	return seq;
}

int store_sqlite_sync(struct store *s, uint64_t seq)
{
	struct sql_store *m = sql(s);
	pthread_mutex_lock(&m->queue_lock);
	uint64_t failed_before = m->failed_seq;
	while (m->committed_seq < seq) {
		if (m->head && !m->writing && m->thread_started && !m->stopping)
			commit_queued(m);       /* no hop to the writer and back */
		else
			pthread_cond_wait(&m->committed_cond, &m->queue_lock);
	}
	/* A batch that failed and held seq: this write is not on disk. */
	int r = m->failed_seq != failed_before && m->failed_seq >= seq ? -EIO : 0;
	pthread_mutex_unlock(&m->queue_lock);
	return r;
}


bool store_sqlite_written(struct store *s, uint64_t seq)
{
	struct sql_store *m = sql(s);
	pthread_mutex_lock(&m->queue_lock);
	/* A record whose batch failed is kept in memory: the store lacks it. */
	bool done = m->committed_seq >= seq && m->failed_seq < seq;
	pthread_mutex_unlock(&m->queue_lock);
	return done;
}
