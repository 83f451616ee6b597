/* store_sqlite_internal — what the SQLite store's files share:
 * store_sqlite.c (schema, open, close, the ops table), store_sqlite_queue.c
 * (the write queue), store_sqlite_journal.c (the journal a sync writes,
 * in store_sqlite_frame.c's frames),
 * store_sqlite_write.c (the writer and checkpoint threads) and
 * store_sqlite_read.c (get, list, output reads on the reader connection).
 * Not for use outside them. Locking: queue_lock guards the queue, the
 * sequence numbers and the journal; read_lock serialises the reader
 * connection.
 */
#ifndef SPAWND_STORE_SQLITE_INTERNAL_H
#define SPAWND_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/store.h"

#define COLUMNS "id, name, target, args_text, daemon, timeout, created_ms, state, pid, exitcode, signal, " \
		"reason, error, started_ms, ended_ms, stdout_bytes, stderr_bytes, start_ticks, launch, " \
		"stdout_dropped, stderr_dropped, timeline, pool"

/* The records not exited (STORE_EXITED is 2), as the partial index
 * records_unended says it (store_sqlite.c): a query uses that index only
 * when its WHERE holds this very term. */
#define SQL_UNEXITED "state <> 2"
_Static_assert(STORE_EXITED == 2, "SQL_UNEXITED spells STORE_EXITED as 2");

/* OP_OUTPUT0/1: a stream's bytes into the row (put_output). Why not a file:
 * making one costs about half a millisecond on the disks measured (bench
 * figure S), more than the rest of a short process's life. */
/* OP_OBJECT_*, OP_ENTRY_*: the shared objects' rows (store_sqlite_objects.c),
 * in the same queue so that they commit in order with the records. */
enum op_kind { OP_INSERT, OP_UPDATE, OP_REMOVE, OP_NAMES, OP_OUTPUT0, OP_OUTPUT1,
	       OP_OBJECT_PUT, OP_OBJECT_REMOVE, OP_OBJECT_ENTRIES_REMOVE, OP_ENTRY_PUT, OP_ENTRY_REMOVE, OP_KINDS };

/* A record's op while it waits for the writer is found by its id (pending),
 * and a later write of the same record is merged into it (coalescing, see
 * store_sqlite_write.c): an OP_INSERT takes later fields and output, an
 * OP_UPDATE or OP_OUTPUT* takes both (has_fields, has_output[stream]). */
struct op {
	struct op *next, *pending_next;
	enum op_kind kind;
	struct store_record rec;        /* OP_UPDATE: id, mutable fields, error */
	long names;
	uint64_t seq;
	bool has_fields, has_output[2];
	void *data[2], *marks[2];       /* per stream; data NULL for a stream in its file */
	size_t len[2], marks_len[2];
	char *obj_kind, *obj_name, *obj_key, *obj_value;       /* OP_OBJECT_*, OP_ENTRY_* */
	/* A running row without its start time: a dup of the worker's pidfd
	 * (store_record.pidfd), for the commit to read it by; closed when the
	 * op is freed, or at once when a merged write ends the record. */
	bool holds_pidfd;
	int pidfd;
	bool journaled;                 /* this image of it is in the journal (a merge clears it) */
};

#define PENDING_BUCKETS 512
#define PENDING_MAX 1024                /* ops queued that start a commit at once */
/* Why a commit waits (for writes no one waits for): a process that lives
 * less than this is written once, insert, transitions and output in one row
 * write; a sync() (someone to answer) starts the commit at once. */
#define COMMIT_LINGER_MS 10

#define FOLD_RETRY_MS 100                 /* after a batch that could not be committed */
#define JOURNAL_ROTATE_BYTES (8u << 20)   /* a new journal file past this (store_sqlite_journal.c) */

#define CHECKPOINT_PAGES 1000             /* SQLite's own default */
#define CHECKPOINT_RETRY_MS 10                  /* a catch-up pass after one that copied (store_sqlite_write.c) */
#define CHECKPOINT_FORCE_PAGES 8000             /* 8 MiB of WAL at most, about (1 KiB pages) */

struct sql_store {
	struct store base;
	sqlite3 *reader, *writer, *checkpointer;
	sqlite3_stmt *get_stmt, *output_stmt[2], *marks_stmt[2], *op_stmt[OP_KINDS], *begin, *commit, *rollback;
	pthread_mutex_t read_lock, queue_lock;
	pthread_cond_t queued_cond, committed_cond, checkpoint_cond;
	bool checkpoint_wanted, checkpoint_started;
	int checkpoint_woken_at;                /* the WAL's pages when the hook last woke it */
	int wal_pages;                          /* after the last commit (atomic: the checkpoint thread reads it) */
	pthread_t checkpoint_thread;
	struct op *head, *tail;
	struct op *pending[PENDING_BUCKETS];    /* the queued record ops by id (not yet taken) */
	int queued_count;                       /* ops in the queue */
	uint64_t taken_seq;                     /* the last seq the writer has taken */
	bool sync_wanted, remove_queued;        /* a commit at once; a batch with a remove */
	bool writer_told;                       /* false: the writer waits untimed, an op must wake it */
	bool writing;                           /* a commit runs: the writer connection is in use */
	uint64_t first_queued_ns;               /* when the oldest op queued (CLOCK_MONOTONIC) */
	long names_given, names_written;        /* Process-N: see store_sqlite_set_names() */
	sqlite3_stmt *update_output, *journal_stmt, *replace_stmt;
	/* committed_seq: every write up to it is in the database (a batch
	 * that fails goes back to the queue's head, so it only grows on
	 * success); fold_failed: the last commit failed. */
	uint64_t queued_seq, committed_seq;
	bool fold_failed;
	uint64_t retry_after_ns;                /* no commit by the writer before (after a failure) */
	/* The journal (store_sqlite_journal.c): appended at (jgen, joff);
	 * every write in (j_lo, j_hi] is in it. A batch taken commits the
	 * journal's position then (batch_gen/off, with its last seq) in the
	 * meta table; files older than kept_gen are gone once that commits. */
	char *state_dir;
	int jfd;
	uint64_t jgen, joff, j_lo, j_hi;
	bool journal_failed;                    /* the last journal write failed */
	/* jwriting: a thread writes the journal (queue_lock dropped while it
	 * does; the others wait on journal_cond); jrotate: a new file is due
	 * (a write failed in this one); jepoch: a batch went back to the
	 * queue, so a write begun before does not count. */
	bool jwriting, jrotate;
	uint64_t jepoch, jretry_ns;             /* jretry_ns: no new file tried before (one failed) */
	pthread_cond_t journal_cond;
	char *jbuf;
	size_t jcap;
	uint64_t batch_gen, batch_off, committed_gen;
	/* A batch failed while stopping (not put back): the journal keeps its
	 * images, so no later commit may move its position past them. */
	bool dropped;
	bool stopping, thread_started;
	pthread_t thread;
};

static inline struct sql_store *sql(struct store *s) { return (struct sql_store *)s; }

/* store_sqlite_write.c and store_sqlite_queue.c */
void store_sqlite_bind_text(sqlite3_stmt *st, int i, const char *s);
void *store_sqlite_checkpoint_main(void *arg);
void store_sqlite_free_ops(struct op *o);
int store_sqlite_insert(struct store *s, const struct store_record *r);
int store_sqlite_put_output(struct store *s, const char *id, int stream, const void *data, size_t len,
			    const void *marks, size_t marks_len);
uint64_t store_sqlite_queued(struct store *s);
int store_sqlite_remove(struct store *s, const char *id);
int store_sqlite_set_names(struct store *s, long given);
int store_sqlite_sync(struct store *s, uint64_t seq);
int store_sqlite_flush(struct store *s, uint64_t seq);
bool store_sqlite_written(struct store *s, uint64_t seq);
int store_sqlite_update(struct store *s, const struct store_record *r);
int store_sqlite_wal_committed(void *arg, sqlite3 *db, const char *name, int pages);
void *store_sqlite_writer_main(void *arg);

/* store_sqlite_queue.c (with the ops above it declares) */
int store_sqlite_enqueue(struct sql_store *m, struct op *o);
/* Takes the whole queue and commits it (queue_lock held, dropped while
 * writing, m->writing set meanwhile). The writer thread's loop calls it, and
 * so does a sync() that finds its write queued and no commit running: it
 * commits itself rather than wake the writer and sleep until woken back
 * (two thread hops, most of a shared object's round trip). */
void store_sqlite_commit_queued(struct sql_store *m, bool by_writer);
void store_sqlite_pending_clear(struct sql_store *m);
/* Before o is written (the committing thread, no lock): its start time, if
 * it holds the pidfd to read it by. */
void store_sqlite_fill_start_ticks(struct op *o);

/* store_sqlite_journal.c. The journal makes a sync cheap: the images of
 * the queued writes, appended with one write(2) (no fsync, as the WAL's
 * commits), instead of a commit; the writer folds them into the database
 * in batches. */
/* One step towards the queued ops being in the journal (queue_lock held,
 * dropped meanwhile): a new file when one is due, else one write of every
 * queued op not yet in it. The caller loops until what it waits for is
 * durable (or m->jfd < 0: no journal, commit instead). */
void store_sqlite_journal_step(struct sql_store *m);
/* Whether there is a journal to write (queue_lock held; may drop it): with
 * none (its file failed), a new one is tried at most once a second. */
int store_sqlite_journal_usable(struct sql_store *m);
/* After a batch was put back at the queue's head (queue_lock held): every
 * queued op is written again, after the batch's. */
void store_sqlite_journal_requeued(struct sql_store *m);
/* After a commit of a batch taken at gen (no lock): the older files go. */
void store_sqlite_journal_prune(struct sql_store *m, uint64_t gen);
/* In the writer's open transaction: the journal's position (gen, off) and
 * the last seq the transaction holds, for the next open's replay. 0 or
 * SQLite's error. */
int store_sqlite_journal_mark(struct sql_store *m, uint64_t gen, uint64_t off, uint64_t seq);
/* At open, before the threads start: what the journal holds past the
 * position the database last committed is applied, in one transaction,
 * and a new journal file is started. 0 or -errno. */
int store_sqlite_journal_open(struct sql_store *m);
/* At close, after the writer ended: the journal's file goes when all of it
 * is in the database. */
void store_sqlite_journal_close(struct sql_store *m);
/* store_sqlite_frame.c: an op's frame appended to b (b->failed: no
 * memory), and the frame at *at of d read back into *out (moves *at past
 * it): FRAME_END where no whole frame with its checksum is (the journal's
 * end), FRAME_BAD for one this build cannot take in. */
struct frame_buf { char *data; size_t len, cap; bool failed; };
enum { FRAME_OK, FRAME_END, FRAME_BAD, FRAME_NOMEM };
void store_sqlite_frame_put(struct frame_buf *b, const struct op *o);
int store_sqlite_frame_get(const unsigned char *d, size_t len, size_t *at, struct op **out);

/* store_sqlite_write.c: one op applied on the writer connection (0 or
 * SQLite's error), and whether an error leaves the others of its
 * transaction to commit (a constraint only). */
int store_sqlite_apply(struct sql_store *m, const struct op *o);
bool store_sqlite_fails_alone(struct sql_store *m, int rc);

/* store_sqlite_objects.c */
extern const char store_sqlite_objects_schema[];
extern const char *const store_sqlite_objects_sql[OP_KINDS];
void store_sqlite_bind_object(sqlite3_stmt *st, const struct op *o);
int store_sqlite_object_put(struct store *s, const char *kind, const char *name, const char *state);
int store_sqlite_object_remove(struct store *s, const char *kind, const char *name);
int store_sqlite_entry_put(struct store *s, const char *kind, const char *name, const char *key, const char *value);
int store_sqlite_entry_remove(struct store *s, const char *kind, const char *name, const char *key);
int store_sqlite_objects_load(struct store *s, const struct store_objects_visitor *v, void *ctx);

/* store_sqlite_read.c */
int store_sqlite_get(struct store *s, const char *id, struct store_record *out);
int store_sqlite_get_names(struct store *s, long *given);
int store_sqlite_list(struct store *s, const struct store_query *q, struct store_page *out);
int store_sqlite_expired(struct store *s, const struct store_expiry *q, struct store_page *out);
long store_sqlite_read_output(struct store *s, const char *id, int stream, uint64_t offset, void *buf, size_t len);
long store_sqlite_read_marks(struct store *s, const char *id, int stream, void *buf, size_t len);

#endif
