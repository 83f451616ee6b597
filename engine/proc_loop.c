/* proc_loop — the engine thread: one epoll loop that drains every worker's
 * output pipes, takes the fork server's exit events and runs the timers
 * (output drain after exit, process timeouts, DELETE grace, join deadlines).
 *
 * Why one thread: reading a pipe and appending to its buffer is cheap, and a
 * single reader keeps output ordering and locking trivial. The loop handles a
 * whole batch of events under engine.lock (so no record can be freed under
 * it) and fires waiters and starts queued workers after dropping the lock.
 * The pipes are always drained, whatever clients do, so a slow reader can
 * never slow a worker down.
 */
#define _GNU_SOURCE
#include "engine/proc_internal.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine/events.h"
#include "engine/forkserver.h"
#include "lib/ts.h"
#include "lib/log.h"

#define READ_CHUNK (1024 * 1024)    /* a busy writer's pipe is grown to this too */
#define READS_PER_EVENT 16          /* fairness between busy workers */
#define LINGER_POLL_MS 20           /* DELETE: how often to look for group survivors */
#define TIMEOUT_KILL_MS 2000        /* timeout: SIGTERM, then SIGKILL after this */

static char wake_tag, forkserver_tag;   /* epoll tags that are not pipes */
static char read_buf[READ_CHUNK];       /* engine thread only */

void proc_close_output(struct proc *p, enum proc_stream s)
{
	if (p->out_fd[s] >= 0) {
		close(p->out_fd[s]);    /* also leaves the epoll set */
		p->out_fd[s] = -1;
	}
}

int proc_loop_watch(struct proc *p)
{
	for (int s = 0; s < 2; s++) {
		p->watch[s].proc = p;
		p->watch[s].stream = (enum proc_stream)s;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &p->watch[s] };
		if (epoll_ctl(engine.epoll_fd, EPOLL_CTL_ADD, p->out_fd[s], &ev) < 0)
			return -errno;
	}
	if (p->leader_exited) {         /* the exit event came before its pipes */
		p->drain_deadline = ts_mono_ms() + engine.cfg.drain_ms;
		proc_timer_added(p->drain_deadline);
	}
	return 0;
}

static bool output_open(const struct proc *p)
{
	return p->out_fd[0] >= 0 || p->out_fd[1] >= 0;
}

static void maybe_finish(struct proc *p)
{
	if (p->state == PROC_RUNNING && p->leader_exited && !output_open(p))
		proc_finish(p);
}

static void read_output(struct proc *p, enum proc_stream s)
{
	bool got = false;
	for (int i = 0; i < READS_PER_EVENT && p->out_fd[s] >= 0; i++) {
		ssize_t n = read(p->out_fd[s], read_buf, sizeof read_buf);
		if (n > 0) {
			got = true;
			/* A writer that filled the default 64 KiB pipe is a bulk writer: a
			 * bigger pipe means fewer hand-offs between it and this thread. */
			if (n == 64 * 1024)
				fcntl(p->out_fd[s], F_SETPIPE_SZ, READ_CHUNK);
			int r = outbuf_append(&p->out[s], read_buf, (size_t)n, ts_wall_ms());
			if (r < 0)
				log_event(LOG_ERROR, "output lost", "id=%s stream=%s bytes=%zd error=\"%s\"",
					  p->entry.id, s ? "stderr" : "stdout", n, strerror(-r));
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		proc_close_output(p, s);        /* EOF, or an error that ends the stream */
	}
	if (got)
		proc_collect_output_waiters(p);
	maybe_finish(p);
}

static void handle_exits(void)
{
	struct forkserver_exit ev;
	int r;
	while ((r = forkserver_read_exit(&ev)) == 1) {
		struct proc *p = engine.running.head;
		while (p && p->entry.seq != ev.key)
			p = p->list_next;
		if (!p)
			continue;
		p->leader_exited = true;
		p->wait_status = ev.status;
		if (p->state != PROC_RUNNING)
			continue;       /* STARTING: proc_loop_watch() takes it from here */
		if (output_open(p)) {
			p->drain_deadline = ts_mono_ms() + engine.cfg.drain_ms;
			engine.timers_dirty = true;
		}
		maybe_finish(p);
	}
	if (r < 0 && !engine.stopping) {
		log_event(LOG_ERROR, "fork server lost", "error=\"%s\"", strerror(-r));
		/* Nothing more will be reported: stop listening to the dead channel. */
		epoll_ctl(engine.epoll_fd, EPOLL_CTL_DEL, forkserver_event_fd(), NULL);
	}
}

static int64_t earlier(int64_t a, int64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

static int64_t running_timers(struct proc *p, int64_t now)
{
	if (p->drain_deadline && now >= p->drain_deadline) {
		/* A grandchild holds the pipe: what it writes later is not this process's. */
		for (int s = 0; s < 2; s++)
			proc_close_output(p, (enum proc_stream)s);
		maybe_finish(p);
		return 0;
	}
	if (p->timeout_deadline && now >= p->timeout_deadline) {
		p->timeout_deadline = 0;
		if (!p->leader_exited) {
			p->sent_signal = SIGTERM;
			p->sent_reason = PROC_REASON_TIMEOUT;
			proc_send_group(p, SIGTERM);
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
		proc_send_group(p, SIGKILL);
	}
	return earlier(earlier(p->drain_deadline, p->timeout_deadline), p->kill_deadline);
}

static int64_t linger_timers(struct proc *p, int64_t now)
{
	if (proc_send_group(p, 0) < 0) {        /* the whole group is gone */
		proc_list_del(&engine.lingering, p);
		p->lingering = false;
		close(p->pidfd);
		p->pidfd = -1;
		proc_collect_waiters(p);
		return 0;
	}
	if (p->kill_deadline && now >= p->kill_deadline) {
		p->kill_deadline = 0;
		proc_send_group(p, SIGKILL);
	}
	return now + LINGER_POLL_MS;
}

static void run_timers(void)
{
	int64_t now = ts_mono_ms(), next = 0;
	struct proc *p, *n;

	for (p = engine.running.head; p; p = n) {
		n = p->list_next;
		next = earlier(next, proc_waiter_timers(&p->waiters, now));
		next = earlier(next, running_timers(p, now));
	}
	for (p = engine.queued.head; p; p = p->list_next)
		next = earlier(next, proc_waiter_timers(&p->waiters, now));
	for (p = engine.lingering.head; p; p = n) {
		n = p->list_next;
		next = earlier(next, proc_waiter_timers(&p->waiters, now));
		next = earlier(next, linger_timers(p, now));
	}
	next = earlier(next, events_timers(now));
	engine.next_timer = next;
	engine.timers_dirty = false;
}

static void *loop(void *arg)
{
	struct epoll_event evs[64];
	int timeout = -1;

	for (;;) {
		int n = epoll_wait(engine.epoll_fd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			log_event(LOG_ERROR, "engine loop", "error=\"%s\"", strerror(errno));
			n = 0;
		}
		pthread_mutex_lock(&engine.lock);
		if (engine.stopping) {
			pthread_mutex_unlock(&engine.lock);
			break;
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &wake_tag) {
				uint64_t v;
				ssize_t unused = read(engine.wake_fd, &v, sizeof v);
				(void)unused;
			} else if (tag == &forkserver_tag)
				handle_exits();
			else {
				struct proc_watch *w = tag;
				if (w->stream == PROC_STDIN_TAG)
					proc_flush_stdin(w->proc);
				else
					read_output(w->proc, (enum proc_stream)w->stream);
			}
		}
		int64_t now = ts_mono_ms();
		if (engine.timers_dirty || (engine.next_timer && now >= engine.next_timer))
			run_timers();
		/* epoll_wait takes an int: a timer days away is woken for early, never missed. */
		timeout = engine.next_timer ? (int)(engine.next_timer <= now ? 0
			  : engine.next_timer - now > INT_MAX ? INT_MAX : engine.next_timer - now) : -1;
		pthread_mutex_unlock(&engine.lock);
		proc_start_collected();
		proc_fire_collected();
	}
	return NULL;
}

int proc_loop_start(void)
{
	engine.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	engine.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (engine.epoll_fd < 0 || engine.wake_fd < 0)
		return -errno;
	struct epoll_event wake = { .events = EPOLLIN, .data.ptr = &wake_tag };
	struct epoll_event fs = { .events = EPOLLIN, .data.ptr = &forkserver_tag };
	if (epoll_ctl(engine.epoll_fd, EPOLL_CTL_ADD, engine.wake_fd, &wake) < 0 ||
	    epoll_ctl(engine.epoll_fd, EPOLL_CTL_ADD, forkserver_event_fd(), &fs) < 0)
		return -errno;
	int r = pthread_create(&engine.thread, NULL, loop, NULL);
	if (r)
		return -r;
	engine.thread_started = true;
	return 0;
}

void proc_loop_stop(void)
{
	if (!engine.thread_started)
		return;
	pthread_mutex_lock(&engine.lock);
	engine.stopping = true;
	pthread_mutex_unlock(&engine.lock);
	proc_wake_engine();
	pthread_join(engine.thread, NULL);
	engine.thread_started = false;
	close(engine.epoll_fd);
	close(engine.wake_fd);
	engine.epoll_fd = engine.wake_fd = -1;
}
