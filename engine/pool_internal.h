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
	struct pool_job *next;          /* the pool's jobs, oldest first */
	enum job_state state;
	int total, done, failed, running;
	int next_index;                 /* the first item no chunk has taken */
	int *retry;                     /* items to run again, a stack */
	int retry_len;
	cJSON *items;                   /* canonical args, one per item */
	cJSON **results;                /* NULL: not done yet */
	int *attempts;
	int *order;                     /* item indexes in completion order */
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
	bool busy;                      /* a process of it is queued or running */
	bool initialized;
	atomic_bool ended;              /* its process has ended (engine waiter) */
	char proc_id[PROC_ID_MAX];
	struct proc_waiter waiter;
	long tasks;
};

struct pool {
	char id[POOL_ID_MAX];
	char *name;
	struct pool *next;
	const struct target *target, *initializer;
	cJSON *initargs;
	long maxtasksperchild;
	int processes;
	enum pool_state state;
	cJSON *error;                   /* the initializer's failure, NULL: none */
	struct pool_slot *slots;
	struct pool_job *jobs, *jobs_tail;
	int jobs_count;
	long done, failed;
	struct waitq joiners;
};

void pool_lock(void);
void pool_unlock(void);
/* The pool thread looks at every pool again (any thread, lock or not). */
void pool_kick(void);
struct pool *pool_find(const char *id);
struct pool *pool_first(void);
/* Items of every pool not yet done. */
long pool_items_pending(void);
void pool_new_id(char id[POOL_ID_MAX], int64_t ms);
bool pool_shutting_down(void);

/* pool_job.c */
struct pool_job *pool_job_find(struct pool *p, const char *job);
/* Item `index` of job has its result (taken over), or failed with it. */
void pool_job_result(struct pool_job *j, int index, cJSON *result, bool failed);
/* Ends j (state) and drops its work left: results of items never run become errors. */
void pool_job_end(struct pool_job *j, enum job_state state);
void pool_job_free(struct pool_job *j);
cJSON *pool_error_json(const char *code, const char *message, const cJSON *exitcode);
/* Wakes the pool's joiners whose condition now holds, and expired waiters. */
void pool_wake_waiters(struct pool *p, int64_t now);
/* Wakes every waiter of p (it is going away). */
void pool_wake_all(struct pool *p);
bool pool_joined(const struct pool *p);
int64_t pool_next_deadline(struct pool *p);

/* pool_run.c */
/* Sends SIGTERM to every running process of p's slots. */
void pool_run_terminate(struct pool *p);
int pool_run_start(void);
void pool_run_stop(void);

#endif
