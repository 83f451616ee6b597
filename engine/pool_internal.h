/* pool_internal — what pool.c (pools, their JSON), pool_job.c (jobs,
 * results, waiters) and pool_run.c (the pool thread, slots, running tasks)
 * share. Not for use outside those three files.
 *
 * Locking: every field is guarded by the pool lock (pool_lock()), except a
 * slot's `ended` flag, set by the engine's waiter callback (which may run
 * inside proc_spawn(), while the pool thread holds the pool lock) and read by
 * the pool thread.
 * Lifetime: a pool and its jobs live until pool_remove(); the engine holds a
 * slot's waiter only while the slot's process runs, and pool_remove() refuses
 * while any does.
 */
#ifndef SPAWND_POOL_INTERNAL_H
#define SPAWND_POOL_INTERNAL_H

#include <stdatomic.h>

#include "engine/pool.h"
#include "engine/proc.h"

enum pool_state { POOL_RUNNING, POOL_CLOSED, POOL_TERMINATED };

enum job_state { JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_TERMINATED };

struct pool;

struct pool_job {
	char id[POOL_ID_MAX];
	struct pool *pool;
	struct pool_job *next, *prev;   /* the pool's jobs, oldest first */
	enum job_state state;
	int total, done, failed, running;
	int next_index;                 /* the first item no chunk has taken */
	int *retry;                     /* items to run again, a stack */
	int retry_len;
	cJSON *items;                   /* canonical args, one per item */
	cJSON **item_at;                /* items by index (a cJSON array is a list) */
	int64_t *ints;                  /* or (item_at NULL) integer items: {int_key: ints[i]} */
	const char *int_key;
	cJSON **results;                /* NULL: not done yet */
	cJSON *numbers;                 /* total nodes for integer results (pool_job_number()), or NULL */
	int numbers_used;
	int *attempts;
	int *order;                     /* item indexes in completion order */
	int *failed_order;              /* the failed items' indexes in completion order, `failed` of them */
	int order_len;
	int prefix;                     /* items 0..prefix-1 all have results */
	int chunksize, retries;
	bool ordered, fail_fast;
	struct waitq waiters;
};

struct pool_slot {
	struct pool *pool;
	int index;
	struct pool_job *job;           /* the chunk it works on: [cur, hi) of job */
	int cur, hi;
	int item;                       /* the item its process runs, -1: none (an initializer) */
	struct pool_job *task_job;      /* the job of that item */
	char worker_name[128];          /* the name its processes take */
	bool named;                     /* worker_name is set (false again when replaced) */
	/* a persistent worker (pool_worker.c): the items of task_job sent to it
	 * and not answered yet, oldest first: flight[head .. head + len) */
	int *flight;
	int flight_head, flight_len, flight_cap;
	int batch;                      /* lines of its last write */
	int channel;                    /* its task socket (the pool thread's), -1: none yet */
	bool channel_eof;               /* the worker closed its end: it is ending */
	bool readable;                  /* epoll said the socket has something */
	bool wants_out;                 /* EPOLLOUT is in its epoll events */
	char *rbuf, *wbuf;              /* result bytes not parsed yet; task bytes not written yet */
	size_t rlen, rcap, wlen, woff, wcap;
	bool init_pending;              /* its initializer line is out */
	bool retire;                    /* maxtasksperchild reached: its socket is to be shut */
	bool retiring;                  /* its socket is shut for writing: it is ending */
	bool busy;                      /* a process of it is queued or running */
	bool claimed;                   /* a request thread waits on its socket (pool_apply_await()):
					 * the pool thread leaves the slot alone */
	bool initialized;
	atomic_bool ended;              /* its process has ended (engine waiter) */
	const volatile uint64_t *progress;      /* its worker's count of tasks returned (mapped), or NULL */
	long answered;                  /* the tasks of this worker answered so far */
	char proc_id[PROC_ID_MAX];
	struct proc_waiter waiter;
	long tasks;
};

struct pool {
	char id[POOL_ID_MAX];
	char *name;
	struct pool *next;
	const struct target *target, *initializer;
	bool persistent;                /* C target (and initializer): long-lived workers, pool_worker.c */
	cJSON *initargs;
	long maxtasksperchild;
	int processes;
	enum pool_state state;
	cJSON *error;                   /* the initializer's failure, NULL: none */
	struct pool_slot *slots;
	struct pool_job *jobs, *jobs_tail;
	struct pool_job *open;          /* a hint, see pool_open_jobs() */
	int jobs_count;
	long done, failed;
	struct waitq joiners;
};

void pool_lock(void);
void pool_unlock(void);
/* The pool thread looks at every pool again (any thread, lock or not). */
void pool_kick(void);
struct pool *pool_find(const char *id);
/* The oldest job of p that may be running, NULL: none. Every job before it
 * has ended (an ended job never runs again), so a look for work starts there
 * rather than at the POOL_JOBS_KEPT ended jobs kept for reading. Lock held. */
struct pool_job *pool_open_jobs(struct pool *p);
struct pool *pool_first(void);
/* Items of every pool not yet done. */
long pool_items_pending(void);
void pool_new_id(char id[POOL_ID_MAX], int64_t ms);
bool pool_shutting_down(void);
/* Frees pool id once it is closed or terminated and joined (every job and
 * worker ended): 1 (freed, or no such pool), 0 (not yet). Lock held (the
 * pool thread's mapreduce, whose pools go when it ends). */
int pool_drop_joined(const char *id);
/* pool_submit() with the lock held (the pool thread's mapreduce). */
int pool_submit_locked(const char *id, struct pool_job_config *c, char job[POOL_ID_MAX]);

/* mapreduce.c: one step of every mapreduce (a map job ended: its reduce
 * job is submitted; a reduce job ended: the results are in); expired waits.
 * The earliest waiter deadline, 0: none. Lock held. */
int64_t mapreduce_pass(int64_t now);
void mapreduce_wake_all(void);
void mapreduce_release(void);

/* pool_job.c */
struct pool_job *pool_job_find(struct pool *p, const char *job);
/* Item `index` of job has its result (taken over), or failed with it. */
void pool_job_result(struct pool_job *j, int index, cJSON *result, bool failed);
/* pool_job_result() of n integer results at once (items: their indexes):
 * one wake-up and one end check for them all. */
void pool_job_ints(struct pool_job *j, const int *items, const int64_t *values, int n);
/* Ends j (state) and drops its work left: results of items never run become errors. */
void pool_job_end(struct pool_job *j, enum job_state state);
void pool_job_free(struct pool_job *j);
/* A number node for one of j's results, from one array per job (a malloc
 * per result was 5% of a map's CPU); cJSON_CreateNumber() once it is used
 * up. Free it with pool_result_free() only. NULL: out of memory. */
cJSON *pool_job_number(struct pool_job *j, double v);
/* Frees a result of j, a pool_job_number() node or not. */
void pool_result_free(const struct pool_job *j, cJSON *result);
/* Item index's canonical args as a new tree (the caller frees it), NULL: out of memory. */
cJSON *pool_job_item(const struct pool_job *j, int index);
/* A copy of a result to reply with: an integer as raw digits (printed as
 * they are), anything else duplicated. */
cJSON *pool_result_copy(const cJSON *result);
cJSON *pool_error_json(const char *code, const char *message, const cJSON *exitcode);
/* Wakes the pool's joiners whose condition now holds, and expired waiters. */
void pool_wake_waiters(struct pool *p, int64_t now);
/* Wakes every waiter of p (it is going away). */
void pool_wake_all(struct pool *p);
bool pool_joined(const struct pool *p);
int64_t pool_next_deadline(struct pool *p);

/* pool_run.c */
/* The engine waiter's callback: marks the slot ended (woken) and kicks the thread. */
void pool_slot_woken(struct proc_waiter *w);
/* Starts target t with canonical args in s (a task, or a persistent worker).
 * 0 or -errno (-EAGAIN, -EBUSY: the engine's limits). Lock held. */
int pool_spawn_in(struct pool_slot *s, const struct target *t, const cJSON *canonical, const char *name);
/* The next item for s: of its chunk, else a retry, else a new chunk of the
 * oldest job with work left; NULL: none. */
struct pool_job *pool_next_item(struct pool_slot *s, int *item);
bool pool_has_work(const struct pool_slot *s);
/* Gives s a new worker name unless it has one. */
void pool_name_worker(struct pool_slot *s);
/* The failure of an ended process's record as an error value, NULL if it exited 0. */
cJSON *pool_failure_of(const cJSON *rec);
/* The initializer of s ended (failure NULL: it succeeded; consumed). */
void pool_initializer_ended(struct pool_slot *s, cJSON *failure);
/* s's task ended: failed (failure) or with result (both consumed); retried or stored. */
void pool_task_done(struct pool_slot *s, cJSON *failure, cJSON *result);
/* n tasks of s's task job ended with the integer results values (the
 * items' indexes in items), none failed: pool_task_done() for a batch, for
 * a pool without maxtasksperchild. */
void pool_tasks_ints(struct pool_slot *s, const int *items, const int64_t *values, int n);
/* Sends SIGTERM to every running process of p's slots. */
void pool_run_terminate(struct pool *p);
int pool_run_start(void);
void pool_run_stop(void);

/* pool_run.c: the pool thread will look at the pools by deadline (0: none)
 * anyway, so a waiter armed with it needs no kick. Lock held. */
bool pool_run_wakes_before(int64_t deadline);

/* pool_run.c: the pool thread's epoll set, for the workers' sockets. events
 * 0: leave it. 0 or -errno. */
int pool_run_watch(struct pool_slot *s, int op, unsigned events);

/* pool_worker.c: slots of a persistent pool (their life; tasks out in
 * pool_worker_send.c, answers in in pool_worker_read.c) */
#define POOL_PROGRESS_PAGE 4096         /* the worker's progress page (forkserver/pool_worker.c) */
/* Its socket is readable or writable (epoll), or its worker ended (s->ended). */
void pool_worker_event(struct pool_slot *s);
/* Frees what s holds (pool_free). */
void pool_worker_release(struct pool_slot *s);
/* Starts a worker, sends the next line, or retires an idle worker. false:
 * the engine refused a spawn (try later). */
bool pool_worker_feed(struct pool_slot *s);
/* Sends the pool's work to its idle started workers (a submit, on its
 * thread). true: none is left for the pool thread (no kick needed). */
bool pool_worker_dispatch(struct pool *p);
/* Its socket is shut for writing: the worker ends once it has answered. */
void pool_worker_retire(struct pool_slot *s);
/* The oldest task out, taken off (one more answered). */
int pool_worker_flight_pop(struct pool_slot *s);
/* Grows *buf (capacity *cap) to hold need bytes. false: out of memory. */
bool pool_worker_reserve(char **buf, size_t *cap, size_t need);
/* Writes what is queued, as far as the socket takes it. */
void pool_worker_flush(struct pool_slot *s);
/* Sends msg (consumed) as one line. 0 or -errno. */
int pool_worker_send_line(struct pool_slot *s, cJSON *msg);
/* Sends s the next tasks (see pool_worker_send.c). */
void pool_worker_send_tasks(struct pool_slot *s);
/* Takes every answer the socket has (until EAGAIN, or its end). */
void pool_worker_read(struct pool_slot *s);

#endif
