/* proc — the lifecycle of a process record (see proc.h).
 *
 * States and what moves them (everything under engine.lock):
 *
 *   state      | slot free        | fork server ok | fork server err | exit event + output drained | terminate/kill
 *   -----------+------------------+----------------+-----------------+-----------------------------+----------------
 *   QUEUED     | STARTING         |                |                 |                             | EXITED (never ran)
 *   STARTING   |                  | RUNNING        | FAILED          | (remembered)                | (delivered once RUNNING)
 *   RUNNING    |                  |                |                 | EXITED                      | signal the group
 *   EXITED/FAILED are final; LOST is for records of a previous server run.
 *
 * A record ends ("alive": false) only when its worker has exited AND its
 * output pipes reached EOF (or the bounded drain after exit ran out), so an
 * ended record always carries its complete output.
 *
 * The fork server is asked without the lock held (a fork takes a while); a
 * STARTING record cannot be removed, so no one frees it meanwhile.
 */
#define _GNU_SOURCE
#include "engine/proc_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/events.h"
#include "engine/forkserver.h"
#include "lib/ts.h"
#include "lib/log.h"
#include "targets/env.h"
#include "lib/number.h"
#include "lib/strv.h"
#include "lib/signame.h"

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1UL << 2)
#endif

struct engine engine = { .lock = PTHREAD_MUTEX_INITIALIZER, .epoll_fd = -1, .wake_fd = -1 };

void proc_list_add(struct proc_list *l, struct proc *p)
{
	p->list_next = NULL;
	p->list_prev = l->tail;
	if (l->tail)
		l->tail->list_next = p;
	else
		l->head = p;
	l->tail = p;
	l->count++;
}

void proc_list_del(struct proc_list *l, struct proc *p)
{
	if (p->list_prev) p->list_prev->list_next = p->list_next; else l->head = p->list_next;
	if (p->list_next) p->list_next->list_prev = p->list_prev; else l->tail = p->list_prev;
	p->list_next = p->list_prev = NULL;
	l->count--;
}

static struct proc *find(const char *id)
{
	struct store_entry *e = store_find(id);
	return e ? (struct proc *)e : NULL;   /* entry is the first member */
}

static bool ended(const struct proc *p)
{
	return p->state == PROC_EXITED || p->state == PROC_FAILED || p->state == PROC_LOST;
}

void proc_wake_engine(void)
{
	uint64_t one = 1;
	ssize_t unused = write(engine.wake_fd, &one, sizeof one);
	(void)unused;
}

/* A timer at deadline (monotonic ms) was set by a thread other than the
 * engine's. The engine sleeps until engine.next_timer and then recomputes
 * every timer, so it is woken only when the new one is earlier: a join with
 * a timeout (every POST ?wait=) then costs no engine wake-up. Lock held. */
void proc_timer_added(int64_t deadline)
{
	if (engine.next_timer && deadline >= engine.next_timer)
		return;
	engine.timers_dirty = true;
	proc_wake_engine();
}

void proc_publish(const char *event, const struct proc *p)
{
	events_publish(event, proc_render_text(p, 0));
}

/* "created" says what the record really is when it goes out: queued (pid
 * null), or, for one that had a slot at once, running with its pid (or
 * failed) once the fork server has answered; never "running" without a pid.
 * Lock held. */
static void announce(struct proc *p)
{
	if (!p->announced) {
		p->announced = true;
		proc_publish("created", p);
	}
}

/* ---- waiters ------------------------------------------------------------- */

static void waiter_unlink(struct proc_waiter *w)
{
	if (w->prev) w->prev->next = w->next; else *w->head = w->next;
	if (w->next) w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->armed = false;
}

void proc_waiter_fire_later(struct proc_waiter *w)
{
	waiter_unlink(w);
	w->fire_next = engine.to_fire;
	engine.to_fire = w;
}

void proc_collect_waiters(struct proc *p)
{
	while (p->waiters)
		proc_waiter_fire_later(p->waiters);
}

void proc_collect_output_waiters(struct proc *p)
{
	for (struct proc_waiter *w = p->waiters, *n; w; w = n) {
		n = w->next;
		if (w->on_output)
			proc_waiter_fire_later(w);
	}
}

int64_t proc_waiter_timers(struct proc_waiter **head, int64_t now)
{
	int64_t next = 0;
	for (struct proc_waiter *w = *head, *n; w; w = n) {
		n = w->next;
		if (!w->deadline_ms)
			continue;
		if (now >= w->deadline_ms)
			proc_waiter_fire_later(w);
		else if (!next || w->deadline_ms < next)
			next = w->deadline_ms;
	}
	return next;
}

void proc_fire_collected(void)
{
	pthread_mutex_lock(&engine.lock);
	struct proc_waiter *w = engine.to_fire;
	engine.to_fire = NULL;
	pthread_mutex_unlock(&engine.lock);
	while (w) {
		struct proc_waiter *next = w->fire_next;
		w->fn(w);       /* may free w's owner: read next first */
		w = next;
	}
}

void proc_arm_waiter(struct proc_waiter **head, struct proc_waiter *w, double timeout_s,
		     void (*fn)(struct proc_waiter *))
{
	/* Linking an armed waiter twice would corrupt its list (and lose every
	 * wake-up behind it): re-arming moves it. It should not happen. */
	if (w->armed) {
		log_event(LOG_WARN, "waiter armed twice", NULL);
		waiter_unlink(w);
	}
	w->head = head;
	w->fn = fn;
	w->armed = true;
	w->deadline_ms = timeout_s >= 0 ? ts_mono_ms() + number_ms(timeout_s) : 0;
	w->prev = NULL;
	w->next = *head;
	if (*head)
		(*head)->prev = w;
	*head = w;
	if (w->deadline_ms)
		proc_timer_added(w->deadline_ms);
}

static void arm_waiter(struct proc *p, struct proc_waiter *w, double timeout_s,
		       void (*fn)(struct proc_waiter *))
{
	w->on_output = false;
	proc_arm_waiter(&p->waiters, w, timeout_s, fn);
}

int proc_wait(const char *id, double timeout_s, struct proc_waiter *w, void (*fn)(struct proc_waiter *))
{
	int r;
	pthread_mutex_lock(&engine.lock);
	struct proc *p = find(id);
	if (!p)
		r = -ENOENT;
	else if (ended(p) && !p->lingering)
		r = 1;
	else {
		arm_waiter(p, w, timeout_s, fn);
		r = 0;
	}
	pthread_mutex_unlock(&engine.lock);
	return r;
}

void proc_wait_cancel(struct proc_waiter *w)
{
	pthread_mutex_lock(&engine.lock);
	if (w->armed)
		waiter_unlink(w);
	pthread_mutex_unlock(&engine.lock);
}

int proc_wait_output(const char *id, const uint64_t offsets[2], double timeout_s, struct proc_waiter *w,
		     void (*fn)(struct proc_waiter *))
{
	int r;
	pthread_mutex_lock(&engine.lock);
	struct proc *p = find(id);
	if (!p)
		r = -ENOENT;
	else if (ended(p) || (offsets[0] != UINT64_MAX && p->out[0].total > offsets[0]) ||
		 (offsets[1] != UINT64_MAX && p->out[1].total > offsets[1]))
		r = 1;
	else {
		proc_arm_waiter(&p->waiters, w, timeout_s, fn);
		w->on_output = true;
		r = 0;
	}
	pthread_mutex_unlock(&engine.lock);
	return r;
}

/* ---- stdin --------------------------------------------------------------- */

static void close_stdin(struct proc *p)
{
	if (p->stdin_fd >= 0) {
		close(p->stdin_fd);     /* also leaves the epoll set */
		p->stdin_fd = -1;
	}
	p->stdin_watched = false;
	free(p->stdin_buf);
	p->stdin_buf = NULL;
	p->stdin_len = p->stdin_off = 0;
}

/* Writes what the pipe takes now; asks the engine loop for EPOLLOUT when it
 * is full. Lock held. */
void proc_flush_stdin(struct proc *p)
{
	while (p->stdin_fd >= 0 && p->stdin_off < p->stdin_len) {
		ssize_t n = write(p->stdin_fd, p->stdin_buf + p->stdin_off, p->stdin_len - p->stdin_off);
		if (n > 0) {
			p->stdin_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!p->stdin_watched) {
				p->watch[PROC_STDIN_TAG].proc = p;
				p->watch[PROC_STDIN_TAG].stream = PROC_STDIN_TAG;
				struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = &p->watch[PROC_STDIN_TAG] };
				if (epoll_ctl(engine.epoll_fd, EPOLL_CTL_ADD, p->stdin_fd, &ev) == 0)
					p->stdin_watched = true;
				else
					close_stdin(p);
			}
			return;
		}
		close_stdin(p);         /* EPIPE: the worker closed its stdin */
		return;
	}
	if (p->stdin_fd < 0)
		return;
	free(p->stdin_buf);
	p->stdin_buf = NULL;
	p->stdin_len = p->stdin_off = 0;
	if (p->stdin_eof)
		close_stdin(p);
	else if (p->stdin_watched) {
		epoll_ctl(engine.epoll_fd, EPOLL_CTL_DEL, p->stdin_fd, NULL);
		p->stdin_watched = false;
	}
}

static int queue_stdin(struct proc *p, const void *data, size_t len)
{
	size_t pending = p->stdin_len - p->stdin_off;
	if (pending + len > PROC_STDIN_MAX)
		return -ENOBUFS;
	if (p->stdin_off) {             /* compact before growing */
		memmove(p->stdin_buf, p->stdin_buf + p->stdin_off, pending);
		p->stdin_len = pending;
		p->stdin_off = 0;
	}
	char *b = realloc(p->stdin_buf, pending + len + 1);
	if (!b)
		return -ENOMEM;
	memcpy(b + pending, data, len);
	p->stdin_buf = b;
	p->stdin_len = pending + len;
	return 0;
}

ssize_t proc_write_stdin(const char *id, const void *data, size_t len, bool eof)
{
	ssize_t r;
	pthread_mutex_lock(&engine.lock);
	struct proc *p = find(id);
	if (!p)
		r = -ENOENT;
	else if (p->state != PROC_RUNNING || p->leader_exited)
		r = -ESRCH;
	else if (p->stdin_fd < 0 || p->stdin_eof)
		r = -EPIPE;
	else if ((r = queue_stdin(p, data, len)) == 0) {
		p->stdin_eof = eof;
		proc_flush_stdin(p);
		r = (ssize_t)len;
	}
	pthread_mutex_unlock(&engine.lock);
	return r;
}

/* ---- spawning ------------------------------------------------------------ */

void proc_free(struct proc *p)
{
	for (int s = 0; s < 2; s++)
		outbuf_release(&p->out[s]);
	free(p->name);
	free(p->target_name);
	free(p->args_json);
	free(p->args_text);
	strv_free(p->envp);
	strv_free(p->argv);
	free(p->error);
	free(p->stdin_data);
	free(p);
}

/* Builds a record (not yet in the store). NULL on allocation failure. */
static struct proc *new_record(const struct proc_spawn *s)
{
	struct proc *p = calloc(1, sizeof *p);
	char path[4096];
	if (!p)
		return NULL;
	p->entry.seq = ++engine.next_seq;
	p->created_ms = ts_wall_ms();
	snprintf(p->entry.id, sizeof p->entry.id, "%011" PRIx64 "%04" PRIx64,
		 (uint64_t)p->created_ms, p->entry.seq & 0xffff);
	engine.names_given++;
	if (s->name)
		p->name = strdup(s->name);
	else if (asprintf(&p->name, "Process-%ld", engine.names_given) < 0)
		p->name = NULL;
	p->target = s->target;
	p->target_name = strdup(s->target->name);
	/* Printed exactly: the record echoes the args, and the worker re-reads args_json. */
	p->args_text = s->args_sent ? number_print_json(s->args_sent) : strdup("[]");
	p->args_json = s->canonical ? number_print_json(s->canonical) : strdup("{}");
	p->daemon = s->daemon;
	p->timeout = s->timeout > 0 ? s->timeout : s->target->timeout;
	p->pid = 0;
	p->pidfd = p->stdin_fd = -1;
	p->out_fd[0] = p->out_fd[1] = -1;
	p->exitcode = 0;

	/* The worker's environment: what the caller built (never the server's),
	 * with PATH when it has none and the worker's real identity. */
	p->envp = target_finish_env(s->envp, p->entry.id, p->name);
	if (s->argv)
		p->argv = strv_copy(s->argv);
	if (s->stdin_data)
		p->stdin_data = strdup(s->stdin_data);
	p->stdin_open = s->stdin_open;

	int r0 = 0, r1 = 0;
	snprintf(path, sizeof path, "%s/%s.stdout", engine.output_dir, p->entry.id);
	r0 = outbuf_init(&p->out[PROC_STDOUT], engine.cfg.output_mem_cap, path);
	snprintf(path, sizeof path, "%s/%s.stderr", engine.output_dir, p->entry.id);
	r1 = outbuf_init(&p->out[PROC_STDERR], engine.cfg.output_mem_cap, path);
	if (!p->name || !p->target_name || !p->args_text || !p->args_json || !p->envp || (s->argv && !p->argv) ||
	    (s->stdin_data && !p->stdin_data) || r0 || r1) {
		proc_free(p);
		return NULL;
	}
	return p;
}

static void fail_start(struct proc *p, const char *why)
{
	p->state = PROC_FAILED;
	p->reason = PROC_REASON_SPAWN_ERROR;
	p->error = strdup(why);
	p->ended_ms = ts_wall_ms();
	engine.total_failed++;
	log_event(LOG_WARN, "process failed", "id=%s name=\"%s\" target=%s error=\"%s\"",
		  p->entry.id, p->name, p->target_name, why);
	announce(p);
	proc_publish("exited", p);
	proc_collect_waiters(p);
}

/* A slot became free: queued records take the free slots, in order, and are
 * put on the start list (started once the lock is dropped). */
static void release_slot(void)
{
	while (engine.queued.head && engine.running.count < engine.cfg.max_running) {
		struct proc *q = engine.queued.head;
		proc_list_del(&engine.queued, q);
		q->state = PROC_STARTING;
		proc_list_add(&engine.running, q);
		q->start_next = engine.to_start;
		engine.to_start = q;
	}
}

static void close_pidfd(struct proc *p);

/* The fork server made p's worker: p takes its fds, its stdin and its
 * output pipes are set up. 0, or -errno with the reason in why (the caller
 * then abandons it: a worker whose output cannot be read or whose stdin
 * cannot be given must not run as if it were fine). Lock held. */
static int adopt_worker(struct proc *p, const struct forkserver_child *ch, char *why, size_t len)
{
	p->pid = ch->pid;
	p->pidfd = ch->pidfd;
	p->stdin_fd = ch->stdin_fd;
	p->out_fd[PROC_STDOUT] = ch->stdout_fd;
	p->out_fd[PROC_STDERR] = ch->stderr_fd;
	if (p->stdin_fd >= 0) {
		const char *d = p->stdin_data ? p->stdin_data : "";
		p->stdin_eof = !p->stdin_open;
		if (queue_stdin(p, d, strlen(d)) < 0) {
			snprintf(why, len, "cannot queue its stdin: %s", strerror(ENOMEM));
			return -ENOMEM;
		}
		proc_flush_stdin(p);
	}
	int r = proc_loop_watch(p);
	if (r < 0)
		snprintf(why, len, "cannot watch its output (epoll_ctl): %s", strerror(-r));
	return r;
}

/* Kills a worker adopt_worker() refused, its group too, and drops its fds:
 * the record fails as never started (pid null). Its exit event later finds
 * no starting record. Lock held. */
static void abandon_worker(struct proc *p)
{
	proc_send_group(p, SIGKILL);
	for (int s = 0; s < 2; s++)
		proc_close_output(p, (enum proc_stream)s);
	close_stdin(p);
	close_pidfd(p);
	p->pid = 0;
	p->leader_exited = false;
}

/* Asks the fork server for p's worker. Called WITHOUT the lock, p STARTING. */
static void start_worker(struct proc *p)
{
	const struct target *t = p->target;
	struct forkserver_request rq = {
		.key = p->entry.seq,
		.flags = p->stdin_data || p->stdin_open ? FORKSERVER_STDIN_PIPE : 0,
		.target = t->kind == TARGET_EXEC ? NULL : t->name,
		.args_json = p->args_json,
		.id = p->entry.id,
		.name = p->name,
		.program = p->argv ? p->argv[0] : NULL,
		.argv = (const char *const *)p->argv,
		.envp = (const char *const *)p->envp,
		.rlimits = { -1, -1, -1, -1 },
		.uid = -1, .gid = -1,
	};
	const struct exec_spec *x = t->exec;
	if (x) {
		rq.cwd = x->cwd;
		rq.rlimits[0] = x->rlimits.cpu;
		rq.rlimits[1] = x->rlimits.as;
		rq.rlimits[2] = x->rlimits.nofile;
		rq.rlimits[3] = x->rlimits.nproc;
		if (getuid() == 0) {    /* only root may change who the worker is */
			rq.uid = x->has_user ? (int64_t)x->uid : -1;
			rq.gid = x->has_group ? (int64_t)x->gid : -1;
		}
	}
	struct forkserver_child ch;
	char err[256];
	int r = forkserver_spawn(&rq, &ch, err, sizeof err);

	pthread_mutex_lock(&engine.lock);
	if (r == 0 && (r = adopt_worker(p, &ch, err, sizeof err)) < 0)
		abandon_worker(p);
	if (r < 0) {
		proc_list_del(&engine.running, p);
		fail_start(p, err);
		release_slot();
	} else {
		p->state = PROC_RUNNING;
		p->started_ms = ts_wall_ms();
		engine.total_started++;
		if (p->timeout > 0) {
			p->timeout_deadline = ts_mono_ms() + number_ms(p->timeout);
			proc_timer_added(p->timeout_deadline);
		}
		log_event(LOG_INFO, "process started", "id=%s name=\"%s\" target=%s pid=%d",
			  p->entry.id, p->name, p->target_name, (int)p->pid);
		announce(p);
		proc_publish("started", p);
		if (p->pending_signal) {
			p->sent_signal = p->pending_signal;
			proc_send_group(p, p->pending_signal);
		}
	}
	pthread_mutex_unlock(&engine.lock);
	if (r < 0) {
		proc_start_collected();
		proc_fire_collected();
	}
}

/* Starts every record that release_slot() gave a slot. */
void proc_start_collected(void)
{
	for (;;) {
		pthread_mutex_lock(&engine.lock);
		struct proc *p = engine.to_start;
		if (p)
			engine.to_start = p->start_next;
		pthread_mutex_unlock(&engine.lock);
		if (!p)
			return;
		start_worker(p);
	}
}

/* Processes of target t that are queued or running. Lock held. */
static int target_alive(const struct target *t)
{
	int n = 0;
	for (struct proc *p = engine.running.head; p; p = p->list_next)
		n += p->target == t;
	for (struct proc *p = engine.queued.head; p; p = p->list_next)
		n += p->target == t;
	return n;
}

int proc_spawn(const struct proc_spawn *s, char id[PROC_ID_MAX])
{
	pthread_mutex_lock(&engine.lock);
	if (engine.shutting_down) {
		pthread_mutex_unlock(&engine.lock);
		return -ESHUTDOWN;
	}
	if (s->target->max_running > 0 && target_alive(s->target) >= s->target->max_running) {
		pthread_mutex_unlock(&engine.lock);
		return -EBUSY;
	}
	bool now = engine.running.count < engine.cfg.max_running;
	if (!now && engine.queued.count >= engine.cfg.max_queued) {
		pthread_mutex_unlock(&engine.lock);
		return -EAGAIN;
	}
	struct proc *p = new_record(s);
	if (!p) {
		pthread_mutex_unlock(&engine.lock);
		return -ENOMEM;
	}
	store_insert(&p->entry);
	snprintf(id, PROC_ID_MAX, "%s", p->entry.id);
	p->state = now ? PROC_STARTING : PROC_QUEUED;
	proc_list_add(now ? &engine.running : &engine.queued, p);
	log_event(LOG_DEBUG, "process created", "id=%s name=\"%s\" target=%s state=%s",
		  p->entry.id, p->name, p->target_name, proc_state_name(p->state));
	if (!now)
		announce(p);
	if (s->waiter)
		arm_waiter(p, s->waiter, s->wait_s, s->wake);
	pthread_mutex_unlock(&engine.lock);
	if (now)
		start_worker(p);
	return 0;
}

/* ---- ending -------------------------------------------------------------- */

int proc_send_group(struct proc *p, int sig)
{
	if (p->pidfd >= 0) {
		if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, PIDFD_SIGNAL_PROCESS_GROUP) == 0)
			return 0;
		/* No such group yet: a worker just forked has not called setsid().
		 * It blocks every signal until it has (see forkserver.c), so the
		 * signal sent to it alone waits and reaches it, before any code of
		 * its target runs and before it can have children. */
		if (errno == ESRCH && !p->leader_exited &&
		    syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS)
			return -errno;
	}
	/* No group flag (kernel < 6.9), no pidfd_send_signal (< 5.1, or valgrind),
	 * or no pidfd: the leader is unreaped until
	 * its exit event, which is exactly when this path is still taken, so the
	 * group id cannot have been recycled. */
	if (!p->leader_exited && p->pid > 0 && kill(-p->pid, sig) == 0)
		return 0;
	return -errno;
}

static void close_pidfd(struct proc *p)
{
	if (p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
}

/* Worker exited and output drained: RUNNING → EXITED. Lock held. */
void proc_finish(struct proc *p)
{
	int st = p->wait_status;

	for (int s = 0; s < 2; s++) {
		proc_close_output(p, (enum proc_stream)s);
		outbuf_seal(&p->out[s]);
	}
	close_stdin(p);
	if (WIFSIGNALED(st)) {
		p->term_signal = WTERMSIG(st);
		p->exitcode = -p->term_signal;
		p->reason = p->sent_signal == p->term_signal ? p->sent_reason : PROC_REASON_SIGNAL;
	} else {
		p->exitcode = WEXITSTATUS(st);
		p->reason = PROC_REASON_EXIT;
	}
	p->state = PROC_EXITED;
	p->ended_ms = ts_wall_ms();
	p->drain_deadline = p->timeout_deadline = 0;
	proc_list_del(&engine.running, p);
	release_slot();
	log_event(LOG_INFO, "process ended", "id=%s name=\"%s\" pid=%d exitcode=%d reason=%s stdout_bytes=%" PRIu64
		  " stderr_bytes=%" PRIu64, p->entry.id, p->name, (int)p->pid, p->exitcode,
		  proc_reason_name(p->reason), p->out[0].total, p->out[1].total);
	proc_publish("exited", p);
	/* A DELETE waits for the whole group; everyone else is done now. */
	if (p->removing && p->pidfd >= 0 && proc_send_group(p, 0) == 0) {
		p->lingering = true;
		proc_list_add(&engine.lingering, p);
		engine.timers_dirty = true;
		return;
	}
	close_pidfd(p);
	proc_collect_waiters(p);
}

/* Sends sig to p, for reason. A queued record ends as if the signal had hit
 * it at once (it never starts); a starting one gets it once it runs. 0,
 * -ESRCH (not running), or -errno. Lock held. */
static int deliver_signal(struct proc *p, int sig, enum proc_reason reason)
{
	if (p->state == PROC_QUEUED && (sig == SIGTERM || sig == SIGKILL)) {
		proc_list_del(&engine.queued, p);
		p->state = PROC_EXITED;
		p->term_signal = sig;
		p->exitcode = -sig;
		p->reason = reason;
		p->ended_ms = ts_wall_ms();
		proc_publish("exited", p);
		proc_collect_waiters(p);
		return 0;
	}
	if (p->state == PROC_STARTING) {
		p->pending_signal = sig;
		p->sent_reason = reason;
		return 0;
	}
	if (p->state != PROC_RUNNING || p->leader_exited)
		return -ESRCH;
	p->sent_signal = sig;
	p->sent_reason = reason;
	int r = proc_send_group(p, sig);
	return r == -ESRCH ? 0 : r;     /* it is exiting: its exit is on the way */
}

int proc_signal(const char *id, int sig, enum proc_reason reason)
{
	pthread_mutex_lock(&engine.lock);
	struct proc *p = find(id);
	int r = p ? deliver_signal(p, sig, reason) : -ENOENT;
	pthread_mutex_unlock(&engine.lock);
	proc_fire_collected();
	return r;
}

int proc_remove(const char *id, double grace_s, double timeout_s, struct proc_waiter *w,
		void (*fn)(struct proc_waiter *), cJSON **final)
{
	pthread_mutex_lock(&engine.lock);
	struct proc *p = find(id);
	if (!p) {
		pthread_mutex_unlock(&engine.lock);
		return -ENOENT;
	}
	if (!ended(p) && !p->removing) {
		/* Terminate: SIGTERM now, SIGKILL to the group after the grace. */
		p->removing = true;
		p->kill_deadline = ts_mono_ms() + number_ms(grace_s);
		proc_timer_added(p->kill_deadline);
		deliver_signal(p, SIGTERM, PROC_REASON_TERMINATE);
	}
	if (!ended(p) || p->lingering) {
		arm_waiter(p, w, timeout_s, fn);
		proc_wake_engine();
		pthread_mutex_unlock(&engine.lock);
		return 0;
	}
	*final = proc_render(p, PROC_JSON_OUTPUT);
	store_remove(&p->entry);
	proc_collect_waiters(p);        /* other joiners see it gone */
	for (int s = 0; s < 2; s++)
		outbuf_unlink(&p->out[s]);
	log_event(LOG_INFO, "process removed", "id=%s name=\"%s\"", p->entry.id, p->name);
	proc_publish("removed", p);
	pthread_mutex_unlock(&engine.lock);
	/* The waiters hold p's address but never read it after firing. */
	proc_fire_collected();
	proc_free(p);
	return 1;
}

/* ---- reading ------------------------------------------------------------- */

cJSON *proc_get_json(const char *id, unsigned flags)
{
	pthread_mutex_lock(&engine.lock);
	struct proc *p = find(id);
	cJSON *j = p ? proc_render(p, flags) : NULL;
	pthread_mutex_unlock(&engine.lock);
	return j;
}

static bool matches(const struct proc *p, const struct proc_filter *f)
{
	return (f->alive < 0 || f->alive == !ended(p)) &&
	       (!f->state || strcmp(f->state, proc_state_name(p->state)) == 0) &&
	       (!f->target || strcmp(f->target, p->target_name) == 0) &&
	       (!f->name || strcmp(f->name, p->name) == 0);
}

cJSON *proc_list_json(const struct proc_filter *f, int *err)
{
	uint64_t after = UINT64_MAX;
	if (f->after) {
		char *end;
		errno = 0;
		after = strtoull(f->after, &end, 36);
		if (errno || *end || end == f->after || !*f->after) {
			*err = -EINVAL;
			return NULL;
		}
	}
	cJSON *out = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(out, "processes");
	uint64_t last = 0;
	int n = 0;
	bool more = false;
	pthread_mutex_lock(&engine.lock);
	struct store_entry *e = after == UINT64_MAX ? store_newest() : store_older_than(after);
	for (; e; e = e->older) {
		struct proc *p = (struct proc *)e;
		if (!matches(p, f))
			continue;
		if (n == f->limit) {
			more = true;
			break;
		}
		cJSON_AddItemToArray(list, proc_render(p, 0));
		last = e->seq;
		n++;
	}
	pthread_mutex_unlock(&engine.lock);
	if (more) {
		char cursor[24];
		int len = 0;
		char tmp[24];
		/* The cursor is the last record's sequence number in base 36: opaque to
		 * clients, stable when records are added or removed. */
		do {
			tmp[len++] = "0123456789abcdefghijklmnopqrstuvwxyz"[last % 36];
			last /= 36;
		} while (last);
		for (int i = 0; i < len; i++)
			cursor[i] = tmp[len - 1 - i];
		cursor[len] = '\0';
		cJSON_AddStringToObject(out, "next", cursor);
	} else
		cJSON_AddNullToObject(out, "next");
	return out;
}

ssize_t proc_read_output(const char *id, enum proc_stream stream, uint64_t offset, void *buf,
			 size_t len, uint64_t *total, bool *is_ended, int64_t *captured_ms)
{
	ssize_t n;
	pthread_mutex_lock(&engine.lock);
	struct proc *p = find(id);
	if (!p)
		n = -ENOENT;
	else {
		n = outbuf_read(&p->out[stream], offset, buf, len);
		*total = p->out[stream].total;
		*is_ended = ended(p);
		if (captured_ms)
			*captured_ms = outbuf_captured_at(&p->out[stream], offset);
	}
	pthread_mutex_unlock(&engine.lock);
	return n;
}

cJSON *proc_exit_json(const char *id)
{
	cJSON *j = NULL;
	pthread_mutex_lock(&engine.lock);
	struct proc *p = find(id);
	if (p && ended(p)) {
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "event", "exit");
		cJSON_AddStringToObject(j, "state", proc_state_name(p->state));
		if (p->state == PROC_EXITED)
			cJSON_AddNumberToObject(j, "exitcode", p->exitcode);
		else
			cJSON_AddNullToObject(j, "exitcode");
		const char *sig = p->term_signal ? signame_name(p->term_signal) : NULL;
		if (sig)
			cJSON_AddStringToObject(j, "signal", sig);
		else
			cJSON_AddNullToObject(j, "signal");
		cJSON_AddStringToObject(j, "reason", proc_reason_name(p->reason));
		cJSON_AddNumberToObject(j, "stdout_bytes", (double)p->out[0].total);
		cJSON_AddNumberToObject(j, "stderr_bytes", (double)p->out[1].total);
	}
	pthread_mutex_unlock(&engine.lock);
	return j;
}

void proc_stats(struct proc_stats *st)
{
	pthread_mutex_lock(&engine.lock);
	st->running = engine.running.count;
	st->queued = engine.queued.count;
	st->total_started = engine.total_started;
	st->total_failed = engine.total_failed;
	pthread_mutex_unlock(&engine.lock);
}

/* ---- start and stop ------------------------------------------------------ */

int proc_init(const struct proc_config *cfg)
{
	engine.cfg = *cfg;
	if (engine.cfg.output_mem_cap < PROC_INLINE_OUTPUT)
		engine.cfg.output_mem_cap = PROC_INLINE_OUTPUT;
	if (asprintf(&engine.output_dir, "%s/output", cfg->state_dir) < 0)
		return -ENOMEM;
	if (mkdir(engine.output_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	int r = store_init();
	if (r < 0)
		return r;
	return proc_loop_start();
}

static bool all_ended(bool daemons_only)
{
	for (struct proc *p = engine.running.head; p; p = p->list_next)
		if (!daemons_only || p->daemon)
			return false;
	return true;
}

static void signal_running(int sig, bool daemons_only)
{
	for (struct proc *p = engine.running.head; p; p = p->list_next)
		if (!daemons_only || p->daemon)
			deliver_signal(p, sig, sig == SIGKILL ? PROC_REASON_KILL : PROC_REASON_TERMINATE);
}

/* Waits (polling; shutdown only) until nothing runs or the deadline. */
static bool wait_all_ended(int64_t deadline)
{
	for (;;) {
		pthread_mutex_lock(&engine.lock);
		bool done = all_ended(false);
		pthread_mutex_unlock(&engine.lock);
		if (done || ts_mono_ms() >= deadline)
			return done;
		usleep(20 * 1000);
	}
}

void proc_shutdown(void)
{
	pthread_mutex_lock(&engine.lock);
	engine.shutting_down = true;
	/* Queued records never start. */
	while (engine.queued.head) {
		struct proc *q = engine.queued.head;
		proc_list_del(&engine.queued, q);
		fail_start(q, "the server shut down before it started");
	}
	signal_running(SIGTERM, true);        /* daemon workers: terminated at once */
	pthread_mutex_unlock(&engine.lock);
	proc_fire_collected();

	int64_t now = ts_mono_ms();
	if (!wait_all_ended(now + engine.cfg.shutdown_ms)) {
		pthread_mutex_lock(&engine.lock);
		signal_running(SIGTERM, false);
		pthread_mutex_unlock(&engine.lock);
		if (!wait_all_ended(ts_mono_ms() + 2000)) {
			pthread_mutex_lock(&engine.lock);
			signal_running(SIGKILL, false);
			pthread_mutex_unlock(&engine.lock);
			wait_all_ended(ts_mono_ms() + 2000);
		}
	}
	/* Whoever still waits (DELETE of a lingering group, joins) is answered now. */
	pthread_mutex_lock(&engine.lock);
	for (struct proc *p = engine.lingering.head; p; p = p->list_next)
		proc_collect_waiters(p);
	for (struct proc *p = engine.running.head; p; p = p->list_next)
		proc_collect_waiters(p);
	events_wake_all();
	pthread_mutex_unlock(&engine.lock);
	proc_fire_collected();
	proc_loop_stop();
}

void proc_release(void)
{
	struct store_entry *e;
	while ((e = store_newest())) {
		struct proc *p = (struct proc *)e;
		store_remove(e);
		for (int s = 0; s < 2; s++)
			proc_close_output(p, (enum proc_stream)s);
		close_pidfd(p);
		close_stdin(p);
		proc_free(p);
	}
	store_release();
	events_release();
	free(engine.output_dir);
	engine.output_dir = NULL;
}
