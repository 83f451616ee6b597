/* proc_timeline — every lifecycle event of one process, kept with its record
 * (store_record.timeline_text, a JSON array written with each update), so
 * GET /processes/{id}/timeline still tells the story after a restart: what
 * multiprocessing's log_to_stderr() would have said about that one process.
 * Events: created, queued, started (pid), signal (name, why), exited
 * (exitcode, signal, reason), failed (error), lost. Not for use outside
 * engine/ (the handlers read it through proc_timeline_json(), proc.h).
 *
 * Threads: the engine lock is held for proc_timeline_add().
 */
#ifndef SPAWND_PROC_TIMELINE_H
#define SPAWND_PROC_TIMELINE_H

#include "engine/proc_record.h"

/* Appends one event, described from r as it is now (sig: the signal sent,
 * for "signal"); r's store update persists it. Out of memory drops the
 * event, never the record. */
void proc_timeline_add(struct store_record *r, const char *event, int sig, enum proc_reason why);

/* proc_send_group() (proc_record.h), and on success a "signal" event with
 * p->sent_reason, written to the store at once. sig 0 (a probe) is not an event. */
int proc_timeline_signal(struct proc *p, int sig);

/* The event that entering state s (from was) is, or NULL (DRAINING, STARTING:
 * nothing the outside sees changes). */
const char *proc_timeline_event(enum proc_state was, enum proc_state s);

#endif
