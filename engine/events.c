/* events — see events.h. */
#include "engine/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/proc_internal.h"
#include "lib/ts.h"

struct event { char *text; const char *type; };
static struct event ring[EVENTS_KEPT];  /* ring[seq % EVENTS_KEPT] */
static uint64_t last_seq;               /* newest event; 0 = none yet */
static struct proc_waiter *subscribers;

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
	ring[last_seq % EVENTS_KEPT] = (struct event){ text, event };
	while (subscribers)
		proc_waiter_fire_later(subscribers);
}

char *events_next(uint64_t after, uint64_t *seq, uint64_t *missed, const char **type)
{
	char *text = NULL;
	pthread_mutex_lock(&engine.lock);
	uint64_t oldest = last_seq >= EVENTS_KEPT ? last_seq - EVENTS_KEPT + 1 : 1;
	uint64_t want = after + 1 < oldest ? oldest : after + 1;
	*missed = want - (after + 1);
	if (want <= last_seq) {
		text = strdup(ring[want % EVENTS_KEPT].text);
		*type = ring[want % EVENTS_KEPT].type;
		*seq = want;
	}
	pthread_mutex_unlock(&engine.lock);
	return text;
}

uint64_t events_last(void)
{
	pthread_mutex_lock(&engine.lock);
	uint64_t s = last_seq;
	pthread_mutex_unlock(&engine.lock);
	return s;
}

int events_wait(uint64_t after, double timeout_s, struct proc_waiter *w, void (*fn)(struct proc_waiter *))
{
	int r = 1;
	pthread_mutex_lock(&engine.lock);
	if (engine.shutting_down)
		r = -ESHUTDOWN;         /* the stream ends cleanly */
	else if (after >= last_seq) {
		w->on_output = false;
		proc_arm_waiter(&subscribers, w, timeout_s, fn);
		r = 0;
	}
	pthread_mutex_unlock(&engine.lock);
	return r;
}

int64_t events_timers(int64_t now)
{
	return proc_waiter_timers(&subscribers, now);
}

void events_wake_all(void)
{
	while (subscribers)
		proc_waiter_fire_later(subscribers);
}

void events_release(void)
{
	for (size_t i = 0; i < EVENTS_KEPT; i++) {
		free(ring[i].text);
		ring[i].text = NULL;
	}
	last_seq = 0;
}
