/* events — see events.h.
 *
 * Why each event keeps the store's write sequence at its publishing: an
 * event tells a client a record's new state (an "exited" above all), and
 * what a client was told must survive a crash (README "Durability"); a
 * durable store commits a write nobody waits for only after a linger, so
 * events_next() waits for that commit before it hands the event out. */
#include "engine/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/proc_table.h"
#include "engine/store.h"
#include "lib/ts.h"

struct event { char *text; const char *type; uint64_t store_seq; };
static struct event ring[EVENTS_KEPT];  /* ring[seq % EVENTS_KEPT] */
static uint64_t last_seq;               /* newest event; 0 = none yet */
static struct waitq subscribers = WAITQ_INIT;

void events_publish(const char *event, char *process)
{
	char ts[TS_RFC3339_LEN];
	if (!process)
		return;
	ts_format(ts_wall_ms(), ts);
	size_t cap = strlen(process) + strlen(event) + sizeof ts + 48;
	char *text = malloc(cap);
	if (text)
		snprintf(text, cap, "{\"event\":\"%s\",\"ts\":\"%s\",\"process\":%s}", event, ts, process);
	free(process);
	if (!text)
		return;
	last_seq++;
	free(ring[last_seq % EVENTS_KEPT].text);
	struct store *st = proc_table_store();
	ring[last_seq % EVENTS_KEPT] = (struct event){ text, event, st ? store_queued(st) : 0 };
	engine_wake_all(&subscribers);
}

char *events_next(uint64_t after, uint64_t *seq, uint64_t *missed, const char **type)
{
	char *text = NULL;
	uint64_t store_seq = 0;
	engine_lock();
	uint64_t oldest = last_seq >= EVENTS_KEPT ? last_seq - EVENTS_KEPT + 1 : 1;
	uint64_t want = after + 1 < oldest ? oldest : after + 1;
	*missed = want - (after + 1);
	if (want <= last_seq) {
		text = strdup(ring[want % EVENTS_KEPT].text);
		*type = ring[want % EVENTS_KEPT].type;
		*seq = want;
		store_seq = ring[want % EVENTS_KEPT].store_seq;
	}
	engine_unlock();
	if (text && store_seq)
		store_sync(proc_table_store(), store_seq);
	return text;
}

uint64_t events_last(void)
{
	engine_lock();
	uint64_t s = last_seq;
	engine_unlock();
	return s;
}

int events_wait(uint64_t after, double timeout_s, struct proc_waiter *w, void (*fn)(struct proc_waiter *))
{
	int r = 1;
	engine_lock();
	if (engine_shutting_down())
		r = -ESHUTDOWN;         /* the stream ends cleanly */
	else if (after >= last_seq) {
		engine_arm(&subscribers, w, timeout_s, 0, fn);
		r = 0;
	}
	engine_unlock();
	return r;
}

int64_t events_timers(int64_t now)
{
	return engine_expire(&subscribers, now);
}

void events_wake_all(void)
{
	engine_wake_all(&subscribers);
}

void events_release(void)
{
	for (size_t i = 0; i < EVENTS_KEPT; i++) {
		free(ring[i].text);
		ring[i].text = NULL;
	}
	last_seq = 0;
}
