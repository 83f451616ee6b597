/* pool — the pools (pool.h): the list of them, their lifecycle (create,
 * close, terminate, remove), jobs entering them, and a pool as API.md's Pool.
 *
 * Pools live in memory only: a pool is a set of running workers and the jobs
 * fed to them, and neither survives spawnd (their processes' records do, in
 * the store, with their "pool" field). Why one lock for every pool: a pool's
 * state changes a few times per task, the pool thread is the only one doing
 * work under it, and handlers hold it only to copy out JSON.
 */
#define _GNU_SOURCE
#include "engine/pool_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ts.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool *pools;
static long pools_made;
static bool shutting_down;

void pool_lock(void) { pthread_mutex_lock(&lock); }
void pool_unlock(void) { pthread_mutex_unlock(&lock); }
struct pool *pool_first(void) { return pools; }

struct pool *pool_find(const char *id)
{
	for (struct pool *p = pools; p; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

/* Like process ids: creation time, then a counter, as hex, so they sort by age. */
void pool_new_id(char id[POOL_ID_MAX], int64_t ms)
{
	static unsigned counter;
	snprintf(id, POOL_ID_MAX, "%011llx%05x", (unsigned long long)ms, ++counter & 0xfffff);
}

long pool_items_pending(void)
{
	long n = 0;
	for (struct pool *p = pools; p; p = p->next)
		for (struct pool_job *j = p->jobs; j; j = j->next)
			if (j->state == JOB_RUNNING)
				n += j->total - j->done;
	return n;
}

int pool_init(void) { return pool_run_start(); }

void pool_shutdown(void)
{
	pool_lock();
	shutting_down = true;
	for (struct pool *p = pools; p; p = p->next) {
		p->state = POOL_TERMINATED;
		for (struct pool_job *j = p->jobs; j; j = j->next)
			pool_job_end(j, JOB_TERMINATED);
		pool_run_terminate(p);
		pool_wake_waiters(p, 0);
	}
	pool_unlock();
	pool_run_stop();
	/* No thread expires waits now: every waiter is answered (pool_wait arms no more). */
	pool_lock();
	for (struct pool *p = pools; p; p = p->next)
		pool_wake_all(p);
	mapreduce_wake_all();
	pool_unlock();
}

bool pool_shutting_down(void) { return shutting_down; }

static void pool_free(struct pool *p);

void pool_release(void)
{
	pool_lock();
	while (pools) {
		struct pool *p = pools;
		pools = p->next;
		pool_free(p);
	}
	mapreduce_release();
	pool_unlock();
}

static void pool_free(struct pool *p)
{
	struct pool_job *j = p->jobs;
	while (j) {
		struct pool_job *next = j->next;
		pool_job_free(j);
		j = next;
	}
	cJSON_Delete(p->initargs);
	cJSON_Delete(p->error);
	for (int i = 0; p->slots && i < p->processes; i++)
		pool_worker_release(&p->slots[i]);
	free(p->slots);
	free(p->name);
	free(p);
}

int pool_create(const struct pool_config *c, char id[POOL_ID_MAX])
{
	struct pool *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->target = c->target;
	p->initializer = c->initializer;
	p->persistent = c->target->kind != TARGET_EXEC && (!c->initializer || c->initializer->kind != TARGET_EXEC);
	p->maxtasksperchild = c->maxtasksperchild;
	p->processes = c->processes;
	p->slots = calloc((size_t)c->processes, sizeof *p->slots);
	p->initargs = c->initargs ? cJSON_Duplicate(c->initargs, true) : NULL;
	pool_lock();
	pool_new_id(p->id, ts_wall_ms());
	if (c->name)
		p->name = strdup(c->name);
	else if (asprintf(&p->name, "Pool-%ld", pools_made + 1) < 0)
		p->name = NULL;
	if (!p->slots || !p->name || (c->initargs && !p->initargs) || shutting_down) {
		int r = shutting_down ? -ESHUTDOWN : -ENOMEM;
		pool_unlock();
		pool_free(p);
		return r;
	}
	pools_made++;
	for (int i = 0; i < p->processes; i++) {
		p->slots[i].pool = p;
		p->slots[i].index = i;
		p->slots[i].item = -1;
		p->slots[i].channel = -1;
	}
	p->next = pools;
	pools = p;
	snprintf(id, POOL_ID_MAX, "%s", p->id);
	pool_unlock();
	return 0;
}

const struct target *pool_target(const char *id)
{
	pool_lock();
	struct pool *p = pool_find(id);
	const struct target *t = p ? p->target : NULL;
	pool_unlock();
	return t;
}

static const char *const state_names[] = { "running", "closed", "terminated" };

/* Lock held. */
static cJSON *render(const struct pool *p)
{
	long queued = 0, running = 0;
	cJSON *o = cJSON_CreateObject(), *workers = cJSON_CreateArray(), *tasks = cJSON_CreateObject();
	for (const struct pool_job *j = p->jobs; j; j = j->next) {
		if (j->state != JOB_RUNNING)
			continue;
		queued += j->total - j->done - j->running;
		running += j->running;
	}
	for (int i = 0; i < p->processes; i++)
		if (p->slots[i].busy)
			cJSON_AddItemToArray(workers, cJSON_CreateString(p->slots[i].proc_id));
	cJSON_AddStringToObject(o, "id", p->id);
	cJSON_AddStringToObject(o, "name", p->name);
	cJSON_AddStringToObject(o, "target", p->target->name);
	cJSON_AddNumberToObject(o, "processes", p->processes);
	if (p->initializer)
		cJSON_AddStringToObject(o, "initializer", p->initializer->name);
	else
		cJSON_AddNullToObject(o, "initializer");
	if (p->maxtasksperchild > 0)
		cJSON_AddNumberToObject(o, "maxtasksperchild", (double)p->maxtasksperchild);
	else
		cJSON_AddNullToObject(o, "maxtasksperchild");
	cJSON_AddStringToObject(o, "state", state_names[p->state]);
	cJSON_AddItemToObject(o, "workers", workers);
	cJSON_AddNumberToObject(tasks, "queued", (double)queued);
	cJSON_AddNumberToObject(tasks, "running", (double)running);
	cJSON_AddNumberToObject(tasks, "done", (double)p->done);
	cJSON_AddNumberToObject(tasks, "failed", (double)p->failed);
	cJSON_AddItemToObject(o, "tasks", tasks);
	cJSON_AddItemToObject(o, "error", p->error ? cJSON_Duplicate(p->error, true) : cJSON_CreateNull());
	return o;
}

cJSON *pool_get_json(const char *id)
{
	pool_lock();
	struct pool *p = pool_find(id);
	cJSON *j = p ? render(p) : NULL;
	pool_unlock();
	return j;
}

cJSON *pool_list_json(void)
{
	cJSON *o = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(o, "pools");
	pool_lock();
	for (struct pool *p = pools; p; p = p->next)
		cJSON_AddItemToArray(list, render(p));
	pool_unlock();
	return o;
}

int pool_close(const char *id)
{
	pool_lock();
	struct pool *p = pool_find(id);
	if (p && p->state == POOL_RUNNING)
		p->state = POOL_CLOSED;
	if (p)
		pool_wake_waiters(p, 0);
	pool_unlock();
	pool_kick();
	return p ? 0 : -ENOENT;
}

int pool_terminate(const char *id)
{
	pool_lock();
	struct pool *p = pool_find(id);
	if (p) {
		p->state = POOL_TERMINATED;
		for (struct pool_job *j = p->jobs; j; j = j->next)
			pool_job_end(j, JOB_TERMINATED);
		pool_run_terminate(p);
		pool_wake_waiters(p, 0);
	}
	pool_unlock();
	pool_kick();
	return p ? 0 : -ENOENT;
}

int pool_remove(const char *id, cJSON **final)
{
	pool_lock();
	struct pool **pp = &pools;
	while (*pp && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	struct pool *p = *pp;
	int r = !p ? -ENOENT : p->state != POOL_TERMINATED ? -EBUSY : pool_joined(p) ? 1 : 0;
	if (r == 1) {
		*final = render(p);
		*pp = p->next;
		pool_wake_all(p);
		pool_free(p);
	}
	pool_unlock();
	return r;
}

int pool_drop_joined(const char *id)
{
	struct pool **pp = &pools;
	while (*pp && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	struct pool *p = *pp;
	if (!p)
		return 1;
	if (p->state == POOL_RUNNING || !pool_joined(p))
		return 0;
	*pp = p->next;
	pool_wake_all(p);
	pool_free(p);
	return 1;
}

struct pool_job *pool_open_jobs(struct pool *p)
{
	while (p->open && p->open->state != JOB_RUNNING)
		p->open = p->open->next;
	return p->open;
}

/* Drops the oldest ended jobs past POOL_JOBS_KEPT. Lock held. */
static void trim_jobs(struct pool *p)
{
	struct pool_job **jp = &p->jobs, *prev = NULL;
	while (p->jobs_count > POOL_JOBS_KEPT && *jp) {
		struct pool_job *j = *jp;
		if (j->state == JOB_RUNNING || !waitq_empty(&j->waiters)) {
			prev = j;
			jp = &j->next;
			continue;
		}
		*jp = j->next;
		if (j->next)
			j->next->prev = prev;
		if (p->jobs_tail == j)
			p->jobs_tail = prev;
		if (p->open == j)
			p->open = j->next;
		pool_job_free(j);
		p->jobs_count--;
	}
}

int pool_submit_locked(const char *id, struct pool_job_config *c, char job[POOL_ID_MAX])
{
	int n = c->items ? cJSON_GetArraySize(c->items) : c->nints;
	struct pool_job *j = calloc(1, sizeof *j);
	if (j) {
		j->items = c->items;
		j->ints = c->ints;
		j->int_key = c->int_key;
		j->results = calloc((size_t)n + 1, sizeof *j->results);
		j->attempts = calloc((size_t)n + 1, sizeof *j->attempts);
		j->order = calloc((size_t)n + 1, sizeof *j->order);
		j->failed_order = calloc((size_t)n + 1, sizeof *j->failed_order);
		j->retry = calloc((size_t)n + 1, sizeof *j->retry);
		j->item_at = c->items ? calloc((size_t)n + 1, sizeof *j->item_at) : NULL;
		int i = 0;
		for (cJSON *it = j->item_at ? c->items->child : NULL; it; it = it->next)
			j->item_at[i++] = it;
	} else {
		cJSON_Delete(c->items);
		free(c->ints);
	}
	if (!j || !j->results || !j->attempts || !j->order || !j->failed_order || !j->retry ||
	    !(j->item_at || (!c->items && j->ints))) {
		if (j)
			pool_job_free(j);
		return -ENOMEM;
	}
	j->total = n;
	j->ordered = c->ordered;
	j->fail_fast = c->fail_fast;
	j->retries = c->retries;
	struct pool *p = pool_find(id);
	int r = !p ? -ENOENT : p->state != POOL_RUNNING ? -EPIPE : pool_items_pending() + n > POOL_QUEUED_MAX ? -EAGAIN : 0;
	if (r < 0) {
		pool_job_free(j);
		return r;
	}
	int per = n / (p->processes * 4);
	j->chunksize = c->chunksize > 0 ? c->chunksize : per > 0 ? per : 1;
	j->pool = p;
	pool_new_id(j->id, ts_wall_ms());
	j->prev = p->jobs_tail;
	if (!pool_open_jobs(p))
		p->open = j;
	if (p->jobs_tail)
		p->jobs_tail->next = j;
	else
		p->jobs = j;
	p->jobs_tail = j;
	p->jobs_count++;
	if (p->error)                   /* its initializer fails: no task can run */
		pool_job_end(j, JOB_FAILED);
	else if (n == 0)
		pool_job_end(j, JOB_DONE);
	trim_jobs(p);
	snprintf(job, POOL_ID_MAX, "%s", j->id);
	return 0;
}

int pool_submit(const char *id, struct pool_job_config *c, char job[POOL_ID_MAX])
{
	pool_lock();
	int r = pool_submit_locked(id, c, job);
	struct pool *p = r == 0 ? pool_find(id) : NULL;
	bool sent = p && pool_worker_dispatch(p);       /* to an idle worker, without the pool thread */
	pool_unlock();
	if (!sent)
		pool_kick();
	return r;
}
