/* pool_worker — spawnd's side of a persistent pool worker: its life (start,
 * feed, end); tasks out in pool_worker_send.c, answers in in
 * pool_worker_read.c (the worker's side, and the protocol, are in
 * forkserver/pool_worker.c).
 *
 * A pool of a C target (builtin or plugin) keeps one long-lived worker
 * process per slot, started when there is work. Its stdin is a socket
 * (FORKSERVER_POOL_WORKER), whose other end the pool thread takes
 * (proc_take_channel()) and watches in its own epoll set: task lines go out
 * on it, one result line per task line comes back, in order. So results
 * never pass through the worker's captured stdout (its output cap, its
 * store), which stays what the tasks print.
 *
 * A chunk goes out as one write (pool_worker_send.c): the usual map's as
 * one binary message of integers, any other as its lines, and the next
 * chunk of the same job once half of the tasks out are answered, so the
 * worker never waits for the pool thread between two tasks. Answers come
 * back as runs of values, one line per run (pool_worker_read.c), parsed from
 * one buffer per read. An initializer line is sent alone (its failure must
 * stop the tasks behind it).
 *
 * A worker that ends (killed, crashed, its function called exit()) fails the
 * task it ran, with the reason its record gives (signal, exit code). Which
 * task that was, its progress page tells (the count of tasks whose function
 * returned: the answers of the last ones may have died in its buffer); the
 * tasks sent with it, before or after, are run again (retries, not
 * attempts), so only the task that killed its worker fails.
 * The slot starts a new worker (with its initializer) for the next task.
 * After maxtasksperchild tasks, and when its pool is closed and has no work
 * left, a worker's socket is shut for writing, and it exits 0.
 *
 * Why a submit sends to idle workers itself (pool_worker_dispatch()): an
 * apply's round trip was four thread wake-ups (HTTP thread, pool thread,
 * worker, pool thread, HTTP thread), 20-50 us each on a busy machine; the
 * submitting thread writes the task to an idle worker's socket under the
 * pool lock, as the pool thread would, and the pool thread is kicked only
 * when work is left (a worker to start, none idle). And an apply's thread
 * then waits a moment on that socket itself (pool_apply_await()), the slot
 * claimed (out of the pool thread's epoll set and passes), and reads the
 * answer as the pool thread would: two wake-ups instead of four. It waits
 * at most AWAIT_MS (an HTTP thread has other connections), then leaves the
 * rest to the pool thread and the usual waiter; a worker that dies meanwhile
 * is the pool thread's to handle once the slot is given back, as any death.
 */
#define _GNU_SOURCE
#include "engine/pool_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define AWAIT_MS 1              /* an apply's thread waits on its worker's socket for at most this */

static void close_channel(struct pool_slot *s)
{
	if (s->channel >= 0)
		close(s->channel);      /* also leaves the epoll set */
	s->channel = -1;
	s->channel_eof = s->readable = s->wants_out = false;
	s->rlen = s->wlen = s->woff = 0;
	if (s->progress)
		munmap((void *)(uintptr_t)s->progress, POOL_PROGRESS_PAGE);
	s->progress = NULL;
	s->answered = 0;
}

void pool_worker_release(struct pool_slot *s)
{
	if (s->pool)
		close_channel(s);
	free(s->flight);
	free(s->rbuf);
	free(s->wbuf);
}

void pool_worker_retire(struct pool_slot *s)
{
	s->retire = false;
	s->retiring = true;
	if (s->channel >= 0)
		shutdown(s->channel, SHUT_WR);
}

/* Which of the tasks out (0: the oldest) the ended worker was running: the
 * first one its progress page does not count as returned (the answers of
 * those before it may have been lost in its buffer). Without a page, the
 * oldest; when every one returned, the last (the worker died answering it:
 * run again, it might kill the next worker too). */
static int running_at(const struct pool_slot *s)
{
	long returned = s->progress ? (long)(*s->progress - (uint64_t)s->answered) : 0;
	if (returned < 0)
		return 0;
	return returned < s->flight_len ? (int)returned : s->flight_len - 1;
}

/* The worker has ended: what it was running fails with its record's reason. */
static void worker_gone(struct pool_slot *s)
{
	cJSON *raw = proc_get_json(s->proc_id, 0);
	cJSON *rec = raw ? cJSON_Parse(raw->valuestring) : NULL;
	cJSON *failure = rec ? pool_failure_of(rec) : NULL;
	cJSON_Delete(raw);
	cJSON_Delete(rec);
	if (!failure && (s->init_pending || s->flight_len))
		failure = pool_error_json("lost", "its worker exited while it ran", NULL);
	int running = s->flight_len > 0 ? running_at(s) : -1;  /* before its page goes */
	close_channel(s);
	s->busy = s->retiring = s->retire = false;
	s->initialized = s->named = false;      /* the next worker is a new one */
	if (s->init_pending) {
		s->init_pending = false;
		pool_initializer_ended(s, failure);
	} else if (s->flight_len > 0) {
		struct pool_job *j = s->task_job;
		for (int k = 0; s->flight_len > 0; k++) {
			int item = pool_worker_flight_pop(s);
			if (k == running) {
				s->item = item;
			} else {
				j->retry[j->retry_len++] = item;        /* not its fault: not an attempt */
				j->running--;
			}
		}
		pool_task_done(s, failure, NULL);
	} else {
		cJSON_Delete(failure);
	}
}

void pool_worker_event(struct pool_slot *s)
{
	if (s->readable || atomic_load(&s->ended))
		pool_worker_read(s);
	s->readable = false;
	pool_worker_flush(s);
	if (atomic_exchange(&s->ended, false))
		worker_gone(s);
}

/* Takes the new worker's socket, once it has started. */
static void take_channel(struct pool_slot *s)
{
	int fd = proc_take_channel(s->proc_id);
	if (fd == -EAGAIN)
		return;                 /* not started yet: the next pass looks again */
	if (fd < 0) {
		s->channel_eof = true;  /* it ended before: its end is reported */
		return;
	}
	s->channel = fd;
	if (pool_run_watch(s, EPOLL_CTL_ADD, EPOLLIN) < 0)
		proc_signal(s->proc_id, SIGKILL, PROC_REASON_KILL);     /* it could never be answered */
}

static int start_worker(struct pool_slot *s)
{
	pool_name_worker(s);
	s->channel = -1;
	s->channel_eof = false;
	int r = pool_spawn_in(s, s->pool->target, NULL, s->worker_name);
	if (r == 0)
		take_channel(s);
	return r;
}

bool pool_worker_feed(struct pool_slot *s)
{
	struct pool *p = s->pool;
	if (s->busy && s->channel < 0 && !s->channel_eof)
		take_channel(s);
	if (s->busy && (s->channel < 0 || s->init_pending || s->retiring))
		return !(s->channel < 0 && !s->channel_eof);    /* not started yet: look again soon */
	bool work = p->state != POOL_TERMINATED && !p->error && pool_has_work(s);
	if (!work) {
		if (s->busy && !s->flight_len && (p->state != POOL_RUNNING || p->error))
			pool_worker_retire(s);      /* close(): an idle worker ends once the work is done */
		return true;
	}
	if (!s->busy) {
		int r = start_worker(s);
		if (r < 0)
			return r != -EAGAIN && r != -EBUSY;
		if (s->channel < 0)
			return s->channel_eof;
	}
	if (p->initializer && !s->initialized) {
		if (s->flight_len)
			return true;
		cJSON *msg = cJSON_CreateObject();
		cJSON_AddStringToObject(msg, "init", p->initializer->name);
		cJSON_AddItemToObject(msg, "args", p->initargs ? cJSON_Duplicate(p->initargs, true) : cJSON_CreateObject());
		if (pool_worker_send_line(s, msg) < 0)
			return false;
		s->init_pending = true;
		return true;
	}
	pool_worker_send_tasks(s);
	return true;
}

/* A started worker with nothing out and nothing to say first (its
 * initializer done), whose answers the pool thread has all taken. */
static bool idle(const struct pool_slot *s)
{
	const struct pool *p = s->pool;
	return s->busy && !s->claimed && s->channel >= 0 && !s->channel_eof && !s->init_pending && !s->retire &&
	       !s->retiring && !s->flight_len && !s->wlen && !s->readable && !atomic_load(&s->ended) &&
	       (!p->initializer || s->initialized);
}

bool pool_worker_dispatch(struct pool *p)
{
	if (!p->persistent || p->state != POOL_RUNNING || p->error)
		return false;
	for (int i = 0; i < p->processes; i++) {
		struct pool_slot *s = &p->slots[i];
		if (idle(s) && pool_has_work(s))
			pool_worker_send_tasks(s);
	}
	for (int i = 0; i < p->processes; i++)
		if (pool_has_work(&p->slots[i]))
			return false;
	return true;
}

/* The slot running job j's one task alone, its line all written, or NULL. */
static struct pool_slot *running_alone(struct pool *p, const struct pool_job *j)
{
	for (int i = 0; p->persistent && i < p->processes; i++) {
		struct pool_slot *s = &p->slots[i];
		if (s->busy && !s->claimed && s->task_job == j && s->flight_len == 1 && !s->wlen && s->channel >= 0 &&
		    !s->channel_eof && !s->init_pending && !s->readable && !atomic_load(&s->ended))
			return s;
	}
	return NULL;
}

/* Gives a claimed slot back after its answer (if any) was read, and tells
 * the pool thread what it must look at. Lock held. */
static void give_back(struct pool_slot *s)
{
	s->claimed = false;
	if (pool_shutting_down())
		return;                 /* the pool thread may be gone (its epoll set with it): the end reaps it */
	if (!s->channel_eof && pool_run_watch(s, EPOLL_CTL_ADD, EPOLLIN | (s->wants_out ? EPOLLOUT : 0)) < 0)
		proc_signal(s->proc_id, SIGKILL, PROC_REASON_KILL);     /* it could never be answered */
	if (!pool_worker_dispatch(s->pool) || s->channel_eof || atomic_load(&s->ended))
		pool_kick();
}

int pool_apply_await(const char *id, const char *job)
{
	pool_lock();
	struct pool *p = pool_find(id);
	struct pool_job *j = p ? pool_job_find(p, job) : NULL;
	struct pool_slot *s = j && j->state == JOB_RUNNING && j->total == 1 ? running_alone(p, j) : NULL;
	if (s && pool_run_watch(s, EPOLL_CTL_DEL, 0) < 0)
		s = NULL;
	if (s)
		s->claimed = true;      /* so its socket stays open and unread by others */
	int r = !j ? -ENOENT : j->state != JOB_RUNNING;
	pool_unlock();
	if (!s)
		return r;
	struct pollfd pfd = { .fd = s->channel, .events = POLLIN };
	int ready = poll(&pfd, 1, AWAIT_MS);
	pool_lock();
	if (ready > 0)
		pool_worker_read(s);
	give_back(s);
	j = pool_job_find(p, job);      /* p stays (a busy slot), j might not (terminated, trimmed) */
	r = !j || j->state != JOB_RUNNING;
	pool_unlock();
	return r;
}
