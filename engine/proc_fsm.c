/* proc_fsm — the life of a record (proc_fsm.h), as s6-supervise does it: a
 * static table of state x event -> action. An empty cell means the event is
 * nothing to that state (a signal to an ended record is -ESRCH).
 *
 *   NEW       CREATE: STARTING if a slot is free, else QUEUED
 *   QUEUED    SLOT: STARTING          SIGNAL TERM/KILL: EXITED (never ran)
 *             SHUTDOWN: FAILED
 *   STARTING  SPAWNED: RUNNING        SPAWN_FAILED: FAILED
 *             LEADER_EXIT: remembered (p->leader_exited), acted on once RUNNING
 *             SIGNAL: delivered once RUNNING
 *   RUNNING   LEADER_EXIT: DRAINING   SIGNAL: to the process group
 *   DRAINING  OUTPUT_CLOSED (both), DRAIN_TIMEOUT: EXITED, or LINGERING when
 *             a DELETE waits for the rest of the group
 *   LINGERING GROUP_GONE: EXITED
 *   EXITED, FAILED: final
 *
 * A record ends ("alive": false) only when its worker has exited AND its
 * output pipes reached EOF (or the bounded drain ran out), so an ended
 * record always carries its complete output. A slot is given back when a
 * record leaves the running list (STARTING, RUNNING, DRAINING), and the
 * oldest queued record takes it.
 */
#include "engine/proc_fsm.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "engine/engine.h"
#include "engine/events.h"
#include "engine/proc_json.h"
#include "engine/proc_metrics.h"
#include "engine/proc_stdin.h"
#include "engine/proc_table.h"
#include "engine/proc_timeline.h"
#include "lib/log.h"
#include "lib/number.h"
#include "lib/ts.h"

typedef int action_fn(struct proc *p, const struct proc_event_arg *a);

/* What each state is to the outside (API.md's state) and which list holds it. */
static const struct { enum store_state durable; enum proc_list_id list; } states[PROC_STATES] = {
	[PROC_NEW] = { STORE_QUEUED, PROC_LIST_NONE },
	[PROC_QUEUED] = { STORE_QUEUED, PROC_LIST_QUEUED },
	[PROC_STARTING] = { STORE_RUNNING, PROC_LIST_RUNNING },
	[PROC_RUNNING] = { STORE_RUNNING, PROC_LIST_RUNNING },
	[PROC_DRAINING] = { STORE_RUNNING, PROC_LIST_RUNNING },
	[PROC_LINGERING] = { STORE_EXITED, PROC_LIST_LINGERING },
	[PROC_EXITED] = { STORE_EXITED, PROC_LIST_ENDED },
	[PROC_FAILED] = { STORE_FAILED, PROC_LIST_ENDED },
};

static void publish(const char *event, const struct proc *p)
{
	events_publish(event, proc_render_text(&p->rec, p->out, 0));
}

/* "created" says what the record really is when it goes out: queued (pid
 * null), or, for one that had a slot at once, running with its pid (or
 * failed) once the fork server has answered; never "running" without a pid. */
static void announce(struct proc *p)
{
	if (!p->announced) {
		p->announced = true;
		publish("created", p);
	}
}

/* Queued records take the free slots, in order; none once shutting down:
 * a durable store keeps them queued for the next run (proc_engine.c). */
static void release_slots(void)
{
	int max = proc_table_config()->max_running;
	struct proc *q;
	if (engine_shutting_down())
		return;
	while ((q = proc_table_first(PROC_LIST_QUEUED)) && proc_table_count(PROC_LIST_RUNNING) < max)
		proc_fsm(q, PROC_EV_SLOT, NULL);
}

/* Its worker has ended (or never will run): its token goes, and what it
 * held is released (engine/worker.h). Once per record. */
static void worker_gone(struct proc *p, enum proc_state s)
{
	if (p->token_live && s >= PROC_DRAINING) {
		p->token_live = false;
		worker_ended(p->token_digest, p->rec.id);
	}
}

static void enter(struct proc *p, enum proc_state s)
{
	enum proc_list_id from = states[p->state].list, to = states[s].list;
	enum proc_state was = p->state;
	const char *event = proc_timeline_event(was, s);
	p->state = s;
	p->rec.state = states[s].durable;
	worker_gone(p, s);
	if (event)
		proc_timeline_add(&p->rec, event, 0, PROC_REASON_NONE);
	proc_table_move(p, from, to);
	/* DRAINING changes nothing durable (still running; the byte counts are
	 * written with the end, which follows): one commit less per process. */
	if (s != PROC_DRAINING)
		proc_table_update(p);
	proc_metrics_moved(p, was);
	if (from == PROC_LIST_RUNNING && to != PROC_LIST_RUNNING)
		release_slots();
}

static int act_create(struct proc *p, const struct proc_event_arg *a)
{
	bool now = proc_table_count(PROC_LIST_RUNNING) < proc_table_config()->max_running;
	proc_timeline_add(&p->rec, "created", 0, PROC_REASON_NONE);
	enter(p, now ? PROC_STARTING : PROC_QUEUED);
	log_event(LOG_DEBUG, "process created", "id=%s name=\"%s\" target=%s state=%s",
		  p->rec.id, p->rec.name, p->rec.target, store_state_name(p->rec.state));
	if (!now)
		announce(p);
	return 0;
}

static int act_take_slot(struct proc *p, const struct proc_event_arg *a)
{
	enter(p, PROC_STARTING);
	proc_table_push_start(p);       /* started once the lock is dropped */
	return 0;
}

static int act_fail(struct proc *p, const struct proc_event_arg *a)
{
	p->rec.reason = PROC_REASON_SPAWN_ERROR;
	p->rec.error = strdup(a->why);
	p->rec.ended_ms = ts_wall_ms();
	proc_table_count_start(false);
	log_event(LOG_WARN, "process failed", "id=%s name=\"%s\" target=%s error=\"%s\"",
		  p->rec.id, p->rec.name, p->rec.target, a->why);
	enter(p, PROC_FAILED);
	announce(p);
	publish("exited", p);
	engine_wake_all(&p->waiters);
	return 0;
}

/* The exit status as the record's exitcode, signal and reason. */
static void take_status(struct proc *p)
{
	int st = p->wait_status;
	if (WIFSIGNALED(st)) {
		p->rec.signal = WTERMSIG(st);
		p->rec.exitcode = -p->rec.signal;
		p->rec.reason = p->sent_signal == p->rec.signal ? p->sent_reason : PROC_REASON_SIGNAL;
	} else {
		p->rec.exitcode = WEXITSTATUS(st);
		p->rec.reason = PROC_REASON_EXIT;
	}
}

/* Worker exited and output drained: EXITED, or LINGERING for a DELETE. */
static int finish(struct proc *p)
{
	for (int s = 0; s < 2; s++) {
		proc_close_output(p, (enum proc_stream)s);
		outbuf_seal(&p->out[s]);
	}
	proc_stdin_close(p);
	proc_table_save_output(p);
	take_status(p);
	p->rec.ended_ms = ts_wall_ms();
	p->drain_deadline = p->timeout_deadline = 0;
	log_event(LOG_INFO, "process ended", "id=%s name=\"%s\" pid=%d exitcode=%d reason=%s stdout_bytes=%" PRIu64
		  " stderr_bytes=%" PRIu64, p->rec.id, p->rec.name, p->rec.pid, p->rec.exitcode,
		  proc_reason_name((enum proc_reason)p->rec.reason), p->out[0].total, p->out[1].total);
	/* A DELETE waits for the whole group; everyone else is done now. */
	if (p->remove_asked && p->pidfd >= 0 && proc_send_group(p, 0) == 0) {
		enter(p, PROC_LINGERING);
		publish("exited", p);
		engine_timers_changed();
		return 0;
	}
	enter(p, PROC_EXITED);
	publish("exited", p);
	proc_close_pidfd(p);
	engine_wake_all(&p->waiters);
	return 0;
}

static int act_leader_exit(struct proc *p, const struct proc_event_arg *a)
{
	enter(p, PROC_DRAINING);
	if (!proc_output_open(p))
		return finish(p);
	p->drain_deadline = ts_mono_ms() + proc_table_config()->drain_ms;
	engine_timers_changed();
	return 0;
}

static int act_spawned(struct proc *p, const struct proc_event_arg *a)
{
	p->rec.started_ms = ts_wall_ms();
	proc_table_count_start(true);
	if (p->rec.timeout > 0) {
		p->timeout_deadline = ts_mono_ms() + number_ms(p->rec.timeout);
		engine_timer_added(p->timeout_deadline);
	}
	enter(p, PROC_RUNNING);
	log_event(LOG_INFO, "process started", "id=%s name=\"%s\" target=%s pid=%d",
		  p->rec.id, p->rec.name, p->rec.target, p->rec.pid);
	announce(p);
	publish("started", p);
	if (p->pending_signal) {
		p->sent_signal = p->pending_signal;
		proc_timeline_signal(p, p->pending_signal);
	}
	if (p->leader_exited) {         /* the exit event came before its pipes */
		act_leader_exit(p, a);
		if (p->drain_deadline)
			engine_timer_added(p->drain_deadline);
	}
	return 0;
}

static int act_drained(struct proc *p, const struct proc_event_arg *a)
{
	return proc_output_open(p) ? 0 : finish(p);
}

static int act_drain_cut(struct proc *p, const struct proc_event_arg *a)
{
	/* A grandchild holds the pipe: what it writes later is not this process's. */
	for (int s = 0; s < 2; s++)
		proc_close_output(p, (enum proc_stream)s);
	return finish(p);
}

/* Terminated or killed before it started: it never starts. */
static int act_signal_queued(struct proc *p, const struct proc_event_arg *a)
{
	if (a->sig != SIGTERM && a->sig != SIGKILL)
		return -ESRCH;
	p->rec.signal = a->sig;
	p->rec.exitcode = -a->sig;
	p->rec.reason = a->reason;
	p->rec.ended_ms = ts_wall_ms();
	proc_timeline_add(&p->rec, "signal", a->sig, a->reason);
	enter(p, PROC_EXITED);
	publish("exited", p);
	engine_wake_all(&p->waiters);
	return 0;
}

static int act_signal_later(struct proc *p, const struct proc_event_arg *a)
{
	p->pending_signal = a->sig;
	p->sent_reason = a->reason;
	return 0;
}

static int act_signal(struct proc *p, const struct proc_event_arg *a)
{
	p->sent_signal = a->sig;
	p->sent_reason = a->reason;
	int r = proc_timeline_signal(p, a->sig);
	return r == -ESRCH ? 0 : r;     /* it is exiting: its exit is on the way */
}

static int act_group_gone(struct proc *p, const struct proc_event_arg *a)
{
	proc_close_pidfd(p);
	enter(p, PROC_EXITED);
	engine_wake_all(&p->waiters);
	return 0;
}

static action_fn *const actions[PROC_STATES][PROC_EVENTS] = {
	[PROC_NEW] = { [PROC_EV_CREATE] = act_create },
	[PROC_QUEUED] = { [PROC_EV_SLOT] = act_take_slot, [PROC_EV_SIGNAL] = act_signal_queued,
			  [PROC_EV_SHUTDOWN] = act_fail },
	[PROC_STARTING] = { [PROC_EV_SPAWNED] = act_spawned, [PROC_EV_SPAWN_FAILED] = act_fail,
			    [PROC_EV_SIGNAL] = act_signal_later },
	[PROC_RUNNING] = { [PROC_EV_LEADER_EXIT] = act_leader_exit, [PROC_EV_SIGNAL] = act_signal },
	[PROC_DRAINING] = { [PROC_EV_OUTPUT_CLOSED] = act_drained, [PROC_EV_DRAIN_TIMEOUT] = act_drain_cut },
	[PROC_LINGERING] = { [PROC_EV_GROUP_GONE] = act_group_gone },
};

int proc_fsm(struct proc *p, enum proc_event ev, const struct proc_event_arg *arg)
{
	static const struct proc_event_arg none = { 0, PROC_REASON_NONE, "" };
	action_fn *act = actions[p->state][ev];
	return act ? act(p, arg ? arg : &none) : -ESRCH;
}
