/* events — the lifecycle event log behind GET /events: created, started,
 * exited and removed, each as {"event", "ts", "process"} with a sequence
 * number. The last EVENTS_KEPT events are kept in a ring; a subscriber reads
 * from its next sequence number and waits (a proc_waiter) for more. A
 * subscriber that falls further behind than the ring learns how many events it
 * missed; nothing is skipped silently.
 *
 * Threads: events_publish(), events_timers() and events_wake_all() run with
 * the engine lock held (engine/engine.h: they are called by the engine); the
 * others take the lock themselves. Subscribers wait on a wait queue of this
 * module (engine/waitq.h), fired outside the lock.
 */
#ifndef SPAWND_EVENTS_H
#define SPAWND_EVENTS_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "engine/proc_waiter.h"

#define EVENTS_KEPT 8192

/* Appends an event (a string constant: "created", ...); process is the record
 * without output, as JSON text (malloc'd, consumed; NULL: out of memory, no
 * event). Lock held. */
void events_publish(const char *event, char *process);
/* The event with the smallest sequence number > after, as a malloc'd JSON text
 * (caller frees), its sequence in *seq and its name in *type; NULL if there is
 * none yet. *missed gets how many events after `after` are no longer kept. */
char *events_next(uint64_t after, uint64_t *seq, uint64_t *missed, const char **type);
/* The sequence number of the newest event (0 if none). */
uint64_t events_last(void);
/* 1 if an event after `after` exists (nothing armed), 0 if w was armed: it
 * fires on the next event or at the deadline; -ESHUTDOWN once the server is
 * shutting down (subscribers should end their stream). */
int events_wait(uint64_t after, double timeout_s, struct proc_waiter *w, void (*fn)(struct proc_waiter *));
/* Fires due deadlines; returns the next one (0: none). Lock held. */
int64_t events_timers(int64_t now);
/* Wakes every subscriber (shutdown). Lock held. */
void events_wake_all(void);
void events_release(void);

#endif
