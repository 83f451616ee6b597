/* pool_job — a pool's jobs: their results as they come in, their end, their
 * JSON, and the waiters on them (a job's end, its next result for a follow
 * stream, a pool's join).
 *
 * A follow stream's position is a count of results sent: in input order
 * (ordered, imap) the results ready are the prefix of items done, in
 * completion order (imap_unordered) the first `order_len` of `order`. So a
 * stream resumed with the position it last saw (Last-Event-ID, ?after=) goes
 * on exactly after it, whichever order it uses.
 */
#include "engine/pool_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lib/number.h"
#include "lib/ts.h"

enum { WAIT_RESULT = 1 << 0 };          /* a follow: also woken by each result */

/* Newest first: a request mostly asks about the job it has just made, and a
 * pool keeps up to POOL_JOBS_KEPT of them. */
struct pool_job *pool_job_find(struct pool *p, const char *job)
{
	for (struct pool_job *j = p->jobs_tail; j; j = j->prev)
		if (strcmp(j->id, job) == 0)
			return j;
	return NULL;
}

cJSON *pool_job_number(struct pool_job *j, double v)
{
	if (!j->numbers && j->total > 0)
		j->numbers = calloc((size_t)j->total, sizeof *j->numbers);
	if (!j->numbers || j->numbers_used >= j->total)
		return cJSON_CreateNumber(v);
	cJSON *n = &j->numbers[j->numbers_used++];
	n->type = cJSON_Number;
	n->valuedouble = v;     /* cJSON_SetNumberHelper()'s fields, set here: it was a call per result */
	n->valueint = v >= INT_MAX ? INT_MAX : v <= (double)INT_MIN ? INT_MIN : (int)v;
	return n;
}

void pool_result_free(const struct pool_job *j, cJSON *result)
{
	if (!(j->numbers && result >= j->numbers && result < j->numbers + j->total))
		cJSON_Delete(result);
}

void pool_job_free(struct pool_job *j)
{
	for (int i = 0; j->results && i < j->total; i++)
		pool_result_free(j, j->results[i]);
	free(j->results);
	free(j->numbers);
	free(j->item_at);
	free(j->ints);
	free(j->attempts);
	free(j->order);
	free(j->failed_order);
	free(j->retry);
	cJSON_Delete(j->items);
	free(j);
}

cJSON *pool_job_item(const struct pool_job *j, int index)
{
	if (j->item_at)
		return cJSON_Duplicate(j->item_at[index], true);
	cJSON *o = cJSON_CreateObject();
	if (o && !cJSON_AddNumberToObject(o, j->int_key, (double)j->ints[index])) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *pool_error_json(const char *code, const char *message, const cJSON *exitcode)
{
	cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	cJSON_AddItemToObject(e, "exitcode", cJSON_IsNumber(exitcode) ? cJSON_CreateNumber(exitcode->valuedouble)
								       : cJSON_CreateNull());
	return o;
}

cJSON *pool_result_copy(const cJSON *result)
{
	int64_t i;
	if (cJSON_IsNumber(result) && number_int64(result->valuedouble, &i)) {
		char text[24];
		number_int64_text(text, i);
		return cJSON_CreateRaw(text);
	}
	return cJSON_Duplicate(result, true);
}

static long ready(const struct pool_job *j) { return j->ordered ? j->prefix : j->order_len; }

static void fire(struct waitq_batch *b) { waitq_fire(b); }

/* Lock held. */
static void store_result(struct pool_job *j, int index, cJSON *result)
{
	j->results[index] = result ? result : pool_error_json("internal", "out of memory", NULL);
	j->order[j->order_len++] = index;
	while (j->prefix < j->total && j->results[j->prefix])
		j->prefix++;
}

void pool_job_end(struct pool_job *j, enum job_state state)
{
	struct waitq_batch b = { NULL, NULL };
	if (j->state != JOB_RUNNING)
		return;
	j->state = state;
	j->retry_len = 0;
	j->next_index = j->total;
	const char *code = state == JOB_TERMINATED ? "terminated" : "not_run";
	const char *why = state == JOB_TERMINATED ? "the pool was terminated before this task ended"
		: j->pool->error ? "the pool's initializer failed" : "the job ended at an earlier task's failure (on_error=fail)";
	for (int i = 0; i < j->total; i++)
		if (!j->results[i])
			store_result(j, i, pool_error_json(code, why, NULL));
	waitq_wake(&j->waiters, SIZE_MAX, &b);
	fire(&b);
}

void pool_job_result(struct pool_job *j, int index, cJSON *result, bool failed)
{
	struct waitq_batch b = { NULL, NULL };
	if (j->state != JOB_RUNNING || j->results[index]) {
		pool_result_free(j, result);
		return;
	}
	store_result(j, index, result);
	j->done++;
	j->pool->done++;
	if (failed) {
		j->failed_order[j->failed] = index;
		j->failed++;
		j->pool->failed++;
	}
	waitq_wake_flagged(&j->waiters, WAIT_RESULT, &b);
	fire(&b);
	if (j->done == j->total)
		pool_job_end(j, JOB_DONE);
	else if (failed && j->fail_fast)
		pool_job_end(j, JOB_FAILED);
}

void pool_job_ints(struct pool_job *j, const int *items, const int64_t *values, int n)
{
	struct waitq_batch b = { NULL, NULL };
	int stored = 0;
	for (int k = 0; j->state == JOB_RUNNING && k < n; k++) {
		int index = items[k];
		if (j->results[index])
			continue;       /* a result already (pool_job_result()'s rule) */
		cJSON *v = pool_job_number(j, (double)values[k]);
		j->results[index] = v ? v : pool_error_json("internal", "out of memory", NULL);
		j->order[j->order_len++] = index;
		stored++;
	}
	if (!stored)
		return;
	while (j->prefix < j->total && j->results[j->prefix])
		j->prefix++;
	j->done += stored;
	j->pool->done += stored;
	waitq_wake_flagged(&j->waiters, WAIT_RESULT, &b);
	fire(&b);
	if (j->done == j->total)
		pool_job_end(j, JOB_DONE);
}

bool pool_joined(const struct pool *p)
{
	if (p->state == POOL_RUNNING)
		return false;
	for (const struct pool_job *j = p->jobs; j; j = j->next)
		if (j->state == JOB_RUNNING)
			return false;
	for (int i = 0; i < p->processes; i++)
		if (p->slots[i].busy)
			return false;
	return true;
}

void pool_wake_waiters(struct pool *p, int64_t now)
{
	struct waitq_batch b = { NULL, NULL };
	if (pool_joined(p))
		waitq_wake(&p->joiners, SIZE_MAX, &b);
	if (now) {
		waitq_expire(&p->joiners, now, &b);
		for (struct pool_job *j = p->jobs; j; j = j->next)
			waitq_expire(&j->waiters, now, &b);
	}
	fire(&b);
}

void pool_wake_all(struct pool *p)
{
	struct waitq_batch b = { NULL, NULL };
	waitq_wake(&p->joiners, SIZE_MAX, &b);
	for (struct pool_job *j = p->jobs; j; j = j->next)
		waitq_wake(&j->waiters, SIZE_MAX, &b);
	fire(&b);
}

static int64_t earliest(const struct waitq *q, int64_t next)
{
	for (const struct waitq_entry *e = q->head; e; e = e->next)
		if (e->deadline_ms && (!next || e->deadline_ms < next))
			next = e->deadline_ms;
	return next;
}

int64_t pool_next_deadline(struct pool *p)
{
	int64_t next = earliest(&p->joiners, 0);
	for (struct pool_job *j = p->jobs; j; j = j->next)
		next = earliest(&j->waiters, next);
	return next;
}

int pool_wait(const char *id, const char *job, enum pool_wait_kind kind, long after, double timeout_s,
	      struct waitq_entry *w, void (*fn)(struct waitq_entry *w))
{
	pool_lock();
	struct pool *p = pool_find(id);
	struct pool_job *j = p && job ? pool_job_find(p, job) : NULL;
	int r;
	bool kick = false;
	if (!p || (kind == POOL_WAIT_JOB && !j))
		r = -ENOENT;
	else if (pool_shutting_down())
		r = 1;
	else if (kind == POOL_WAIT_JOIN)
		r = pool_joined(p);
	else
		r = j->state != JOB_RUNNING || (after >= 0 && ready(j) > after);
	if (r == 0) {
		int64_t deadline = timeout_s < 0 ? 0 : ts_mono_ms() + (int64_t)(timeout_s * 1000) + 1;
		waitq_arm(kind == POOL_WAIT_JOIN ? &p->joiners : &j->waiters, w, deadline,
			  after >= 0 ? WAIT_RESULT : 0, fn);
		kick = !pool_run_wakes_before(deadline);
	}
	pool_unlock();
	if (kick)
		pool_kick();            /* the pool thread sleeps past the new deadline */
	return r;
}

void pool_wait_cancel(struct waitq_entry *w)
{
	pool_lock();
	waitq_cancel(w);
	pool_unlock();
}

static const char *const job_states[] = { "running", "done", "failed", "terminated" };

/* The Job's fields but results. Lock held. */
static cJSON *job_summary(const struct pool *p, const struct pool_job *j)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "job", j->id);
	cJSON_AddStringToObject(o, "pool", p->id);
	cJSON_AddStringToObject(o, "state", job_states[j->state]);
	cJSON_AddNumberToObject(o, "total", j->total);
	cJSON_AddNumberToObject(o, "done", j->done);
	cJSON_AddNumberToObject(o, "failed", j->failed);
	return o;
}

/* Appends j's results as one JSON array to *buf (len bytes of cap):
 * integers printed by hand, anything else through number_print_json(). A
 * tree of 100,000 copies cost more than the map itself. false: out of
 * memory (*buf freed, NULL). Lock held. */
static bool append_results(const struct pool_job *j, char **buf, size_t *len, size_t *cap)
{
	char *text = *buf;
	for (int i = 0; text && i <= j->total; i++) {
		char num[24], *other = NULL;
		const char *piece = num;
		int64_t v;
		size_t n = 0;
		if (i == j->total)
			;               /* the closing bracket only */
		else if (cJSON_IsNumber(j->results[i]) && number_int64(j->results[i]->valuedouble, &v))
			n = number_int64_text(num, v);
		else if ((piece = other = number_print_json(j->results[i])))
			n = strlen(piece);
		else {
			free(text);     /* out of memory: no reply rather than a short one */
			text = NULL;
			break;
		}
		while (text && *len + n + 4 > *cap) {
			char *grown = realloc(text, *cap *= 2);
			if (!grown)
				free(text);
			text = grown;
		}
		if (text && i == j->total) {
			if (j->total == 0)
				text[(*len)++] = '[';
			text[(*len)++] = ']';
		} else if (text) {
			text[(*len)++] = i ? ',' : '[';
			memcpy(text + *len, piece, n);
			*len += n;
		}
		free(other);
	}
	*buf = text;
	return text != NULL;
}

/* j's results as one raw item. NULL: out of memory. Lock held. */
static cJSON *results_raw(const struct pool_job *j)
{
	size_t len = 0, cap = 4096 + (size_t)j->total * 12;     /* a square's digits and comma: no realloc */
	char *text = malloc(cap);
	cJSON *raw = NULL;
	if (text && append_results(j, &text, &len, &cap)) {
		text[len] = '\0';
		raw = cJSON_CreateRaw(text);
	}
	free(text);
	return raw;
}

char *pool_job_text(const char *id, const char *job, size_t *len, bool *running)
{
	pool_lock();
	struct pool *p = pool_find(id);
	struct pool_job *j = p ? pool_job_find(p, job) : NULL;
	*running = j && j->state == JOB_RUNNING;
	cJSON *o = j && !*running ? job_summary(p, j) : NULL;
	char *head = o ? number_print_json(o) : NULL, *text = NULL;
	cJSON_Delete(o);
	size_t hlen = head ? strlen(head) : 0, cap = hlen + 4096 + (size_t)(j ? j->total : 0) * 12;
	if (hlen > 2 && (text = malloc(cap))) {
		memcpy(text, head, hlen - 1);   /* without its closing brace */
		*len = hlen - 1;
		memcpy(text + *len, ",\"results\":", 11);
		*len += 11;
		if (append_results(j, &text, len, &cap)) {
			memcpy(text + *len, "}\n", 3);  /* room was kept: 4 bytes past each piece */
			*len += 2;
		}
	}
	pool_unlock();
	free(head);
	return text;
}

cJSON *pool_job_json(const char *id, const char *job, unsigned flags)
{
	pool_lock();
	struct pool *p = pool_find(id);
	struct pool_job *j = p ? pool_job_find(p, job) : NULL;
	cJSON *o = j ? job_summary(p, j) : NULL;
	if (o && (flags & POOL_JOB_RESULTS_RAW) && j->state != JOB_RUNNING) {
		cJSON *raw = results_raw(j);
		if (!raw || !cJSON_AddItemToObject(o, "results", raw)) {
			cJSON_Delete(raw);
			cJSON_Delete(o);
			o = NULL;
		}
	} else if (o && (flags & POOL_JOB_RESULTS) && j->state != JOB_RUNNING) {
		cJSON *list = cJSON_AddArrayToObject(o, "results");
		for (int i = 0; list && i < j->total; i++)
			cJSON_AddItemToArray(list, pool_result_copy(j->results[i]));
	}
	pool_unlock();
	return o;
}

/* The first POOL_FAILURES_LISTED failed items of j as they failed, while the
 * job runs too (its results are only served once it has ended): a dashboard
 * shows what went wrong without fetching every result. Lock held. */
static void add_failures(cJSON *o, const struct pool_job *j)
{
	cJSON *list = cJSON_AddArrayToObject(o, "failures");
	for (int k = 0; list && k < j->failed && k < POOL_FAILURES_LISTED; k++) {
		int index = j->failed_order[k];
		cJSON *f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "index", index);
		cJSON_AddItemToObject(f, "item", pool_job_item(j, index));
		cJSON_AddItemToObject(f, "error", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(j->results[index], "error"), true));
		cJSON_AddItemToArray(list, f);
	}
}

cJSON *pool_jobs_json(const char *id)
{
	pool_lock();
	struct pool *p = pool_find(id);
	cJSON *o = p ? cJSON_CreateObject() : NULL, *list = o ? cJSON_AddArrayToObject(o, "jobs") : NULL;
	/* The list is oldest first: skip to the newest POOL_JOBS_LISTED, then prepend each. */
	int skip = p && p->jobs_count > POOL_JOBS_LISTED ? p->jobs_count - POOL_JOBS_LISTED : 0;
	for (struct pool_job *j = list ? p->jobs : NULL; j; j = j->next) {
		if (skip-- > 0)
			continue;
		cJSON *s = job_summary(p, j);
		add_failures(s, j);
		cJSON_InsertItemInArray(list, 0, s);
	}
	pool_unlock();
	return o;
}

long pool_job_results(const char *id, const char *job, long after, long max, cJSON *out, bool *ended)
{
	pool_lock();
	struct pool *p = pool_find(id);
	struct pool_job *j = p ? pool_job_find(p, job) : NULL;
	long pos = after;
	if (j) {
		long n = ready(j);
		for (; pos < n && pos < after + max; pos++) {
			int index = j->ordered ? (int)pos : j->order[pos];
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "index", index);
			cJSON_AddItemToObject(o, "result", pool_result_copy(j->results[index]));
			cJSON_AddItemToArray(out, o);
		}
		*ended = j->state != JOB_RUNNING && pos >= j->total;
	}
	pool_unlock();
	return j ? pos : -ENOENT;
}
