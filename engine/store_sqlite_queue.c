/* store_sqlite_queue — the SQLite store's write queue: what insert, update,
 * remove, put_output and set_names leave for the writer thread
 * (store_sqlite_write.c), and sync(), which waits for its commits.
 *
 * Why writes of one record are merged (coalescing): a short process is
 * inserted, started, running, given its output and ended within a
 * millisecond; written one by one, that was four commits and five row
 * writes, each rewriting the row, its overflow pages and its state index
 * entry. While a record's op still waits in the queue (it is found by id in
 * a small hash, emptied each time the writer takes the queue), a later write
 * of the same record is merged into it: its fields and output replace the
 * queued ones (error and timeline only when given, as the UPDATE's coalesce()
 * does), and the op takes the later sequence number. Every op merged is still
 * committed in the batch that holds the op, so sync(seq) means what it did.
 * A remove takes its record out of the hash: nothing is merged across it.
 *
 * Why the writer lingers (COMMIT_LINGER_MS): a commit is put off a little,
 * so that a short process's writes meet in the queue and are merged, and
 * many records share one commit; PENDING_MAX queued ops commit at once.
 * Why sync() (someone is to be answered) does not commit: it writes the
 * queued writes' images to the journal (store_sqlite_journal.c), one
 * write(2), which survives a kill of spawnd as a commit does; an answer
 * that waited for a commit was 1.2-1.3x the memory store's (bench S).
 * flush() commits (the thread that flushes does it, when no commit runs):
 * reads see only what is committed. What a crash can lose: writes nobody
 * was answered about, up to COMMIT_LINGER_MS old (README "Durability").
 *
 * Why the worker's start time is read here, at the commit (or when its
 * image is journaled), and not by the
 * engine at spawn (store.h, store_record.pidfd): a short process has ended
 * before its row's first commit, so its row needs none, and the read (about
 * 30 us) was on every spawn's answer path. The op keeps a dup of the pidfd
 * till then: a time read before a successful pidfd_send_signal(0) was the
 * worker's (lib/procstat.h). A write merged into a record that has ended
 * drops it.
 *
 * Why set_names writes nothing: the Process-N count changed with every
 * spawn, one more page in every commit. The count is written when a record
 * is removed (a removed record's number must never come back) and at close;
 * an open takes the larger of it and the number of the newest stored
 * Process-N record (store_sqlite_read.c), so after a crash the count goes on
 * after the last name any stored record has.
 */
#define _GNU_SOURCE
#include "engine/store_sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/histogram.h"
#include "lib/procstat.h"

static unsigned pending_bucket(const char *id)
{
	uint32_t h = 2166136261u;               /* FNV-1a */
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % PENDING_BUCKETS;
}

/* Where the queued op of id is linked in the hash (*result NULL: none). */
static struct op **pending_link(struct sql_store *m, const char *id)
{
	struct op **link = &m->pending[pending_bucket(id)];
	while (*link && strcmp((*link)->rec.id, id) != 0)
		link = &(*link)->pending_next;
	return link;
}

void store_sqlite_pending_clear(struct sql_store *m)
{
	memset(m->pending, 0, sizeof m->pending);
}

/* Appends o (queue_lock held): the writer starts its linger at the first
 * op queued, and commits at once past PENDING_MAX. Why the writer is woken only from an untimed wait (writer_told false):
 * while it lingers it looks at the queue again when its linger ends; woken
 * for every process (each commit by a sync() emptied the queue), it cost
 * two thread switches a process on a busy machine (bench S). */
static void append(struct sql_store *m, struct op *o)
{
	if (m->tail)
		m->tail->next = o;
	else
		m->head = o;
	m->tail = o;
	if (!m->queued_count++)
		m->first_queued_ns = histogram_now_ns();
	if (m->queued_count >= PENDING_MAX)
		m->sync_wanted = true;
	bool tell = m->sync_wanted || !m->writer_told;
	m->writer_told = true;
	if (tell)
		pthread_cond_signal(&m->queued_cond);
}

/* Why atomic stores under the lock: queued(), written() and an answered
 * sync() read the sequence numbers without it (on every transition and
 * every request). */
static uint64_t next_seq(struct sql_store *m)
{
	uint64_t seq = m->queued_seq + 1;
	__atomic_store_n(&m->queued_seq, seq, __ATOMIC_RELEASE);
	return seq;
}

int store_sqlite_enqueue(struct sql_store *m, struct op *o)
{
	pthread_mutex_lock(&m->queue_lock);
	o->seq = next_seq(m);
	append(m, o);
	pthread_mutex_unlock(&m->queue_lock);
	return 0;
}

static void take_string(char **into, char **from)
{
	if (*from) {
		free(*into);
		*into = *from;
		*from = NULL;
	}
}

/* The fields an update writes (the UPDATE's columns but error and timeline,
 * which are written only when given). */
static void copy_fields(struct store_record *a, const struct store_record *b)
{
	a->state = b->state;
	a->pid = b->pid;
	a->exitcode = b->exitcode;
	a->signal = b->signal;
	a->reason = b->reason;
	a->started_ms = b->started_ms;
	a->ended_ms = b->ended_ms;
	a->stdout_bytes = b->stdout_bytes;
	a->stderr_bytes = b->stderr_bytes;
	if (b->start_ticks)                     /* a later write gives 0: known stays (the UPDATE's rule) */
		a->start_ticks = b->start_ticks;
	a->stdout_dropped = b->stdout_dropped;
	a->stderr_dropped = b->stderr_dropped;
}

static bool wants_start_ticks(const struct store_record *r)
{
	return r->state == STORE_RUNNING && !r->start_ticks && r->pid > 0;
}

/* o keeps a dup of r's pidfd if its row will want the start time. Without
 * one (no pidfd, or no fd left) the row has none: recovery then leaves
 * that pid alone, the safe side of not knowing. */
static void hold_pidfd(struct op *o, const struct store_record *r)
{
	if (!wants_start_ticks(r) || r->pidfd < 0)
		return;
	o->pidfd = fcntl(r->pidfd, F_DUPFD_CLOEXEC, 3);
	o->holds_pidfd = o->pidfd >= 0;
}

static void drop_pidfd(struct op *o)
{
	if (o->holds_pidfd)
		close(o->pidfd);
	o->holds_pidfd = false;
	o->pidfd = -1;
}

/* The pidfd goes once read by: a queued op may wait a while (the writer's
 * linger), and the worker's fds are counted (tests/api_waits_vanished). */
void store_sqlite_fill_start_ticks(struct op *o)
{
	if (o->holds_pidfd && o->has_fields && wants_start_ticks(&o->rec))
		o->rec.start_ticks = procstat_start_ticks_held(o->rec.pid, o->pidfd);
	if (o->holds_pidfd && !wants_start_ticks(&o->rec))
		drop_pidfd(o);
}

/* into keeps one pidfd while its merged fields still want the start time,
 * and takes from's if it has none; one it no longer needs is closed (from's
 * goes with from). */
static void merge_pidfd(struct op *into, struct op *from)
{
	if (!wants_start_ticks(&into->rec)) {
		drop_pidfd(into);
		return;
	}
	if (into->holds_pidfd)
		return;
	into->holds_pidfd = from->holds_pidfd;
	into->pidfd = from->pidfd;
	from->holds_pidfd = false;
}

/* from's writes go into the queued op of the same record; from keeps what
 * they replaced, for the caller to free. */
static void merge(struct op *into, struct op *from)
{
	if (from->has_fields) {
		struct store_record *a = &into->rec, *b = &from->rec;
		copy_fields(a, b);
		take_string(&a->error, &b->error);
		take_string(&a->timeline_text, &b->timeline_text);
		into->has_fields = true;
		merge_pidfd(into, from);
	}
	into->journaled = false;                /* a new image of it */
	for (int s = 0; s < 2; s++) {
		if (!from->has_output[s])
			continue;
		void *data = into->data[s], *marks = into->marks[s];
		into->data[s] = from->data[s];
		into->marks[s] = from->marks[s];
		into->len[s] = from->len[s];
		into->marks_len[s] = from->marks_len[s];
		into->has_output[s] = true;
		from->data[s] = data;
		from->marks[s] = marks;
	}
}

/* Queues o, a write of one record, or merges it into the record's queued op
 * (then o is freed). */
static int enqueue_record(struct sql_store *m, struct op *o)
{
	pthread_mutex_lock(&m->queue_lock);
	uint64_t seq = next_seq(m);
	struct op **link = pending_link(m, o->rec.id), *queued = *link;
	if (o->kind == OP_REMOVE && queued)
		*link = queued->pending_next;   /* later writes go after the remove */
	if (queued && o->kind == OP_UPDATE) {
		merge(queued, o);
		queued->seq = seq;
		pthread_mutex_unlock(&m->queue_lock);
		store_sqlite_free_ops(o);
		return 0;
	}
	o->seq = seq;
	if (o->kind == OP_REMOVE)
		m->remove_queued = true;
	else if (!queued) {
		o->pending_next = NULL;
		*link = o;
	}
	append(m, o);
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
	o->has_fields = true;
	hold_pidfd(o, r);
	return enqueue_record(sql(s), o);
}

int store_sqlite_update(struct store *s, const struct store_record *r)
{
	struct op *o = new_op(OP_UPDATE, r->id);
	if (!o)
		return -ENOMEM;
	o->has_fields = true;
	copy_fields(&o->rec, r);
	if ((r->error && !(o->rec.error = strdup(r->error))) ||
	    (r->timeline_text && !(o->rec.timeline_text = strdup(r->timeline_text)))) {
		store_sqlite_free_ops(o);
		return -ENOMEM;
	}
	hold_pidfd(o, r);
	return enqueue_record(sql(s), o);
}

int store_sqlite_remove(struct store *s, const char *id)
{
	struct op *o = new_op(OP_REMOVE, id);
	return o ? enqueue_record(sql(s), o) : -ENOMEM;
}

int store_sqlite_set_names(struct store *s, long given)
{
	struct sql_store *m = sql(s);
	pthread_mutex_lock(&m->queue_lock);
	if (given > m->names_given)
		m->names_given = given;
	pthread_mutex_unlock(&m->queue_lock);
	return 0;
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

/* An OP_UPDATE without fields: the writer runs OP_OUTPUT0/1 for it, or the
 * record's queued op takes it. */
int store_sqlite_put_output(struct store *s, const char *id, int stream, const void *data, size_t len,
			    const void *marks, size_t marks_len)
{
	int k = stream ? 1 : 0;
	struct op *o = new_op(OP_UPDATE, id);
	if (!o || !copy_blob(&o->data[k], data, len) ||
	    !copy_blob(&o->marks[k], marks_len ? marks : NULL, marks_len)) {
		store_sqlite_free_ops(o);
		return -ENOMEM;
	}
	o->has_output[k] = true;
	o->len[k] = len;
	o->marks_len[k] = marks_len;
	return enqueue_record(sql(s), o);
}

uint64_t store_sqlite_queued(struct store *s)
{
	return __atomic_load_n(&sql(s)->queued_seq, __ATOMIC_ACQUIRE);
}

/* Whether the writes up to seq are on disk (queue_lock held): committed,
 * or in the journal with everything before the journal's range committed. */
static bool durable(const struct sql_store *m, uint64_t seq)
{
	return m->committed_seq >= seq || (seq <= m->j_hi && m->j_lo <= m->committed_seq);
}

int store_sqlite_sync(struct store *s, uint64_t seq)
{
	struct sql_store *m = sql(s);
	if (__atomic_load_n(&m->committed_seq, __ATOMIC_ACQUIRE) >= seq)
		return 0;                       /* committed */
	pthread_mutex_lock(&m->queue_lock);
	while (!durable(m, seq)) {
		if (!store_sqlite_journal_usable(m)) {
			/* No journal (a full disk): a commit, as a flush. */
			pthread_mutex_unlock(&m->queue_lock);
			return store_sqlite_flush(s, seq);
		}
		if (seq <= m->j_hi && m->writing)
			/* In the journal, but writes before it are in the batch
			 * being committed (never journaled): its commit tells. */
			pthread_cond_wait(&m->committed_cond, &m->queue_lock);
		else if (m->jwriting)
			/* Another thread writes it; that write may hold this one. */
			pthread_cond_wait(&m->journal_cond, &m->queue_lock);
		else
			store_sqlite_journal_step(m);
	}
	pthread_mutex_unlock(&m->queue_lock);
	return 0;
}

int store_sqlite_flush(struct store *s, uint64_t seq)
{
	struct sql_store *m = sql(s);
	if (__atomic_load_n(&m->committed_seq, __ATOMIC_ACQUIRE) >= seq)
		return 0;                       /* committed */
	pthread_mutex_lock(&m->queue_lock);
	while (m->committed_seq < seq) {
		/* Still queued, and no commit runs: this thread commits it. */
		if (!m->writing && m->thread_started && !m->stopping) {
			store_sqlite_commit_queued(m, false);
			if (m->committed_seq < seq && m->fold_failed)
				break;          /* that commit failed: back in the queue */
			continue;
		}
		/* Still queued (not in the batch being written): no linger for it. */
		if (seq > m->taken_seq && !m->sync_wanted) {
			m->sync_wanted = true;
			pthread_cond_signal(&m->queued_cond);
		}
		pthread_cond_wait(&m->committed_cond, &m->queue_lock);
		if (m->committed_seq < seq && m->fold_failed && !m->writing && seq <= m->taken_seq)
			break;                  /* its batch failed */
	}
	int r = m->committed_seq >= seq ? 0 : -EIO;
	pthread_mutex_unlock(&m->queue_lock);
	return r;
}

bool store_sqlite_written(struct store *s, uint64_t seq)
{
	/* A record whose batch failed is kept in memory: the store lacks it
	 * until a later commit takes it. */
	return __atomic_load_n(&sql(s)->committed_seq, __ATOMIC_ACQUIRE) >= seq;
}
