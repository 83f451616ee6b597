/* proc_wait — waiting on a record and ending it: joins, follow waits,
 * signals and DELETE (proc.h). Each takes the engine lock, arms the caller's
 * waiter on the record's wait queue or acts through the state machine, and
 * fires what that woke after dropping the lock.
 *
 * A DELETE of a live record asks for its end (SIGTERM now, SIGKILL to the
 * group after the grace) and waits like a join; the record, once it has
 * ended and its group is gone (LINGERING is over), is removed from the table
 * and the store, its output files unlinked, and it is freed here.
 *
 * A record only the store has (proc_stored.h) has ended: a join or a follow
 * returns at once, a signal is -ESRCH, a DELETE removes it.
 */
#include "engine/proc.h"

#include <errno.h>
#include <signal.h>

#include "engine/engine.h"
#include "engine/events.h"
#include "engine/proc_fsm.h"
#include "engine/proc_json.h"
#include "engine/proc_stored.h"
#include "engine/proc_table.h"
#include "lib/log.h"
#include "lib/number.h"
#include "lib/ts.h"

/* 1 if only the store has id (it has ended), else -ENOENT. No lock held. */
static int stored_ended(const char *id)
{
	struct store_record r;
	if (proc_stored_get(id, &r) < 0)
		return -ENOENT;
	bool alive = store_state_alive(r.state);
	store_record_release(&r);
	return alive ? -ENOENT : 1;
}

int proc_wait(const char *id, double timeout_s, struct proc_waiter *w, void (*fn)(struct proc_waiter *))
{
	int r;
	engine_lock();
	struct proc *p = proc_table_find(id);
	if (!p)
		r = -ENOENT;
	else if (p->state == PROC_EXITED || p->state == PROC_FAILED)
		r = 1;
	else if (p->state == PROC_QUEUED && engine_shutting_down())
		r = 1;          /* it starts at the next run: answer with it queued */
	else {
		engine_arm(&p->waiters, w, timeout_s, 0, fn);
		r = 0;
	}
	engine_unlock();
	return r == -ENOENT ? stored_ended(id) : r;
}

void proc_wait_cancel(struct proc_waiter *w)
{
	engine_cancel(w);
}

int proc_wait_output(const char *id, const uint64_t offsets[2], double timeout_s, struct proc_waiter *w,
		     void (*fn)(struct proc_waiter *))
{
	int r;
	engine_lock();
	struct proc *p = proc_table_find(id);
	if (!p)
		r = -ENOENT;
	else if (proc_ended(p) || (offsets[0] != UINT64_MAX && p->out[0].total > offsets[0]) ||
		 (offsets[1] != UINT64_MAX && p->out[1].total > offsets[1]))
		r = 1;
	else {
		engine_arm(&p->waiters, w, timeout_s, PROC_WAIT_OUTPUT, fn);
		r = 0;
	}
	engine_unlock();
	return r == -ENOENT ? stored_ended(id) : r;
}

int proc_signal(const char *id, int sig, enum proc_reason reason)
{
	engine_lock();
	struct proc *p = proc_table_find(id);
	int r = p ? proc_fsm(p, PROC_EV_SIGNAL, &(struct proc_event_arg){ sig, reason, NULL }) : -ENOENT;
	engine_unlock();
	engine_fire();
	return r == -ENOENT && stored_ended(id) == 1 ? -ESRCH : r;
}

/* Removes an ended record: its final JSON, then gone from everywhere. Lock
 * held; the caller fires the waiters and frees p. */
static cJSON *take_out(struct proc *p)
{
	cJSON *final = proc_render(&p->rec, p->out, PROC_JSON_OUTPUT);
	proc_table_remove(p);
	engine_wake_all(&p->waiters);   /* other joiners see it gone */
	for (int s = 0; s < 2; s++)
		outbuf_unlink(&p->out[s]);
	log_event(LOG_INFO, "process removed", "id=%s name=\"%s\"", p->rec.id, p->rec.name);
	events_publish("removed", proc_render_text(&p->rec, p->out, 0));
	return final;
}

static int remove_stored(const char *id, cJSON **final)
{
	struct store_record r;
	if (proc_stored_get(id, &r) < 0)
		return -ENOENT;
	int ret = -ENOENT;
	if (!store_state_alive(r.state) && (*final = proc_stored_render(&r, PROC_JSON_OUTPUT))) {
		proc_stored_remove(&r);
		engine_lock();
		events_publish("removed", proc_render_text(&r, NULL, 0));
		engine_unlock();
		engine_fire();
		ret = 1;
	}
	store_record_release(&r);
	return ret;
}

int proc_remove(const char *id, double grace_s, double timeout_s, struct proc_waiter *w,
		void (*fn)(struct proc_waiter *), cJSON **final)
{
	engine_lock();
	struct proc *p = proc_table_find(id);
	if (!p) {
		engine_unlock();
		return remove_stored(id, final);
	}
	if (!proc_ended(p) && !p->remove_asked) {
		/* Terminate: SIGTERM now, SIGKILL to the group after the grace. */
		p->remove_asked = true;
		p->kill_deadline = ts_mono_ms() + number_ms(grace_s);
		engine_timer_added(p->kill_deadline);
		proc_fsm(p, PROC_EV_SIGNAL, &(struct proc_event_arg){ SIGTERM, PROC_REASON_TERMINATE, NULL });
	}
	if (p->state != PROC_EXITED && p->state != PROC_FAILED) {
		engine_arm(&p->waiters, w, timeout_s, 0, fn);
		engine_wake();
		engine_unlock();
		return 0;
	}
	*final = take_out(p);
	engine_unlock();
	/* The waiters hold p's address but never read it after firing. */
	engine_fire();
	proc_free(p);
	store_sync_all(proc_table_store());     /* a restart must not bring it back */
	return 1;
}
