/* store — where process records live: a handle with an operations table, so
 * that the in-memory store (store_mem.c) can be replaced by a durable one
 * (SQLite, later a database shared by several nodes) without touching the
 * engine.
 *
 * Records are passed as values: struct store_record holds a record's durable
 * fields only; what exists only while spawnd runs (fds, waiters, output
 * buffers) stays in struct proc. The store copies what it is given and hands
 * out copies (release them with store_record_release()/store_page_release()).
 *
 * Ids are made by store_id_new(): creation time in ms, a counter within the
 * ms and a random part drawn once per run, as fixed-width lowercase hex, so
 * the byte order of ids is their creation order, and ids stay unique across
 * restarts and across nodes. A list cursor is the id of the last record of a
 * page: it stays valid across restarts, and a removed record's id still
 * places the next page.
 *
 * Every operation returns 0 or a negative errno (-ENOENT: no such id,
 * -EEXIST, -EINVAL: bad cursor, -ENOMEM).
 * Threads: a store is not thread-safe; the engine lock serialises every call,
 * except what its flags allow:
 *   STORE_ASYNC_WRITES  insert, update, remove and set_names only queue the
 *                       write (the engine never waits on a disk): they fail
 *                       only for want of memory, a write that fails later is
 *                       logged, and sync() waits until the writes queued so
 *                       far are on disk (survive a crash of spawnd). Reads
 *                       see a write once it is flushed (store_sync_all).
 *   STORE_SHARED_READS  get and list may be called without the engine lock,
 *                       from any thread, at the same time as anything else.
 *
 * Writes go through store_insert()/store_update()/store_remove(), which time
 * each call into one histogram (GET /metrics), whatever the store; a store
 * that commits later in a thread of its own (STORE_ASYNC_WRITES) times its
 * commits with store_write_timed() as well.
 */
#ifndef SPAWND_STORE_H
#define SPAWND_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/histogram.h"

#define STORE_ID_MAX 32
#define STORE_ID_LEN 23                 /* 11 hex digits of ms, 4 of counter, 8 of run */

enum store_state { STORE_QUEUED, STORE_RUNNING, STORE_EXITED, STORE_FAILED, STORE_LOST, STORE_STATES };

struct store_record {
	char id[STORE_ID_MAX];
	/* fixed at insert */
	char *name, *target, *args_text;        /* args_text: the args as sent, printed JSON */
	bool daemon;
	double timeout;                         /* seconds, 0: none */
	int64_t created_ms;                     /* wall clock */
	/* written by update */
	enum store_state state;
	int pid;                                /* 0: none */
	int exitcode, signal;                   /* signal: the terminating one, 0: none */
	int reason;                             /* an enum proc_reason, opaque to the store */
	char *error;                            /* NULL: none */
	int64_t started_ms, ended_ms;           /* wall clock, 0: not yet */
	uint64_t stdout_bytes, stderr_bytes;
	uint64_t start_ticks;                   /* the worker's /proc/PID/stat starttime, 0: unknown */
	/* Borrowed for an insert or update call only: the worker's pidfd, -1:
	 * none (copies and reads give -1). A durable store that is given a
	 * RUNNING record with start_ticks 0 keeps a dup of it and reads the
	 * start time itself when it writes that row (lib/procstat.h): a record
	 * that has ended by then is written without one, at no cost. The row's
	 * start_ticks, once known, stays through later updates that give 0. */
	int pidfd;
	uint64_t stdout_dropped, stderr_dropped;        /* bytes a cap dropped (the gap at each stream's end) */
	char *timeline_text;                    /* its lifecycle events, a JSON array (proc_timeline.h); NULL: none */
	/* fixed at insert, NULL: none. What a queued record needs to start
	 * after a restart (JSON, see proc_recover.c). */
	char *launch_text;
	char *pool;                             /* fixed at insert: the pool it works for, NULL: none */
};

struct store_query {
	int state;                              /* an enum store_state, -1: any */
	int alive;                              /* -1: any; 1: queued or running; 0: ended */
	const char *target, *name;              /* NULL: any */
	const char *after;                      /* cursor from a previous page, or NULL */
	int limit;                              /* >= 1 */
};

/* A page, newest first; next is "" on the last page. */
struct store_page {
	struct store_record *records;
	int count;
	char next[STORE_ID_MAX];
};

/* Retention (store_ops.expired): which ended records (exited, failed, lost)
 * are past their keep. */
struct store_expiry {
	long keep;                              /* the newest keep ended records stay; 0: no count limit */
	int64_t before_ms;                      /* wall clock: ended (or, without ended_ms, created)
						 * before this goes; 0: no age limit */
	int limit;                              /* >= 1: records in one answer */
};

struct store;

/* Shared objects (objects/): the registry's generic rows, for every kind.
 * An object is (kind, name) with its state as JSON text; an entry is
 * (kind, name, key) with a JSON value, keys ordered bytewise (a queue's: its
 * "-head" entry, then a row per put batch under its first item's zero-padded
 * hex sequence number and "+", and a row per leased item under its own
 * number; objects/queue_items.c). objects_load visits every object,
 * then every entry, each in (kind, name[, key]) order. */
struct store_objects_visitor {
	void (*object)(void *ctx, const char *kind, const char *name, const char *state);
	void (*entry)(void *ctx, const char *kind, const char *name, const char *key, const char *value);
};

/* STORE_DURABLE: records outlive spawnd, so their output is kept whole in
 * files (outbuf.h) for a later run to read. */
enum store_flags { STORE_ASYNC_WRITES = 1 << 0, STORE_SHARED_READS = 1 << 1, STORE_DURABLE = 1 << 2 };

struct store_ops {
	unsigned flags;                         /* enum store_flags */
	/* Opens the store of state_dir into *out. */
	int (*open)(const char *state_dir, struct store **out);
	void (*close)(struct store *s);
	int (*insert)(struct store *s, const struct store_record *r);
	/* Writes r's mutable fields (the ones after "written by update"). */
	int (*update)(struct store *s, const struct store_record *r);
	int (*get)(struct store *s, const char *id, struct store_record *out);
	int (*remove)(struct store *s, const char *id);
	/* Matching records older than q->after (newest first), at most q->limit;
	 * *out is left empty on error. */
	int (*list)(struct store *s, const struct store_query *q, struct store_page *out);
	/* Optional (NULL: always writable): 0 if a write would succeed now, else
	 * why not (-errno). Called for /healthz with the engine lock held, so it
	 * must not wait on disk: it reports what the store knows (its last write). */
	int (*check)(struct store *s);
	/* How many Process-N names were given (0 for a new store), and a new count
	 * (optional: NULL, the count starts at 0 each run). */
	int (*get_names)(struct store *s, long *given);
	int (*set_names)(struct store *s, long given);
	/* STORE_ASYNC_WRITES only (else NULL): the count of writes queued so far,
	 * and waiting until the first seq of them are on disk: they survive a
	 * crash of spawnd, though reads may not see them yet (0, or -EIO when
	 * one of them could not be written). sync needs no lock. */
	uint64_t (*queued)(struct store *s);
	int (*sync)(struct store *s, uint64_t seq);
	/* Optional (NULL: sync does it): like sync, and reads see them too. */
	int (*flush)(struct store *s, uint64_t seq);
	/* STORE_ASYNC_WRITES only (else NULL): whether write seq is on disk now,
	 * without waiting (false too when its batch failed). Any thread. */
	bool (*written)(struct store *s, uint64_t seq);
	/* Optional (a durable store): the whole of a record's output stream
	 * (0 stdout, 1 stderr), len bytes (copied), kept in its row: a write
	 * like update (queued with STORE_ASYNC_WRITES, removed with the record).
	 * For output that fits in memory; a bigger one has a file (outbuf.h):
	 * data NULL. marks (marks_len bytes, copied, opaque to the store; may be
	 * 0) are when its bytes were captured (outbuf_marks_encode()). 0 or -errno. */
	int (*put_output)(struct store *s, const char *id, int stream, const void *data, size_t len,
			  const void *marks, size_t marks_len);
	/* Optional: up to len bytes of that stream from offset; the count (0 at
	 * its end), -ENOENT when the row holds none (then it is in a file), or
	 * -errno. Like get for threads. */
	long (*read_output)(struct store *s, const char *id, int stream, uint64_t offset, void *buf, size_t len);
	/* Optional: the stream's marks (put_output), up to len bytes; their
	 * length, -ENOENT (none kept) or -errno. Like get for threads. */
	long (*read_marks)(struct store *s, const char *id, int stream, void *buf, size_t len);
	/* The ended records q says are past their keep, oldest first, at most
	 * q->limit (next is unused). A read (STORE_SHARED_READS applies): the
	 * caller removes them with remove. Queued and running records are never
	 * in it, nor counted in q->keep. */
	int (*expired)(struct store *s, const struct store_expiry *q, struct store_page *out);
	/* Shared objects (see store_objects_visitor): writes like update (queued
	 * with STORE_ASYNC_WRITES, and then committed by the caller's next sync:
	 * the objects module syncs every one). object_put inserts or replaces; object_remove
	 * removes the object and all its entries. objects_load at startup only. */
	int (*object_put)(struct store *s, const char *kind, const char *name, const char *state);
	int (*object_remove)(struct store *s, const char *kind, const char *name);
	int (*entry_put)(struct store *s, const char *kind, const char *name, const char *key, const char *value);
	int (*entry_remove)(struct store *s, const char *kind, const char *name, const char *key);
	int (*objects_load)(struct store *s, const struct store_objects_visitor *v, void *ctx);
};

/* What every implementation's handle starts with. */
struct store { const struct store_ops *ops; };

extern const struct store_ops store_mem_ops;
extern const struct store_ops store_sqlite_ops;        /* STATE_DIR/spawnd.db */

/* Waits until what s was given so far is on disk and seen by its reads (a
 * no-op for a store that writes at once). 0 or -EIO. No lock needed. */
int store_sync_all(struct store *s);
/* The sequence number of the last write given to s (0: a store that writes
 * at once), and waiting until the writes up to seq are on disk: a caller
 * that keeps the seq of its record's last write waits for that record only,
 * not for every write queued since. 0 or -EIO. No lock needed for sync. */
uint64_t store_queued(struct store *s);
int store_sync(struct store *s, uint64_t seq);

/* The ops, with each write timed (see above). */
int store_insert(struct store *s, const struct store_record *r);
int store_update(struct store *s, const struct store_record *r);
int store_remove(struct store *s, const char *id);
/* 0 if s is writable (its check op, if any), else -errno. */
int store_check(struct store *s);
/* Counts one write that began at start_ns (histogram_now_ns()) and ended now
 * with result (0 or -errno). Any thread. */
void store_write_timed(uint64_t start_ns, int result);
/* Durations of every write, and the writes that failed, since start. */
const struct histogram *store_write_latency(void);
uint64_t store_write_errors(void);

/* A new id (lock held: the counter is the caller's lock's). */
void store_id_new(char id[STORE_ID_MAX], int64_t wall_ms);
bool store_id_valid(const char *id);
const char *store_state_name(enum store_state s);
int store_state_parse(const char *name);        /* enum store_state, or -1 */
bool store_state_alive(enum store_state s);
bool store_matches(const struct store_record *r, const struct store_query *q);
int store_record_copy(struct store_record *dst, const struct store_record *src);
void store_record_release(struct store_record *r);
void store_page_release(struct store_page *p);

#endif
