/* pool — process pools over the process engine (multiprocessing.Pool): a pool
 * of `processes` worker slots that run the tasks of its jobs (a map, an
 * apply) as spawnd processes of one target, and collect each task's result.
 *
 * Work distribution: a slot that finishes a task takes the next one of its
 * chunk, and a slot whose chunk is done pulls the next chunk of the oldest
 * job with work left (no assignment up front, so a slow task never leaves
 * work queued behind it while other slots idle).
 *
 * A task's result is the JSON value its target returns: its stdout parsed as
 * JSON when the target declares "returns": "json", else its stdout text. A
 * task that fails (non-zero exit, signal, timeout, its worker dying, a spawn
 * error) becomes {"error": {"code", "message", "exitcode"}} in its place, or
 * is run again up to the job's `retries`; a job with fail_fast ends at its
 * first failure.
 *
 * Threads: every function is thread-safe (one pool lock). Waiter callbacks
 * (pool_wait) run with the pool lock held: they may only wake something
 * (http_wake), never call back into this module.
 * Ownership: cJSON values returned belong to the caller; everything passed
 * in is copied unless said otherwise.
 */
#ifndef SPAWND_POOL_H
#define SPAWND_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "engine/waitq.h"
#include "targets/target.h"

#define POOL_ID_MAX 32
#define POOL_PROCESSES_MAX 256
#define POOL_ITEMS_MAX 1000000          /* items in one map */
#define POOL_QUEUED_MAX 4000000         /* items not yet done, over every pool: then -EAGAIN */
#define POOL_JOBS_KEPT 1000             /* ended jobs a pool keeps for reading, oldest dropped */
#define POOL_JOBS_LISTED 100            /* jobs in pool_jobs_json(), the newest */
#define POOL_FAILURES_LISTED 20         /* failed items shown with each of them */

struct pool_config {
	const struct target *target;
	int processes;                  /* 1..POOL_PROCESSES_MAX */
	const struct target *initializer;       /* NULL: none */
	const cJSON *initargs;          /* its canonical args (validated), or NULL */
	long maxtasksperchild;          /* 0: no limit */
	const char *name;               /* NULL: Pool-N */
};

/* A job: a map (items: an array of canonical args, consumed) or an apply (one item). */
struct pool_job_config {
	cJSON *items;                   /* taken over by pool_submit, even on error */
	/* Or, the usual map (items NULL): nints bare integers for a target of one
	 * integer argument named int_key (a string that outlives the pool, the
	 * target's own), each item being {int_key: ints[i]}, without a cJSON
	 * node per item. ints is taken over by pool_submit, even on error. */
	int64_t *ints;
	int nints;
	const char *int_key;
	int chunksize;                  /* 0: the heuristic, items / (processes * 4), at least 1 */
	bool ordered;                   /* results streamed in input order (imap) or as done */
	bool fail_fast;                 /* ?on_error=fail */
	int retries;                    /* times a failed task is run again */
};

/* Starts the pool thread. 0 or -errno. pool_shutdown() terminates every pool
 * and stops it (before proc_shutdown()). */
int pool_init(void);
void pool_shutdown(void);
/* Frees every pool, after proc_shutdown() (no waiter of theirs is armed then). */
void pool_release(void);

/* 0 and the id, -ENOMEM, -ESHUTDOWN. */
int pool_create(const struct pool_config *c, char id[POOL_ID_MAX]);
/* API.md's Pool, or NULL when there is no such pool. */
cJSON *pool_get_json(const char *id);
/* {"pools": [...]} */
cJSON *pool_list_json(void);
/* The pool's target (for validating a job's items), or NULL. */
const struct target *pool_target(const char *id);
/* close(): no new jobs. terminate(): also ends every worker; every job not
 * done ends "terminated". 0, -ENOENT. */
int pool_close(const char *id);
int pool_terminate(const char *id);
/* Removes a terminated pool whose workers have all ended: 1 (removed, its
 * final JSON in *final), 0 (workers still running: wait and call again),
 * -ENOENT, -EBUSY (not terminated). */
int pool_remove(const char *id, cJSON **final);

/* Queues a job. 0 and its id, -ENOENT, -EPIPE (closed or terminated),
 * -EAGAIN (POOL_QUEUED_MAX), -ENOMEM. */
int pool_submit(const char *id, struct pool_job_config *c, char job[POOL_ID_MAX]);

enum pool_job_flags {
	POOL_JOB_RESULTS = 1 << 0,
	POOL_JOB_RESULTS_RAW = 1 << 1,  /* results as one raw item (a reply's text), not a tree */
};
/* {"job", "pool", "state", "total", "done", "failed", "results"?}, NULL: no
 * such job (or out of memory, with POOL_JOB_RESULTS_RAW). */
cJSON *pool_job_json(const char *id, const char *job, unsigned flags);
/* The same with POOL_JOB_RESULTS_RAW as the reply's text (malloc'd, len bytes
 * and a newline, NUL-terminated), built in one buffer: the results of a big
 * map are not copied again into a tree and out of it. NULL: no such job, or
 * it is running (*running), or out of memory. */
char *pool_job_text(const char *id, const char *job, size_t *len, bool *running);
/* {"jobs": [...]}: the newest POOL_JOBS_LISTED jobs of the pool, newest first,
 * each a Job without results plus "failures": [{"index", "item", "error"}],
 * its first POOL_FAILURES_LISTED failed items. NULL: no such pool. */
cJSON *pool_jobs_json(const char *id);
/* The results streamed by a follow from position `after` (a count of results
 * already sent): appends {"index", "result"} objects to out, at most max of
 * those ready in the job's order (input order if ordered, else completion order).
 * Returns the new position; *ended when the job has ended and every result
 * is out. -ENOENT (no such job). */
long pool_job_results(const char *id, const char *job, long after, long max, cJSON *out, bool *ended);

/* An apply just submitted (job of pool id): while its one task runs alone
 * on a persistent worker, waits a moment (about 1 ms at most) on this thread
 * for its answer instead of through the pool thread. 1: the job has ended,
 * 0: not yet (wait as usual), -ENOENT. */
int pool_apply_await(const char *id, const char *job);

/* What a waiter waits for. */
enum pool_wait_kind {
	POOL_WAIT_JOB,          /* the job has ended (or `after` results are ready, with a follow) */
	POOL_WAIT_JOIN,         /* every job of the pool has ended and every worker too */
};
/* Arms w (its fn gets it back) until the condition holds, a result past
 * `after` is ready (POOL_WAIT_JOB with after >= 0), or timeout_s passes.
 * 1 if it holds already (nothing armed), 0 armed, -ENOENT. */
int pool_wait(const char *id, const char *job, enum pool_wait_kind kind, long after, double timeout_s,
	      struct waitq_entry *w, void (*fn)(struct waitq_entry *w));
void pool_wait_cancel(struct waitq_entry *w);

#endif
