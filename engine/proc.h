/* proc — the process engine: one record per run of a target, its life from
 * spawn to reaped-and-drained, and waiting on it. This is what the handlers call.
 *
 * A process moves queued → running → exited, or → failed when it could not start
 * (the state machine is in proc_fsm.c). "running" lasts until the worker has exited AND its
 * output is drained (EOF on both pipes, or a bounded drain after exit), so a
 * record that says alive:false always has its complete output.
 *
 * Threads: every function here is thread-safe (one engine lock, engine.h).
 * Waiter callbacks (proc_waiter.h) run outside the lock.
 * Ownership: cJSON values returned belong to the caller.
 *
 * Where it is implemented (each file's header says which fd and which state it owns):
 *   engine.c      the engine lock, the epoll set, the wake-up eventfd, timers, waiters to fire
 *   proc_table.c  the live records: index by id, run lists, counters, the store handle;
 *                 an ended record leaves memory once the store has it (proc_stored.c)
 *   proc_record.c a record: creation, environment, its fds (pidfd, output pipes), signals
 *   proc_fsm.c    the life of a record: state x event -> action
 *   proc_spawn.c  proc_spawn() and the fork server request
 *   proc_stdin.c  a worker's stdin pipe and what is queued for it
 *   proc_wait.c   joins, DELETE, follow waits, signals
 *   proc_query.c  get, list (paged by the store), output reads, stats
 *   proc_json.c   a record as JSON (from its durable fields and live output)
 *   proc_loop.c   the engine thread (output, exits, timers)
 *   proc_engine.c proc_init(), proc_shutdown(), proc_release()
 *   proc_retention.c removes ended records past their keep (count, age)
 *   waitq.c, store*.c, idmap.c, events.c, outbuf.c: the modules they use
 * Includes go one way: proc.h <- proc_record.h <- proc_table/fsm/stdin.h <-
 * the proc_*.c files; engine.h and events.h never include a proc header.
 */
#ifndef SPAWND_PROC_H
#define SPAWND_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "engine/proc_waiter.h"
#include "targets/target.h"

#define PROC_ID_MAX 32
#define PROC_INLINE_OUTPUT (64 * 1024)    /* stdout/stderr inline in a record */

enum proc_stream { PROC_STDOUT, PROC_STDERR };

struct store_ops;

struct proc_config {
	const char *state_dir;
	const struct store_ops *store;  /* NULL: in memory (store_mem_ops) */
	size_t output_mem_cap;      /* per stream, bytes kept in memory (>= 64 KiB) */
	size_t output_memory_cap;   /* every stream together (outbuf.h; 0: none) */
	uint64_t output_cap;        /* bytes kept per process, both streams (0: no cap) */
	int max_running;            /* then queue */
	int max_queued;             /* then -EAGAIN (429) */
	int drain_ms;               /* how long output is drained after the worker exits */
	int shutdown_ms;            /* how long non-daemon workers may finish at shutdown */
	/* Retention (proc_retention.c): ended records kept, newest first, at most
	 * retention_count (0: no count limit) and for retention_age_ms after
	 * their end (0: no age limit); looked at every retention_interval_ms. */
	long retention_count;
	int64_t retention_age_ms, retention_interval_ms;
};

struct proc_spawn {
	const struct target *target;
	const cJSON *args_sent;     /* echoed in the record (copied) */
	const cJSON *canonical;     /* validated args (copied) */
	const char *name;           /* NULL: Process-N */
	bool daemon;
	double timeout;             /* seconds, 0 = none (the target's applies) */
	char **envp;                /* the worker's whole environment, NULL-terminated (copied) */
	char **argv;                /* exec targets: the built argv (copied) */
	const char *stdin_data;     /* written to the worker's stdin (copied) */
	bool stdin_open;            /* keep stdin open after stdin_data (POST .../stdin) */
	const char *pool;           /* the id of the pool it works for (copied), NULL: none */
	bool pool_worker;           /* a C target's pool worker: runs tasks read from a socket on its
				       stdin (forkserver/pool_worker.c); needs stdin_open */
	/* Optional (POST ?wait=): armed on the new record before its worker
	 * starts, as proc_wait() would arm it, so it can never miss the end. */
	struct proc_waiter *waiter;
	double wait_s;
	void (*wake)(struct proc_waiter *w);
};

/* Starts the engine (its thread included). Call after forkserver_start(). */
int proc_init(const struct proc_config *cfg);
/* Graceful end: stops retention, terminates daemon workers, gives the others
 * cfg->shutdown_ms, then terminates and kills what is left, wakes every
 * waiter, stops the engine thread. New spawns get -ESHUTDOWN from the start.
 * Queued records stay queued in a durable store (the next run starts them);
 * with the memory store they fail. */
void proc_shutdown(void);
void proc_release(void);

/* Creates a record and starts (or queues) the worker, arming s->waiter if
 * given (it may fire before this returns). 0 and the id, or
 * -EAGAIN (at the limit, queue full), -EBUSY (the target's max_running are
 * alive), -ESHUTDOWN, -ENOSPC (the state folder is below its free-space
 * reserve, engine/diskspace.h), -ENOMEM. A worker that could
 * not be started is not an error here: its record is "failed" with the reason. */
int proc_spawn(const struct proc_spawn *s, char id[PROC_ID_MAX]);
/* A pool worker's task socket (its stdin is one end of a socketpair, this is
 * the other), taken over by the caller, who closes it: the fd, -EAGAIN (its
 * worker has not started yet), -ENOENT (no such record, it was taken, or the
 * worker ended before). */
int proc_take_channel(const char *id);

enum proc_json_flags { PROC_JSON_OUTPUT = 1 << 0 };
/* The record as API.md's Process, or NULL if there is no such id. */
cJSON *proc_get_json(const char *id, unsigned flags);

struct proc_filter {
	const char *state, *target, *name;  /* NULL: any */
	int alive;                          /* -1: any; 1: queued or running; 0: ended */
	const char *after;                  /* cursor from a previous page, or NULL */
	int limit;
};
/* {"processes": [...], "next": cursor|null}; NULL with -EINVAL in *err for a
 * bad cursor, -ENOMEM when out of memory. */
cJSON *proc_list_json(const struct proc_filter *f, int *err);

enum proc_reason { PROC_REASON_NONE, PROC_REASON_EXIT, PROC_REASON_SIGNAL, PROC_REASON_TERMINATE,
		   PROC_REASON_KILL, PROC_REASON_TIMEOUT, PROC_REASON_SPAWN_ERROR, PROC_REASON_LOST };

/* Sends sig to the worker's process group (through its pidfd). reason says
 * why, and becomes the record's reason if that signal ends it.
 * 0, -ENOENT (no such id), -ESRCH (not running: ended, failed or queued and
 * dropped). A queued process that is terminated or killed never starts. */
int proc_signal(const char *id, int sig, enum proc_reason reason);

/* Waits for the end of id. Returns 1 if it has already ended (fn is not
 * called), or if it is queued while the server shuts down (it will not
 * start in this run), 0 if fn will be called, -ENOENT. timeout_s < 0: no
 * deadline. */
int proc_wait(const char *id, double timeout_s, struct proc_waiter *w, void (*fn)(struct proc_waiter *));
/* Disarms w (any waiter armed by the engine, events_wait() included). */
void proc_wait_cancel(struct proc_waiter *w);

/* DELETE: if alive, terminate it (SIGTERM to the group, SIGKILL after grace_s)
 * and wait, like proc_wait, until it and its group are gone (or timeout_s
 * passes, < 0: no deadline); once ended, removes the record and its output
 * and returns its final JSON (with output) in *final. Returns 1 (removed,
 * *final set), 0 (waiting: call again from fn), -ENOENT. */
int proc_remove(const char *id, double grace_s, double timeout_s, struct proc_waiter *w,
		void (*fn)(struct proc_waiter *), cJSON **final);

/* Follow: returns 1 if either stream has bytes past its offset (UINT64_MAX:
 * not wanted) or the process has ended (nothing armed), 0 if w was armed (it
 * fires on new output, at the end, or at the deadline), -ENOENT. */
int proc_wait_output(const char *id, const uint64_t offsets[2], double timeout_s, struct proc_waiter *w,
		     void (*fn)(struct proc_waiter *));

#define PROC_STDIN_MAX (1 << 20)        /* bytes a worker's stdin may have pending */

/* Queues data for the worker's stdin; the engine writes it as the pipe takes
 * it, so no thread ever blocks on a full pipe. eof closes stdin once the
 * queued bytes are written. Returns len, -ENOENT, -ESRCH (the process is not
 * running), -EPIPE (its stdin is closed), -ENOBUFS (more than PROC_STDIN_MAX
 * would be pending). */
ssize_t proc_write_stdin(const char *id, const void *data, size_t len, bool eof);

/* Copies up to len bytes of a stream from offset. Returns the count (0 at the
 * current end), -ENOENT. *total gets the stream's length so far, *ended
 * whether the process has ended (so the length is final), *captured_ms (if
 * not NULL) when the byte at offset was captured (wall clock ms, 0: unknown),
 * *dropped (if not NULL) the bytes a cap dropped so far: they follow the
 * stream's last kept byte (its gap is at offset *total, outbuf.h). */
ssize_t proc_read_output(const char *id, enum proc_stream stream, uint64_t offset, void *buf,
			 size_t len, uint64_t *total, bool *ended, int64_t *captured_ms, uint64_t *dropped);
/* The exit line of an ended process (API.md "Output"), or NULL. */
cJSON *proc_exit_json(const char *id);

/* The store the records are in, for the shared objects to keep their rows
 * beside them (its calls take the engine lock, store.h). NULL before init. */
struct store *proc_store(void);
/* The lifecycle events of id (engine/proc_timeline.h) as a JSON array, live
 * or from the store; NULL if there is no such id (or no memory). */
cJSON *proc_timeline_json(const char *id);

/* Counters for /healthz and /metrics. */
struct proc_stats { long running, queued, total_started, total_failed; };
void proc_stats(struct proc_stats *st);


#endif
