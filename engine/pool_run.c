/* pool_run — the pool thread: it feeds the pools' slots with tasks and
 * collects each task's result when its process ends.
 *
 * A slot runs one process at a time: its initializer (when the pool has one,
 * before its first task and again after each maxtasksperchild tasks, with a
 * new worker name, as Pool replaces a worker), then one task per process.
 * Every process is an ordinary spawnd process (proc_spawn(), its record with
 * the "pool" field), so limits, timeouts, output capture and the store apply
 * as to any other.
 *
 * Why a thread of its own: a slot's process ends on the engine thread (its
 * waiter), and starting the next one asks the fork server, which takes a
 * while; the engine thread must never wait on that. The waiter only marks the
 * slot ended and kicks this thread, so it may run anywhere, proc_spawn()
 * included (while this thread holds the pool lock).
 *
 * The thread sleeps in an epoll set of its own: an eventfd for kicks, and
 * the task sockets of the persistent workers (pool_worker.c), so a result
 * wakes it without a trip through the engine. A slot's pointer in the set
 * stays valid while the thread looks at it: the set holds only sockets of
 * busy slots, a pool with a busy slot is never freed, and only this thread
 * closes them (and clears busy).
 */
#define _GNU_SOURCE
#include "engine/pool_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/container.h"
#include "lib/log.h"
#include "lib/ts.h"
#include "lib/utf8.h"
#include "targets/argv.h"
#include "targets/env.h"

#define RESULT_MAX (1 << 20)    /* bytes of stdout a task's result may have */
#define BACKOFF_MS 50           /* the engine refused a spawn (its limits): try again after */

#define EVENTS_MAX 64

static pthread_t thread;
static bool started;
static atomic_bool stopping;
static int epoll_fd = -1, kick_fd = -1;
static long workers_named;
/* When the pool thread wakes up next at the latest (ms, monotonic), set
 * under the pool lock: a waiter armed with a later deadline needs no kick. */
static int64_t sleeps_until;

void pool_kick(void)
{
	uint64_t one = 1;
	if (kick_fd >= 0 && write(kick_fd, &one, sizeof one) < 0) {
		/* EAGAIN: the counter is full, so a wake-up is pending anyway */
	}
}

int pool_run_watch(struct pool_slot *s, int op, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };
	return epoll_ctl(epoll_fd, op, s->channel, &ev) < 0 ? -errno : 0;
}

bool pool_run_wakes_before(int64_t deadline)
{
	return deadline == 0 || deadline >= sleeps_until;
}

void pool_slot_woken(struct proc_waiter *w)
{
	atomic_store(&container_of(w, struct pool_slot, waiter)->ended, true);
	pool_kick();
}

int pool_spawn_in(struct pool_slot *s, const struct target *t, const cJSON *canonical, const char *name)
{
	char **envp = NULL, **argv = NULL;
	cJSON *details = NULL;
	struct target_ctx ctx = { .id = "", .name = "" };
	int r = target_build_env(t, NULL, &ctx, &envp, &details);
	cJSON_Delete(details);
	if (r == 0 && t->kind == TARGET_EXEC)
		r = target_build_argv(t, canonical, &argv);
	if (r == 0) {
		bool worker = s->pool->persistent;
		struct proc_spawn ps = {
			.target = t, .args_sent = canonical, .canonical = canonical, .name = name,
			.envp = envp, .argv = argv, .pool = s->pool->id,
			/* a worker talks on its socket (pool_worker.c); its end, as a task's, wakes s */
			.pool_worker = worker, .stdin_open = worker,
			.waiter = &s->waiter, .wait_s = -1, .wake = pool_slot_woken,
		};
		s->busy = true;
		atomic_store(&s->ended, false);
		if ((r = proc_spawn(&ps, s->proc_id)) < 0)
			s->busy = false;
	}
	target_free_argv(envp);
	target_free_argv(argv);
	return r;
}

struct pool_job *pool_next_item(struct pool_slot *s, int *item)
{
	struct pool_job *j = s->job;
	if (j && j->state == JOB_RUNNING && s->cur < s->hi) {
		*item = s->cur++;
		return j;
	}
	s->job = NULL;
	for (j = pool_open_jobs(s->pool); j; j = j->next) {
		if (j->state != JOB_RUNNING)
			continue;
		if (j->retry_len > 0) {
			*item = j->retry[--j->retry_len];
			return j;
		}
		if (j->next_index < j->total) {
			s->job = j;
			s->cur = j->next_index;
			s->hi = j->next_index + j->chunksize < j->total ? j->next_index + j->chunksize : j->total;
			j->next_index = s->hi;
			*item = s->cur++;
			return j;
		}
	}
	return NULL;
}

void pool_name_worker(struct pool_slot *s)
{
	if (!s->named) {         /* a new worker (first, or replacing one after maxtasksperchild) */
		snprintf(s->worker_name, sizeof s->worker_name, "%s-Worker-%ld", s->pool->name, ++workers_named);
		s->named = true;
	}
}

bool pool_has_work(const struct pool_slot *s)
{
	if (s->job && s->job->state == JOB_RUNNING && s->cur < s->hi)
		return true;
	for (const struct pool_job *j = pool_open_jobs(s->pool); j; j = j->next)
		if (j->state == JOB_RUNNING && (j->retry_len || j->next_index < j->total))
			return true;
	return false;
}

/* Gives an idle slot its next process. false: the engine refused (try later). Lock held. */
static bool feed(struct pool_slot *s)
{
	struct pool *p = s->pool;
	char name[160];
	if (p->state == POOL_TERMINATED || p->error)
		return true;
	pool_name_worker(s);
	snprintf(name, sizeof name, "%s", s->worker_name);
	if (p->initializer && !s->initialized) {
		if (!pool_has_work(s))
			return true;
		s->item = -1;
		return pool_spawn_in(s, p->initializer, p->initargs, name) != -EAGAIN;
	}
	int item;
	struct pool_job *j = pool_next_item(s, &item);
	if (!j)
		return true;
	s->item = item;
	s->task_job = j;
	j->running++;
	cJSON *made = j->item_at ? NULL : pool_job_item(j, item);
	int r = j->item_at || made ? pool_spawn_in(s, p->target, j->item_at ? j->item_at[item] : made, name) : -ENOMEM;
	cJSON_Delete(made);
	if (r < 0) {
		j->running--;
		if (r == -EAGAIN || r == -EBUSY) {
			j->retry[j->retry_len++] = item;        /* not its fault: not an attempt */
			return false;
		}
		pool_job_result(j, item, pool_error_json("spawn_error", strerror(-r), NULL), true);
	}
	return true;
}

cJSON *pool_failure_of(const cJSON *rec)
{
	const cJSON *exitcode = cJSON_GetObjectItemCaseSensitive(rec, "exitcode");
	const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "reason"));
	const char *sig = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "signal"));
	const char *error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "error"));
	char message[512];
	if (cJSON_IsNumber(exitcode) && exitcode->valueint == 0)
		return NULL;
	if (!reason)
		reason = "lost";
	if (error)
		snprintf(message, sizeof message, "%s", error);
	else if (sig)
		snprintf(message, sizeof message, "its process ended by %s (%s)", sig, reason);
	else if (cJSON_IsNumber(exitcode))
		snprintf(message, sizeof message, "its process exited with code %d", exitcode->valueint);
	else
		snprintf(message, sizeof message, "its process ended (%s)", reason);
	return pool_error_json(reason, message, exitcode);
}

/* The task's result from its stdout. NULL: out of memory. */
static cJSON *result_of(const char *id, const struct target *t)
{
	char *buf = malloc(RESULT_MAX + 1);
	size_t len = 0;
	uint64_t total = 0;
	bool ended;
	cJSON *result = NULL;
	ssize_t n;
	if (!buf)
		return NULL;
	while (len <= RESULT_MAX &&
	       (n = proc_read_output(id, PROC_STDOUT, len, buf + len, RESULT_MAX + 1 - len, &total, &ended, NULL, NULL)) > 0)
		len += (size_t)n;
	if (len > RESULT_MAX)
		result = pool_error_json("result_too_large", "its stdout is over 1 MiB", NULL);
	else if (t->returns_json) {
		result = cJSON_ParseWithLength(buf, len);
		if (!result)
			result = pool_error_json("bad_result", "its target returns JSON, and its stdout is not JSON", NULL);
	} else {
		char *text = utf8_json_string(buf, len);
		result = text ? cJSON_CreateRaw(text) : NULL;
		free(text);
	}
	free(buf);
	return result;
}

/* The initializer of s ended: on failure the pool says so and its jobs fail,
 * rather than start it again and again. Lock held. */
void pool_initializer_ended(struct pool_slot *s, cJSON *failure)
{
	struct pool *p = s->pool;
	if (!failure) {
		s->initialized = true;
		return;
	}
	if (!p->error) {
		cJSON *e = cJSON_GetObjectItemCaseSensitive(failure, "error");
		cJSON_ReplaceItemInObjectCaseSensitive(e, "code", cJSON_CreateString("initializer_failed"));
		p->error = failure;
		failure = NULL;
		for (struct pool_job *j = p->jobs; j; j = j->next)
			pool_job_end(j, JOB_FAILED);
	}
	cJSON_Delete(failure);
}

/* s's process has ended: its result goes to its job. Lock held. */
static void collect(struct pool_slot *s)
{
	struct pool *p = s->pool;
	cJSON *raw = proc_get_json(s->proc_id, 0);
	cJSON *rec = raw ? cJSON_Parse(raw->valuestring) : NULL;
	cJSON *failure = rec ? pool_failure_of(rec) : pool_error_json("lost", "its record is gone", NULL);
	cJSON_Delete(raw);
	cJSON_Delete(rec);
	s->busy = false;
	if (s->item < 0) {
		pool_initializer_ended(s, failure);
		return;
	}
	pool_task_done(s, failure, failure ? NULL : result_of(s->proc_id, p->target));
}

void pool_task_done(struct pool_slot *s, cJSON *failure, cJSON *result)
{
	struct pool *p = s->pool;
	struct pool_job *j = s->task_job;
	j->running--;
	if (++s->tasks == p->maxtasksperchild) {      /* replaced: a new worker, initialized again */
		s->tasks = 0;
		s->initialized = s->named = false;
		s->retire = true;
	}
	if (failure && j->attempts[s->item] < j->retries && j->state == JOB_RUNNING) {
		j->attempts[s->item]++;
		j->retry[j->retry_len++] = s->item;
		cJSON_Delete(failure);
		pool_result_free(j, result);
		return;
	}
	if (failure) {
		pool_result_free(j, result);
		result = failure;
	}
	pool_job_result(j, s->item, result, failure != NULL);
}

void pool_tasks_ints(struct pool_slot *s, const int *items, const int64_t *values, int n)
{
	s->task_job->running -= n;
	pool_job_ints(s->task_job, items, values, n);
}

void pool_run_terminate(struct pool *p)
{
	for (int i = 0; i < p->processes; i++)
		if (p->slots[i].busy)
			proc_signal(p->slots[i].proc_id, SIGTERM, PROC_REASON_TERMINATE);
}

/* One pass over every pool. The earliest waiter deadline (0: none); *backoff
 * when a spawn was refused. Lock held. */
static int64_t pass(bool *backoff)
{
	int64_t now = ts_mono_ms(), next = 0;
	for (struct pool *p = pool_first(); p; p = p->next) {
		for (int i = 0; i < p->processes; i++) {
			struct pool_slot *s = &p->slots[i];
			if (s->claimed)
				continue;       /* pool_apply_await() has it, and looks again */
			if (p->persistent && s->busy && (s->readable || s->wlen || atomic_load(&s->ended)))
				pool_worker_event(s);
			else if (!p->persistent && s->busy && atomic_exchange(&s->ended, false))
				collect(s);
			if (p->persistent ? !pool_worker_feed(s) : !s->busy && !feed(s))
				*backoff = true;
		}
		pool_wake_waiters(p, now);
		int64_t d = pool_next_deadline(p);
		if (d && (!next || d < next))
			next = d;
	}
	int64_t d = mapreduce_pass(now);
	return d && (!next || d < next) ? d : next;
}

/* Marks the slots epoll found ready; drains the kicks. Lock held. */
static void take_events(const struct epoll_event *evs, int n)
{
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr) {
			((struct pool_slot *)evs[i].data.ptr)->readable = true;
		} else {
			uint64_t count;
			if (read(kick_fd, &count, sizeof count) < 0) {
				/* EAGAIN: drained already */
			}
		}
	}
}

static void *thread_main(void *unused)
{
	struct epoll_event evs[EVENTS_MAX];
	int n = 0;
	for (;;) {
		bool backoff = false;
		pool_lock();
		take_events(evs, n > 0 ? n : 0);
		int64_t next = pass(&backoff), now = ts_mono_ms();
		int64_t until = sleeps_until = backoff ? now + BACKOFF_MS : next ? next : now + 1000;
		pool_unlock();
		now = ts_mono_ms();
		n = epoll_wait(epoll_fd, evs, EVENTS_MAX, until > now ? (int)(until - now) : 0);
		if (atomic_load(&stopping))
			return NULL;
	}
}

int pool_run_start(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (epoll_fd < 0 || kick_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, kick_fd, &ev) < 0)
		return -errno;
	int r = -pthread_create(&thread, NULL, thread_main, NULL);
	started = r == 0;
	return r;
}

void pool_run_stop(void)
{
	if (!started)
		return;
	atomic_store(&stopping, true);
	pool_kick();
	pthread_join(thread, NULL);
	started = false;
	close(kick_fd);
	close(epoll_fd);
	kick_fd = epoll_fd = -1;
}
