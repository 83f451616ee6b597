/* mapreduce — see mapreduce.h. A mapreduce is driven by the pool thread
 * (mapreduce_pass(), from pool_run.c's pass over the pools): the map job's
 * end is seen there, the pairs grouped and the reduce job submitted under
 * the same pool lock, so no client needs to be connected for a job to go on.
 * Grouping sorts pointers to the pairs (no copy) and copies each group's
 * values once, into the reduce item.
 *
 * Its two pools are its own: once it ends they are closed, and freed (no
 * longer listed in GET /pools) as soon as their workers have ended; the
 * mapreduce keeps its jobs' final counts to describe itself.
 */
#define _GNU_SOURCE
#include "engine/mapreduce.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pool_internal.h"
#include "lib/ts.h"
#include "targets/args.h"

enum mr_phase { MR_MAP, MR_REDUCE, MR_DONE, MR_FAILED };

struct mapreduce {
	char id[POOL_ID_MAX];
	struct mapreduce *next;
	const struct target *reduce;
	char map_pool[POOL_ID_MAX], reduce_pool[POOL_ID_MAX];
	char map_job[POOL_ID_MAX], reduce_job[POOL_ID_MAX];
	enum mr_phase phase;
	cJSON *keys;                    /* the reduce items' keys, in order */
	cJSON *results;                 /* [[key, result]...] once done */
	cJSON *map_final, *reduce_final;        /* the jobs' counts, once it has ended (its pools go) */
	char error[256];
	struct waitq waiters;
};

static struct mapreduce *jobs;

static struct mapreduce *find(const char *id)
{
	for (struct mapreduce *m = jobs; m; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

int mapreduce_start(struct mapreduce_config *c, char id[POOL_ID_MAX])
{
	struct mapreduce *m = calloc(1, sizeof *m);
	char name[64];
	if (!m) {
		cJSON_Delete(c->inputs);
		return -ENOMEM;
	}
	pool_lock();
	pool_new_id(m->id, ts_wall_ms());
	pool_unlock();
	m->reduce = c->reduce;
	snprintf(name, sizeof name, "%s-map", m->id);
	int r = pool_create(&(struct pool_config){ .target = c->map, .processes = c->processes, .name = name },
			    m->map_pool);
	snprintf(name, sizeof name, "%s-reduce", m->id);
	if (r == 0)
		r = pool_create(&(struct pool_config){ .target = c->reduce, .processes = c->processes, .name = name },
				m->reduce_pool);
	struct pool_job_config jc = { .items = c->inputs, .chunksize = c->chunksize, .ordered = true };
	if (r == 0)
		r = pool_submit(m->map_pool, &jc, m->map_job);
	else
		cJSON_Delete(c->inputs);
	if (r < 0) {
		if (m->map_pool[0])
			pool_terminate(m->map_pool);
		if (m->reduce_pool[0])
			pool_terminate(m->reduce_pool);
		free(m);
		return r;
	}
	pool_lock();
	m->next = jobs;
	jobs = m;
	snprintf(id, POOL_ID_MAX, "%s", m->id);
	pool_unlock();
	pool_kick();
	return 0;
}

/* Numbers before strings; numbers by value, strings bytewise. */
static int compare_keys(const void *a, const void *b)
{
	const cJSON *x = (*(const cJSON *const *)a)->child, *y = (*(const cJSON *const *)b)->child;
	if (cJSON_IsNumber(x) != cJSON_IsNumber(y))
		return cJSON_IsNumber(x) ? -1 : 1;
	if (cJSON_IsNumber(x))
		return x->valuedouble < y->valuedouble ? -1 : x->valuedouble > y->valuedouble;
	return strcmp(x->valuestring, y->valuestring);
}

static bool is_pair(const cJSON *p)
{
	return cJSON_GetArraySize(p) == 2 && (cJSON_IsString(p->child) || cJSON_IsNumber(p->child));
}

/* The map job's pairs, grouped into reduce items ([key, value...],
 * validated against the reduce target). NULL with m->error on failure. */
static cJSON *group(struct mapreduce *m, struct pool_job *j)
{
	size_t n = 0, used = 0;
	for (int i = 0; i < j->total; i++)
		n += (size_t)cJSON_GetArraySize(j->results[i]);
	const cJSON **pairs = malloc((n + 1) * sizeof *pairs);
	cJSON *items = cJSON_CreateArray();
	m->keys = cJSON_CreateArray();
	for (int i = 0; pairs && i < j->total; i++) {
		const cJSON *list = j->results[i], *p;
		bool ok = cJSON_IsArray(list);
		cJSON_ArrayForEach(p, list)
			ok = ok && is_pair(p);
		if (!ok) {              /* a failed task, or not a list of pairs: left out */
			j->failed += cJSON_IsObject(list) && cJSON_GetObjectItemCaseSensitive(list, "error") ? 0 : 1;
			continue;
		}
		cJSON_ArrayForEach(p, list)
			pairs[used++] = p;
	}
	if (pairs)
		qsort(pairs, used, sizeof *pairs, compare_keys);
	for (size_t i = 0; pairs && items && i < used;) {
		cJSON *item = cJSON_CreateArray(), *canonical = NULL, *details = NULL;
		cJSON_AddItemToArray(item, cJSON_Duplicate(pairs[i]->child, true));
		cJSON_AddItemToArray(m->keys, cJSON_Duplicate(pairs[i]->child, true));
		size_t k = i;
		for (; k < used && compare_keys(&pairs[i], &pairs[k]) == 0; k++)
			cJSON_AddItemToArray(item, cJSON_Duplicate(pairs[k]->child->next, true));
		i = k;
		int r = target_validate(m->reduce, item, &canonical, &details);
		cJSON_Delete(item);
		if (r < 0) {
			const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				cJSON_GetArrayItem(details, 0), "message"));
			snprintf(m->error, sizeof m->error, "the reduce target refuses the values of a key: %s",
				 why ? why : "out of memory");
			cJSON_Delete(details);
			cJSON_Delete(items);
			items = NULL;
			break;
		}
		cJSON_AddItemToArray(items, canonical);
	}
	free(pairs);
	return items;
}

static struct pool_job *job_of(const char *pool, const char *job)
{
	struct pool *p = pool_find(pool);
	return p ? pool_job_find(p, job) : NULL;
}

/* A job's counts, or null (none yet). Lock held. */
static cJSON *progress(const char *pool, const char *job)
{
	struct pool_job *j = job[0] ? job_of(pool, job) : NULL;
	if (!j)
		return cJSON_CreateNull();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "total", j->total);
	cJSON_AddNumberToObject(o, "done", j->done);
	cJSON_AddNumberToObject(o, "failed", j->failed);
	return o;
}

/* An ended mapreduce's pools, freed once their workers are gone. Lock held. */
static void drop_pools(struct mapreduce *m)
{
	if (m->map_pool[0] && pool_drop_joined(m->map_pool))
		m->map_pool[0] = '\0';
	if (m->reduce_pool[0] && pool_drop_joined(m->reduce_pool))
		m->reduce_pool[0] = '\0';
}

/* Lock held. */
static void end(struct mapreduce *m, enum mr_phase phase)
{
	struct waitq_batch b = { NULL, NULL };
	m->phase = phase;
	struct pool *p = pool_find(m->map_pool), *q = pool_find(m->reduce_pool);
	if (p && p->state == POOL_RUNNING)
		p->state = POOL_CLOSED;
	if (q && q->state == POOL_RUNNING)
		q->state = POOL_CLOSED;
	m->map_final = progress(m->map_pool, m->map_job);
	m->reduce_final = progress(m->reduce_pool, m->reduce_job);
	waitq_wake(&m->waiters, SIZE_MAX, &b);
	waitq_fire(&b);
}

/* Lock held. */
static void step(struct mapreduce *m)
{
	struct pool_job *j = m->phase == MR_MAP ? job_of(m->map_pool, m->map_job)
		: m->phase == MR_REDUCE ? job_of(m->reduce_pool, m->reduce_job) : NULL;
	if (m->phase >= MR_DONE || (j && j->state == JOB_RUNNING))
		return;
	if (!j || j->state != JOB_DONE) {
		snprintf(m->error, sizeof m->error, "its %s job %s", m->phase == MR_MAP ? "map" : "reduce",
			 j ? "ended before it was done (terminated)" : "is gone");
		end(m, MR_FAILED);
		return;
	}
	if (m->phase == MR_MAP) {
		struct pool_job_config c = { .items = group(m, j), .ordered = true };
		if (!c.items || pool_submit_locked(m->reduce_pool, &c, m->reduce_job) < 0) {
			if (!m->error[0])
				snprintf(m->error, sizeof m->error, "its reduce job could not be queued");
			end(m, MR_FAILED);
			return;
		}
		m->phase = MR_REDUCE;
		pool_kick();
		return;
	}
	m->results = cJSON_CreateArray();
	for (int i = 0; i < j->total; i++) {
		cJSON *pair = cJSON_CreateArray();
		cJSON_AddItemToArray(pair, cJSON_Duplicate(cJSON_GetArrayItem(m->keys, i), true));
		cJSON_AddItemToArray(pair, cJSON_Duplicate(j->results[i], true));
		cJSON_AddItemToArray(m->results, pair);
	}
	end(m, MR_DONE);
}

int64_t mapreduce_pass(int64_t now)
{
	struct waitq_batch b = { NULL, NULL };
	int64_t next = 0;
	for (struct mapreduce *m = jobs; m; m = m->next) {
		step(m);
		if (m->phase >= MR_DONE)
			drop_pools(m);
		int64_t d = waitq_expire(&m->waiters, now, &b);
		if (d && (!next || d < next))
			next = d;
	}
	waitq_fire(&b);
	return next;
}

void mapreduce_wake_all(void)
{
	struct waitq_batch b = { NULL, NULL };
	for (struct mapreduce *m = jobs; m; m = m->next)
		waitq_wake(&m->waiters, SIZE_MAX, &b);
	waitq_fire(&b);
}

void mapreduce_release(void)
{
	while (jobs) {
		struct mapreduce *m = jobs;
		jobs = m->next;
		cJSON_Delete(m->keys);
		cJSON_Delete(m->results);
		cJSON_Delete(m->map_final);
		cJSON_Delete(m->reduce_final);
		free(m);
	}
}

cJSON *mapreduce_json(const char *id)
{
	static const char *const phases[] = { "map", "reduce", "done", "failed" };
	pool_lock();
	struct mapreduce *m = find(id);
	cJSON *o = m ? cJSON_CreateObject() : NULL;
	if (o) {
		cJSON_AddStringToObject(o, "job", m->id);
		cJSON_AddStringToObject(o, "state", m->phase == MR_DONE ? "done" : m->phase == MR_FAILED ? "failed"
									       : "running");
		cJSON_AddStringToObject(o, "phase", phases[m->phase]);
		bool ended = m->phase >= MR_DONE;
		cJSON_AddItemToObject(o, "map", ended ? cJSON_Duplicate(m->map_final, true) : progress(m->map_pool, m->map_job));
		cJSON_AddItemToObject(o, "reduce", ended ? cJSON_Duplicate(m->reduce_final, true)
							 : progress(m->reduce_pool, m->reduce_job));
		if (m->results)
			cJSON_AddItemToObject(o, "results", cJSON_Duplicate(m->results, true));
		if (m->error[0])
			cJSON_AddStringToObject(o, "error", m->error);
		else
			cJSON_AddNullToObject(o, "error");
	}
	pool_unlock();
	return o;
}

int mapreduce_wait(const char *id, double timeout_s, struct waitq_entry *w, void (*fn)(struct waitq_entry *w))
{
	pool_lock();
	struct mapreduce *m = find(id);
	int r = !m ? -ENOENT : m->phase >= MR_DONE || pool_shutting_down() ? 1 : 0;
	if (r == 0)
		waitq_arm(&m->waiters, w, timeout_s < 0 ? 0 : ts_mono_ms() + (int64_t)(timeout_s * 1000) + 1, 0, fn);
	pool_unlock();
	if (r == 0)
		pool_kick();
	return r;
}
