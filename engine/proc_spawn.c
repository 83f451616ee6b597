/* proc_spawn — creation and the fork request.
 *
 * The fork server is asked without the lock held (a fork takes a while); a
 * STARTING record cannot be removed (DELETE waits for its end), so no one
 * frees it meanwhile. Its fds pass from the fork server's answer to the
 * record in adopt_worker(); if it cannot take them all, abandon_worker()
 * kills the worker and closes them, and the record fails as never started.
 * The worker's start time (proc_recover.c) is not read here, on the answer's
 * path: the durable store reads it when it commits a running row (store.h,
 * store_record.pidfd), and a short process has ended by then.
 */
#define _GNU_SOURCE
#include "engine/proc_spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/diskspace.h"
#include "engine/engine.h"
#include "engine/forkserver.h"
#include "engine/proc_fsm.h"
#include "engine/proc_recover.h"
#include "engine/proc_stdin.h"
#include "engine/proc_table.h"
#include "lib/log.h"
#include "targets/exec_file.h"

/* p takes the worker's fds; its stdin and its output pipes are set up. 0, or
 * -errno with the reason in why (a worker whose output cannot be read or whose
 * stdin cannot be given must not run as if it were fine). Lock held. */
static int adopt_worker(struct proc *p, const struct forkserver_child *ch, char *why, size_t len)
{
	p->rec.pid = ch->pid;
	p->pidfd = ch->pidfd;
	p->stdin_fd = ch->stdin_fd;
	if (p->pool_worker) {           /* a socket, its pool's to take (proc_take_channel) */
		p->channel_fd = ch->stdin_fd;
		p->stdin_fd = -1;
	}
	p->out_fd[PROC_STDOUT] = ch->stdout_fd;
	p->out_fd[PROC_STDERR] = ch->stderr_fd;
	if (p->stdin_fd >= 0) {
		const char *d = p->stdin_data ? p->stdin_data : "";
		p->stdin_eof = !p->stdin_open;
		if (proc_stdin_queue(p, d, strlen(d)) < 0) {
			snprintf(why, len, "cannot queue its stdin: %s", strerror(ENOMEM));
			return -ENOMEM;
		}
		proc_stdin_flush(p);
	}
	int r = proc_watch_output(p);
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
	proc_stdin_close(p);
	proc_close_pidfd(p);
	p->rec.pid = 0;
	p->leader_exited = false;
}

static void fill_request(const struct proc *p, struct forkserver_request *rq)
{
	const struct target *t = p->target;
	*rq = (struct forkserver_request){
		.key = p->key,
		.flags = (p->stdin_data || p->stdin_open ? FORKSERVER_STDIN_PIPE : 0) |
			 (p->pool_worker ? FORKSERVER_POOL_WORKER : 0),
		.target = t->kind == TARGET_EXEC ? NULL : t->name,
		.args_json = p->args_json,
		.id = p->rec.id,
		.name = p->rec.name,
		.program = p->argv ? p->argv[0] : NULL,
		.argv = (const char *const *)p->argv,
		.envp = (const char *const *)p->envp,
		.rlimits = { -1, -1, -1, -1 },
		.uid = -1, .gid = -1,
	};
	const struct exec_spec *x = t->exec;
	if (x) {
		rq->cwd = x->cwd;
		rq->rlimits[0] = x->rlimits.cpu;
		rq->rlimits[1] = x->rlimits.as;
		rq->rlimits[2] = x->rlimits.nofile;
		rq->rlimits[3] = x->rlimits.nproc;
		if (getuid() == 0) {    /* only root may change who the worker is */
			rq->uid = x->has_user ? (int64_t)x->uid : -1;
			rq->gid = x->has_group ? (int64_t)x->gid : -1;
		}
	}
}

/* Asks the fork server for p's worker. Called WITHOUT the lock, p STARTING. */
static void start_worker(struct proc *p)
{
	struct forkserver_request rq;
	struct forkserver_child ch;
	char err[256];
	fill_request(p, &rq);
	int r = forkserver_spawn(&rq, &ch, err, sizeof err);

	engine_lock();
	if (r == 0 && (r = adopt_worker(p, &ch, err, sizeof err)) < 0)
		abandon_worker(p);
	if (r < 0)
		proc_fsm(p, PROC_EV_SPAWN_FAILED, &(struct proc_event_arg){ .why = err });
	else
		proc_fsm(p, PROC_EV_SPAWNED, NULL);
	engine_unlock();
	if (r < 0) {
		proc_start_collected();
		engine_fire();
	}
}

void proc_start_collected(void)
{
	for (;;) {
		engine_lock();
		struct proc *p = proc_table_pop_start();
		engine_unlock();
		if (!p)
			return;
		start_worker(p);
	}
}

/* Processes of target t that are queued or running. Lock held. */
static int target_alive(const struct target *t)
{
	int n = 0;
	for (struct proc *p = proc_table_first(PROC_LIST_RUNNING); p; p = p->list_next)
		n += p->target == t;
	for (struct proc *p = proc_table_first(PROC_LIST_QUEUED); p; p = p->list_next)
		n += p->target == t;
	return n;
}

/* 0, or why no record may be made now. Lock held. */
static int admit(const struct proc_spawn *s)
{
	const struct proc_config *cfg = proc_table_config();
	if (engine_shutting_down())
		return -ESHUTDOWN;
	if (s->target->max_running > 0 && target_alive(s->target) >= s->target->max_running)
		return -EBUSY;
	if (proc_table_count(PROC_LIST_RUNNING) >= cfg->max_running &&
	    proc_table_count(PROC_LIST_QUEUED) >= cfg->max_queued)
		return -EAGAIN;
	return 0;
}

int proc_spawn(const struct proc_spawn *s, char id[PROC_ID_MAX])
{
	/* Before the lock: a look at the disk is a syscall on its file system. */
	int r = diskspace_check(NULL, NULL);
	if (r == -ENOSPC)
		return r;
	engine_lock();
	r = admit(s);
	if (r < 0) {
		engine_unlock();
		return r;
	}
	const struct proc_config *cfg = proc_table_config();
	struct store *st = proc_table_store();
	struct proc_new_args a = { proc_table_next_key(), proc_table_next_name(),
				   proc_table_output_dir(), cfg->output_mem_cap, st->ops->flags & STORE_DURABLE, NULL };
	struct proc *p = proc_new(s, &a);
	/* One that will wait for a slot keeps what it needs to start after a restart. */
	if (p && a.whole_files && proc_table_count(PROC_LIST_RUNNING) >= cfg->max_running &&
	    !(p->rec.launch_text = proc_launch_text(p))) {
		proc_free(p);
		p = NULL;
	}
	if (!p || (r = proc_table_insert(p)) < 0) {
		engine_unlock();
		if (p)
			proc_free(p);
		return -ENOMEM;
	}
	snprintf(id, PROC_ID_MAX, "%s", p->rec.id);
	proc_fsm(p, PROC_EV_CREATE, NULL);
	if (s->waiter)
		engine_arm(&p->waiters, s->waiter, s->wait_s, 0, s->wake);
	bool now = p->state == PROC_STARTING;
	uint64_t seq = p->store_seq;
	engine_unlock();
	if (now)
		start_worker(p);
	/* The 201 is an acknowledgement: the record is on disk before it. One
	 * with a waiter is answered later, by a render that waits for the
	 * record's last write then (proc_get_json), so it need not wait twice. */
	if (!s->waiter && store_sync(st, seq) < 0)
		log_event(LOG_ERROR, "store write failed", "id=%s: its record may not survive a restart", id);
	return 0;
}
