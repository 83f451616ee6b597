/* proc_engine — the engine's start and end (proc_init(), proc_shutdown(),
 * proc_release() in proc.h): the order in which its parts are opened and
 * closed.
 *
 *   init:     engine (epoll, eventfd) -> table (config, output folder,
 *             store) -> recovery of the store's records -> loop thread ->
 *             the recovered queued records that have a slot start
 *   shutdown: retention stops; no new spawns; queued records stay queued
 *             (no slot is taken any more) with a durable store, which starts
 *             them at the next run, and fail with the memory store (nothing
 *             would ever start them); daemon workers are terminated at once,
 *             the others get cfg.shutdown_ms, then SIGTERM, then SIGKILL 2 s
 *             later; every waiter is answered; the thread stops
 *   release:  records freed (their fds closed), table, events, engine fds
 */
#include "engine/proc.h"

#include <signal.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/events.h"
#include "engine/proc_fsm.h"
#include "engine/proc_loop.h"
#include "engine/proc_recover.h"
#include "engine/proc_retention.h"
#include "engine/proc_spawn.h"
#include "engine/proc_stdin.h"
#include "engine/proc_table.h"
#include "lib/ts.h"

int proc_init(const struct proc_config *cfg)
{
	int r = engine_open();
	if (r < 0)
		return r;
	if ((r = proc_table_open(cfg, cfg->store ? cfg->store : &store_mem_ops)) < 0)
		return r;
	if ((r = proc_recover()) < 0 || (r = proc_loop_start()) < 0 || (r = proc_retention_start()) < 0)
		return r;
	proc_start_collected();         /* queued records of the last run that have a slot now */
	return 0;
}

static bool all_ended(void)
{
	return proc_table_first(PROC_LIST_RUNNING) == NULL;
}

static void signal_running(int sig, bool daemons_only)
{
	struct proc_event_arg a = { sig, sig == SIGKILL ? PROC_REASON_KILL : PROC_REASON_TERMINATE, NULL };
	for (struct proc *p = proc_table_first(PROC_LIST_RUNNING); p; p = p->list_next)
		if (!daemons_only || p->rec.daemon)
			proc_fsm(p, PROC_EV_SIGNAL, &a);
}

/* Waits (polling; shutdown only) until nothing runs or the deadline. */
static bool wait_all_ended(int64_t deadline)
{
	for (;;) {
		engine_lock();
		bool done = all_ended();
		engine_unlock();
		if (done || ts_mono_ms() >= deadline)
			return done;
		usleep(20 * 1000);
	}
}

static bool signal_all_and_wait(int sig, int64_t deadline)
{
	engine_lock();
	signal_running(sig, false);
	engine_unlock();
	return wait_all_ended(deadline);
}

/* Whoever still waits (DELETE of a lingering group, joins) is answered now. */
static void wake_everyone(void)
{
	engine_lock();
	for (struct proc *p = proc_table_first(PROC_LIST_LINGERING); p; p = p->list_next)
		engine_wake_all(&p->waiters);
	for (struct proc *p = proc_table_first(PROC_LIST_RUNNING); p; p = p->list_next)
		engine_wake_all(&p->waiters);
	for (struct proc *p = proc_table_first(PROC_LIST_QUEUED); p; p = p->list_next)
		engine_wake_all(&p->waiters);   /* joins answer: still queued, for the next run */
	events_wake_all();
	engine_unlock();
	engine_fire();
}

void proc_shutdown(void)
{
	struct proc_event_arg why = { 0, PROC_REASON_NONE, "the server shut down before it started" };
	struct proc *q;
	proc_retention_stop();
	engine_lock();
	engine_set_shutting_down();
	bool durable = proc_table_store()->ops->flags & STORE_DURABLE;
	while (!durable && (q = proc_table_first(PROC_LIST_QUEUED)))  /* would never start */
		proc_fsm(q, PROC_EV_SHUTDOWN, &why);
	/* Joins of the ones kept are answered now (queued, for the next run),
	 * while the workers drain, not as the connections close. */
	for (q = proc_table_first(PROC_LIST_QUEUED); q; q = q->list_next)
		engine_wake_all(&q->waiters);
	signal_running(SIGTERM, true);        /* daemon workers: terminated at once */
	engine_unlock();
	engine_fire();

	if (!wait_all_ended(ts_mono_ms() + proc_table_config()->shutdown_ms)) {
		if (!signal_all_and_wait(SIGTERM, ts_mono_ms() + 2000))
			signal_all_and_wait(SIGKILL, ts_mono_ms() + 2000);
	}
	wake_everyone();
	proc_loop_stop();
}

void proc_release(void)
{
	struct proc *p;
	while ((p = proc_table_any())) {
		proc_table_forget(p);   /* a durable store keeps it for the next run */
		for (int s = 0; s < 2; s++)
			proc_close_output(p, (enum proc_stream)s);
		proc_close_pidfd(p);
		proc_stdin_close(p);
		proc_free(p);
	}
	proc_table_close();
	events_release();
	engine_close();
}
