/* proc_fsm — the life of a record as a state machine: what each event does
 * in each state (the table is in proc_fsm.c). Engine lock held for all.
 * Every transition writes the record to the store and moves it between
 * proc_table's lists; the waiters it wakes are fired by whoever drops the
 * lock (engine_fire()).
 */
#ifndef SPAWND_PROC_FSM_H
#define SPAWND_PROC_FSM_H

#include "engine/proc_record.h"

enum proc_event {
	PROC_EV_CREATE,         /* proc_spawn(): start now or queue */
	PROC_EV_SLOT,           /* a slot is free */
	PROC_EV_SPAWNED,        /* the fork server made its worker, p took its fds */
	PROC_EV_SPAWN_FAILED,   /* arg.why says why */
	PROC_EV_LEADER_EXIT,    /* its worker exited (p->wait_status) */
	PROC_EV_OUTPUT_CLOSED,  /* one of its output pipes reached EOF */
	PROC_EV_DRAIN_TIMEOUT,  /* the drain after exit ran out */
	PROC_EV_SIGNAL,         /* arg.sig, arg.reason */
	PROC_EV_GROUP_GONE,     /* the last of its process group is gone */
	PROC_EV_SHUTDOWN,       /* the server stops before it started */
	PROC_EVENTS
};

struct proc_event_arg {
	int sig;
	enum proc_reason reason;
	const char *why;
};

/* Runs the action of (p->state, ev): its result (0 or -errno), or -ESRCH
 * when ev means nothing in this state. arg may be NULL for events without one. */
int proc_fsm(struct proc *p, enum proc_event ev, const struct proc_event_arg *arg);

#endif
