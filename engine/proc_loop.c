/* proc_loop — the engine thread: one epoll loop that drains every worker's
 * output pipes, takes the fork server's exit events and runs the timers
 * (output drain after exit, process timeouts, DELETE grace, join deadlines).
 *
 * Why one thread: reading a pipe and appending to its buffer is cheap, and a
 * single reader keeps output ordering and locking trivial. The loop handles a
 * whole batch of events under the engine lock (so no record can be freed
 * under it) and fires waiters and starts queued workers after dropping the
 * lock. The pipes are always drained, whatever clients do, so a slow reader
 * can never slow a worker down. What a pipe's EOF, an exit or a deadline
 * means for a record is the state machine's (proc_fsm.c) to say.
 *
 * State: only the thread handle and the stopping flag are this file's
 * (static); the epoll set and the timers are engine.c's, the records
 * proc_table's. The loop reads the pipes; the records own them.
 */
#define _GNU_SOURCE
#include "engine/proc_loop.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine/diskspace.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/forkserver.h"
#include "engine/proc_fsm.h"
#include "engine/proc_metrics.h"
#include "engine/proc_spawn.h"
#include "engine/proc_stdin.h"
#include "engine/proc_table.h"
#include "engine/proc_timeline.h"
#include "lib/log.h"
#include "lib/ts.h"

#define READ_CHUNK (1024 * 1024)    /* a busy writer's pipe is grown to this too */
#define READS_PER_EVENT 16          /* fairness between busy workers */
#define LINGER_POLL_MS 20           /* DELETE: how often to look for group survivors */
#define TIMEOUT_KILL_MS 2000        /* timeout: SIGTERM, then SIGKILL after this */
#define EVICT_POLL_MS 20            /* ended records waiting for the store's commit */

static char wake_tag, forkserver_tag;   /* epoll tags that are not pipes */
static char read_buf[READ_CHUNK];       /* engine thread only */
static pthread_t thread;
static bool thread_started, stopping;   /* stopping: lock held */

/* Appends n bytes of read_buf to p's stream s, or drops them: past the
 * per-process output cap (both streams together), or when the file they
 * would go to would eat into the state folder's free-space reserve. */
/* The disk n more bytes of ob will take: in its file, or, for a stream that
 * stays in memory, in the record's row when the process ends - twice, since
 * SQLite writes them to the WAL and then, at the checkpoint, to the database
 * file. Counting those too keeps the end-of-process write out of the reserve
 * (a full disk would fail the store's commit, not only this output). */
static size_t disk_bytes(const struct outbuf *ob, size_t n)
{
	size_t in_file = outbuf_file_bytes(ob, n);
	return in_file || ob->has_file ? in_file : 2 * n;
}

static void keep_output(struct proc *p, enum proc_stream s, size_t n)
{
	struct outbuf *ob = &p->out[s];
	uint64_t cap = proc_table_config()->output_cap, other = p->out[!s].total;
	bool was_dropping = ob->dropping;
	if (cap)
		ob->limit = other < cap ? cap - other : 0;
	int r = 0;
	uint64_t dropped = ob->dropped;
	if (cap && other >= cap)
		outbuf_drop(ob, n);
	else if (!ob->dropping && diskspace_reserve_hit(disk_bytes(ob, n)))
		outbuf_drop(ob, n);
	else
		r = outbuf_append(ob, read_buf, n, ts_wall_ms());
	bool capped = cap && ob->total + other >= cap;
	if (ob->dropped > dropped)
		proc_metrics_dropped(s, capped ? PROC_DROP_CAP : PROC_DROP_DISK, (size_t)(ob->dropped - dropped));
	if (r < 0 || (ob->dropping && !was_dropping)) {
		log_event(LOG_WARN, "output dropped from here on", "id=%s stream=%s offset=%" PRIu64 " why=\"%s\"",
			  p->rec.id, s ? "stderr" : "stdout", ob->total,
			  r < 0 ? strerror(-r) : capped ? "output_cap_per_process reached" :
			  "the state folder is short of free space (min_free_space)");
		engine_wake_flagged(&p->waiters, PROC_WAIT_OUTPUT);     /* followers see the gap */
	}
}

static void read_output(struct proc *p, enum proc_stream s)
{
	bool got = false;
	for (int i = 0; i < READS_PER_EVENT && p->out_fd[s] >= 0; i++) {
		ssize_t n = read(p->out_fd[s], read_buf, sizeof read_buf);
		if (n > 0) {
			got = true;
			proc_metrics_output(s, (size_t)n);
			/* A writer that filled the default 64 KiB pipe is a bulk writer: a
			 * bigger pipe means fewer hand-offs between it and this thread. */
			if (n == 64 * 1024)
				fcntl(p->out_fd[s], F_SETPIPE_SZ, READ_CHUNK);
			keep_output(p, s, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		proc_close_output(p, s);        /* EOF, or an error that ends the stream */
	}
	if (got)
		engine_wake_flagged(&p->waiters, PROC_WAIT_OUTPUT);
	if (p->out_fd[s] < 0)
		proc_fsm(p, PROC_EV_OUTPUT_CLOSED, NULL);
}

static struct proc *find_running(uint64_t key)
{
	struct proc *p = proc_table_first(PROC_LIST_RUNNING);
	while (p && p->key != key)
		p = p->list_next;
	return p;
}

static void handle_exits(void)
{
	struct forkserver_exit ev;
	int r;
	while ((r = forkserver_read_exit(&ev)) == 1) {
		struct proc *p = find_running(ev.key);
		if (!p)
			continue;
		p->leader_exited = true;
		p->wait_status = ev.status;
		proc_fsm(p, PROC_EV_LEADER_EXIT, NULL);        /* STARTING: acted on once it runs */
	}
	if (r < 0 && !stopping) {
		log_event(LOG_ERROR, "fork server lost", "error=\"%s\"", strerror(-r));
		/* Nothing more will be reported: stop listening to the dead channel. */
		epoll_ctl(engine_epoll_fd(), EPOLL_CTL_DEL, forkserver_event_fd(), NULL);
	}
}

static int64_t earlier(int64_t a, int64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

static int64_t running_timers(struct proc *p, int64_t now)
{
	if (p->drain_deadline && now >= p->drain_deadline) {
		proc_fsm(p, PROC_EV_DRAIN_TIMEOUT, NULL);
		return 0;
	}
	if (p->timeout_deadline && now >= p->timeout_deadline) {
		p->timeout_deadline = 0;
		if (!p->leader_exited) {
			p->sent_signal = SIGTERM;
			p->sent_reason = PROC_REASON_TIMEOUT;
			proc_timeline_signal(p, SIGTERM);
			if (!p->kill_deadline || p->kill_deadline > now + TIMEOUT_KILL_MS)
				p->kill_deadline = now + TIMEOUT_KILL_MS;
		}
	}
	if (p->kill_deadline && now >= p->kill_deadline) {
		p->kill_deadline = 0;
		if (!p->leader_exited) {
			p->sent_signal = SIGKILL;
			if (p->sent_reason != PROC_REASON_TIMEOUT)
				p->sent_reason = PROC_REASON_KILL;
		}
		/* The whole group, even when the leader is gone already: its
		 * survivors (that ignored SIGTERM) are the point of the grace. */
		proc_timeline_signal(p, SIGKILL);
	}
	return earlier(earlier(p->drain_deadline, p->timeout_deadline), p->kill_deadline);
}

static int64_t linger_timers(struct proc *p, int64_t now)
{
	if (proc_send_group(p, 0) < 0) {        /* the whole group is gone */
		proc_fsm(p, PROC_EV_GROUP_GONE, NULL);
		return 0;
	}
	if (p->kill_deadline && now >= p->kill_deadline) {
		p->kill_deadline = 0;
		proc_timeline_signal(p, SIGKILL);
	}
	return now + LINGER_POLL_MS;
}

static void run_timers(void)
{
	int64_t now = ts_mono_ms(), next = 0;
	struct proc *p, *n;

	for (p = proc_table_first(PROC_LIST_RUNNING); p; p = n) {
		n = p->list_next;
		next = earlier(next, engine_expire(&p->waiters, now));
		next = earlier(next, running_timers(p, now));
	}
	for (p = proc_table_first(PROC_LIST_QUEUED); p; p = p->list_next)
		next = earlier(next, engine_expire(&p->waiters, now));
	for (p = proc_table_first(PROC_LIST_LINGERING); p; p = n) {
		n = p->list_next;
		next = earlier(next, engine_expire(&p->waiters, now));
		next = earlier(next, linger_timers(p, now));
	}
	next = earlier(next, events_timers(now));
	engine_timers_set(next);
}

static void *loop(void *arg)
{
	struct epoll_event evs[64];
	int timeout = -1;

	for (;;) {
		int n = epoll_wait(engine_epoll_fd(), evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			log_event(LOG_ERROR, "engine loop", "error=\"%s\"", strerror(errno));
			n = 0;
		}
		engine_lock();
		if (stopping) {
			engine_unlock();
			break;
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &wake_tag) {
				uint64_t v;
				ssize_t unused = read(engine_wake_fd(), &v, sizeof v);
				(void)unused;
			} else if (tag == &forkserver_tag)
				handle_exits();
			else {
				struct proc_watch *w = tag;
				if (w->stream == PROC_STDIN_TAG)
					proc_stdin_flush(w->proc);
				else
					read_output(w->proc, (enum proc_stream)w->stream);
			}
		}
		int64_t now = ts_mono_ms();
		if (engine_timers_due(now))
			run_timers();
		bool evict_later = proc_table_evict();
		/* epoll_wait takes an int: a timer days away is woken for early, never missed. */
		int64_t next = engine_next_timer();
		if (evict_later)
			next = earlier(next, now + EVICT_POLL_MS);
		timeout = next ? (int)(next <= now ? 0 : next - now > INT_MAX ? INT_MAX : next - now) : -1;
		engine_unlock();
		proc_start_collected();
		engine_fire();
	}
	return NULL;
}

int proc_loop_start(void)
{
	struct epoll_event wake = { .events = EPOLLIN, .data.ptr = &wake_tag };
	struct epoll_event fs = { .events = EPOLLIN, .data.ptr = &forkserver_tag };
	if (epoll_ctl(engine_epoll_fd(), EPOLL_CTL_ADD, engine_wake_fd(), &wake) < 0 ||
	    epoll_ctl(engine_epoll_fd(), EPOLL_CTL_ADD, forkserver_event_fd(), &fs) < 0)
		return -errno;
	stopping = false;
	int r = pthread_create(&thread, NULL, loop, NULL);
	if (r)
		return -r;
	thread_started = true;
	return 0;
}

void proc_loop_stop(void)
{
	if (!thread_started)
		return;
	engine_lock();
	stopping = true;
	engine_unlock();
	engine_wake();
	pthread_join(thread, NULL);
	thread_started = false;
}
