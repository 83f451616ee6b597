/* store_sqlite_write — the SQLite store's writer: insert, update, remove and
 * output only queue a copy (STORE_ASYNC_WRITES, store_sqlite_queue.c); one
 * writer thread commits whatever has queued up in one transaction, and a
 * checkpoint thread copies the WAL back (the design note is at the top of
 * store_sqlite.c).
 */
#define _GNU_SOURCE
#include "engine/store_sqlite_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static void bind_blob(sqlite3_stmt *st, int i, const void *data, size_t len)
{
	if (data)
		sqlite3_bind_blob64(st, i, data, len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);       /* none, or in its file */
}

static void bind_insert(sqlite3_stmt *st, const struct op *o)
{
	const struct store_record *r = &o->rec;
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
	for (int s = 0; s < 2; s++) {          /* output merged into the insert */
		bind_blob(st, 24 + 2 * s, o->data[s], o->len[s]);
		bind_blob(st, 25 + 2 * s, o->marks[s], o->marks_len[s]);
	}
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

/* A record's op: its fields and/or output, merged (store_sqlite_queue.c)
 * into one statement where they meet. */
static int apply_record(struct sql_store *m, const struct op *o)
{
	bool output = o->has_output[0] || o->has_output[1];
	if (o->kind == OP_INSERT) {
		bind_insert(m->op_stmt[OP_INSERT], o);
		return step_reset(m->op_stmt[OP_INSERT]);
	}
	if (o->has_fields && output) {
		sqlite3_stmt *st = m->update_output;
		bind_update(st, &o->rec);
		for (int s = 0; s < 2; s++) {
			sqlite3_bind_int(st, 16 + 3 * s, o->has_output[s]);
			bind_blob(st, 17 + 3 * s, o->data[s], o->len[s]);
			bind_blob(st, 18 + 3 * s, o->marks[s], o->marks_len[s]);
		}
		return step_reset(st);
	}
	if (o->has_fields) {
		bind_update(m->op_stmt[OP_UPDATE], &o->rec);
		return step_reset(m->op_stmt[OP_UPDATE]);
	}
	int rc = 0;
	for (int s = 0; s < 2 && !rc; s++) {
		sqlite3_stmt *st = m->op_stmt[s ? OP_OUTPUT1 : OP_OUTPUT0];
		if (!o->has_output[s])
			continue;
		store_sqlite_bind_text(st, 1, o->rec.id);
		bind_blob(st, 2, o->data[s], o->len[s]);
		bind_blob(st, 3, o->marks[s], o->marks_len[s]);
		rc = step_reset(st);
	}
	return rc;
}

int store_sqlite_apply(struct sql_store *m, const struct op *o)
{
	sqlite3_stmt *st = m->op_stmt[o->kind];
	int rc;
	if (o->kind == OP_INSERT || o->kind == OP_UPDATE)
		rc = apply_record(m, o);
	else {
		if (o->kind == OP_REMOVE)
			store_sqlite_bind_text(st, 1, o->rec.id);
		else if (o->kind >= OP_OBJECT_PUT)
			store_sqlite_bind_object(st, o);
		else
			sqlite3_bind_int64(st, 1, o->names);
		rc = step_reset(st);
	}
	if (rc)
		log_event(LOG_ERROR, "store write failed", "id=%s error=\"%s\"", o->rec.id, sqlite3_errstr(rc));
	return rc;
}

void store_sqlite_free_ops(struct op *o)
{
	for (struct op *next; o; o = next) {
		next = o->next;
		store_record_release(&o->rec);
		free(o->data[0]);
		free(o->data[1]);
		free(o->marks[0]);
		free(o->marks[1]);
		free(o->obj_kind);
		free(o->obj_name);
		free(o->obj_key);
		free(o->obj_value);
		if (o->holds_pidfd)
			close(o->pidfd);
		free(o);
	}
}

bool store_sqlite_fails_alone(struct sql_store *m, int rc)
{
	return rc == 0 || ((rc & 0xff) == SQLITE_CONSTRAINT && !sqlite3_get_autocommit(m->writer));
}

/* One transaction for the whole batch, with the Process-N count when names
 * >= 0 and the journal's position when it was taken (last: its last seq);
 * a write that fails alone (a constraint) does not undo the others. Any
 * other error fails the batch (SQLite undoes only the statement on a full
 * disk, say: committing the rest would move the journal's position past a
 * write the database lacks). */
static bool write_batch(struct sql_store *m, struct op *batch, long names, uint64_t last)
{
	for (struct op *o = batch; o; o = o->next)
		store_sqlite_fill_start_ticks(o);       /* before BEGIN: no write lock held meanwhile */
	bool ok = step_reset(m->begin) == 0;
	for (struct op *o = batch; ok && o; o = o->next)
		if (!store_sqlite_fails_alone(m, store_sqlite_apply(m, o)))
			ok = false;
	if (ok && names >= 0) {
		struct op count = { .kind = OP_NAMES, .names = names };
		ok = store_sqlite_apply(m, &count) == 0;
	}
	if (ok && !m->dropped)          /* past a dropped batch's images: never */
		ok = store_sqlite_journal_mark(m, m->batch_gen, m->batch_off, last) == 0;
	if (ok && step_reset(m->commit) != 0) {
		log_event(LOG_ERROR, "store commit failed", "error=\"%s\"", sqlite3_errmsg(m->writer));
		ok = false;
	}
	/* A statement that failed (the meta's, say) may leave the transaction
	 * open: every later BEGIN would fail. */
	if (!ok && !sqlite3_get_autocommit(m->writer))
		step_reset(m->rollback);
	return ok;
}

/* Waits (queue_lock held) until a batch is due: someone syncs, the queue
 * is full or its oldest op has lingered COMMIT_LINGER_MS, or stopping; never
 * while another thread commits (store_sqlite_commit_queued() in a sync()).
 * false: stopping with nothing queued. */
static bool wait_for_batch(struct sql_store *m)
{
	for (;;) {
		if (m->writing) {
			m->writer_told = false;         /* untimed: the next op wakes it */
			pthread_cond_wait(&m->queued_cond, &m->queue_lock);
			continue;
		}
		if (m->stopping || (m->head && m->sync_wanted && !m->retry_after_ns))
			return m->head != NULL;
		if (!m->head) {
			m->writer_told = false;
			pthread_cond_wait(&m->queued_cond, &m->queue_lock);
			continue;
		}
		uint64_t due = m->first_queued_ns + (uint64_t)COMMIT_LINGER_MS * 1000000u;
		if (due < m->retry_after_ns)
			due = m->retry_after_ns;        /* the last commit failed: not at once again */
		if (histogram_now_ns() >= due)
			return true;
		struct timespec until = { (time_t)(due / 1000000000u), (long)(due % 1000000000u) };
		pthread_cond_timedwait(&m->queued_cond, &m->queue_lock, &until);
	}
}

/* Puts a batch that could not be committed back at the queue's head (queue_lock
 * held): its writes are older than anything queued since, and some were
 * answered about (they are in the journal, which a later batch's commit
 * moves past only with them). */
static void requeue(struct sql_store *m, struct op *batch)
{
	struct op *last = batch;
	int count = 1;
	for (; last->next; last = last->next)
		count++;
	last->next = m->head;
	if (!m->head)
		m->tail = last;
	m->head = batch;
	m->queued_count += count;
	m->first_queued_ns = histogram_now_ns();
	m->retry_after_ns = m->first_queued_ns + (uint64_t)FOLD_RETRY_MS * 1000000u;
	m->remove_queued = true;        /* the Process-N count too, if it was due */
	/* Writes queued since may be in the journal before the batch's (never
	 * journaled) images: all are written again, the batch's first, so
	 * that the replay (in file order) ends with the newest. */
	store_sqlite_journal_requeued(m);
}

/* One batch taken from the queue (queue_lock held, dropped while writing).
 * Waiters are told before the ops are freed: their answers need not wait. */
static void write_taken(struct sql_store *m, struct op *batch, bool with_names)
{
	uint64_t last = m->queued_seq;
	long names = with_names && m->names_given > m->names_written ? m->names_given : -1;
	m->taken_seq = last;
	m->writing = true;
	/* Everything journaled so far is an image of an op of this batch or
	 * an earlier one (both under queue_lock), and nothing after it. */
	uint64_t gen = m->batch_gen = m->jgen;
	bool prune = false;
	m->batch_off = m->joff;
	pthread_mutex_unlock(&m->queue_lock);

	uint64_t start = histogram_now_ns();
	bool ok = write_batch(m, batch, names, last);
	store_write_timed(start, ok ? 0 : -EIO);   /* the commit, not the enqueue */

	pthread_mutex_lock(&m->queue_lock);
	m->writing = false;
	m->fold_failed = !ok;
	if (ok) {
		m->retry_after_ns = 0;
		if (names > m->names_written)
			m->names_written = names;
		__atomic_store_n(&m->committed_seq, last, __ATOMIC_RELEASE);
		prune = !m->dropped && gen > m->committed_gen;
		if (prune)
			m->committed_gen = gen;
	} else if (batch && !m->stopping) {
		requeue(m, batch);
		batch = NULL;
	} else if (batch) {
		m->dropped = true;      /* stopping: its images stay the journal's to replay */
	}
	pthread_cond_broadcast(&m->committed_cond);
	pthread_mutex_unlock(&m->queue_lock);
	if (prune)
		store_sqlite_journal_prune(m, gen);     /* no lock: file I/O */
	store_sqlite_free_ops(batch);
	pthread_mutex_lock(&m->queue_lock);
}

void store_sqlite_commit_queued(struct sql_store *m, bool by_writer)
{
	struct op *batch = m->head;
	bool with_names = m->remove_queued || m->stopping;
	m->head = m->tail = NULL;
	m->queued_count = 0;
	m->sync_wanted = m->remove_queued = false;    /* writer_told: the writer's own */
	store_sqlite_pending_clear(m);
	write_taken(m, batch, with_names);
	if (!by_writer && (m->head || m->stopping))
		pthread_cond_signal(&m->queued_cond);   /* queued meanwhile, or the writer ends after this */
}

void *store_sqlite_writer_main(void *arg)
{
	struct sql_store *m = arg;
	pthread_mutex_lock(&m->queue_lock);
	while (wait_for_batch(m))
		store_sqlite_commit_queued(m, true);
	/* Stopping, everything written: the count last (a restart goes on from it). */
	if (m->names_given > m->names_written)
		write_taken(m, NULL, true);
	pthread_mutex_unlock(&m->queue_lock);
	return NULL;
}

/* The writer's WAL hook (after each commit): replaces SQLite's automatic
 * checkpoint. Why the thread is woken only once per CHECKPOINT_PAGES of
 * growth: woken on every commit past CHECKPOINT_PAGES, it cost each commit a
 * lock, a signal and a thread switch while the WAL stayed long. Only the
 * connection that commits runs this hook (m->writing serialises them), so
 * checkpoint_woken_at needs no lock. pages smaller than it: the WAL restarted. */
int store_sqlite_wal_committed(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sql_store *m = arg;
	__atomic_store_n(&m->wal_pages, pages, __ATOMIC_RELEASE);
	if (pages >= CHECKPOINT_FORCE_PAGES)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	else if (pages >= CHECKPOINT_PAGES &&
		 (pages < m->checkpoint_woken_at || pages >= m->checkpoint_woken_at + CHECKPOINT_PAGES)) {
		m->checkpoint_woken_at = pages;
		pthread_mutex_lock(&m->queue_lock);
		m->checkpoint_wanted = true;
		pthread_cond_signal(&m->checkpoint_cond);
		pthread_mutex_unlock(&m->queue_lock);
	}
	return SQLITE_OK;
}

/* True when a pass should follow the last one after CHECKPOINT_RETRY_MS:
 * it copied something, and the WAL has not been restarted since. Why: a pass
 * copies what was committed when it began; under steady load commits land
 * meanwhile, the WAL is never wholly copied, so never restarted, and grew to
 * CHECKPOINT_FORCE_PAGES. A later pass copies only those few pages, and one
 * that ends between two commits lets the next commit restart the WAL. A pass
 * that copied nothing (all copied, or a reader holds its snapshot) stops the
 * retries until the hook wakes the thread again. */
static bool retry_due(struct sql_store *m, int copied, int copied_before)
{
	return copied > copied_before && __atomic_load_n(&m->wal_pages, __ATOMIC_ACQUIRE) >= CHECKPOINT_PAGES;
}

/* Waits (queue_lock held) until the hook wants a pass, or the retry is due;
 * false: stopping. */
static bool wait_for_pass(struct sql_store *m, bool retry)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);  /* checkpoint_cond's clock */
	until.tv_nsec += CHECKPOINT_RETRY_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!m->checkpoint_wanted && !m->stopping) {
		if (!retry)
			pthread_cond_wait(&m->checkpoint_cond, &m->queue_lock);
		else if (pthread_cond_timedwait(&m->checkpoint_cond, &m->queue_lock, &until) == ETIMEDOUT)
			break;
	}
	m->checkpoint_wanted = false;
	return !m->stopping;            /* closing the last connection checkpoints */
}

void *store_sqlite_checkpoint_main(void *arg)
{
	struct sql_store *m = arg;
	int copied = 0, copied_before = 0;
	bool retry = false;
	pthread_mutex_lock(&m->queue_lock);
	while (wait_for_pass(m, retry)) {
		pthread_mutex_unlock(&m->queue_lock);
		int log_frames = 0;
		copied_before = retry ? copied : 0;
		if (sqlite3_wal_checkpoint_v2(m->checkpointer, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
					      &copied) != SQLITE_OK)
			copied = 0;
		retry = retry_due(m, copied, copied_before);
		pthread_mutex_lock(&m->queue_lock);
	}
	pthread_mutex_unlock(&m->queue_lock);
	return NULL;
}
