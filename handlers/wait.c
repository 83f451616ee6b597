/* wait — see wait.h. The waiter is embedded in the state, and its callback
 * gets its state back with container_of(): the callback has the exact type
 * the engine calls, and the request is found through the state, never by
 * casting. */
#include "handlers/wait.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/container.h"
#include "lib/ts.h"
#include "server/stream.h"

static void release(void *state)
{
	struct wait *w = state;
	proc_wait_cancel(&w->waiter);
	free(w);
}

struct wait *wait_attach(struct http_req *r, const char *id)
{
	struct wait *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->r = r;
	snprintf(w->id, sizeof w->id, "%s", id);
	http_set_state(r, w, release);
	return w;
}

void wait_fired(struct proc_waiter *waiter)
{
	http_wake(container_of(waiter, struct wait, waiter)->r);
}

static double now_s(void) { return (double)ts_mono_ms() / 1000.0; }

double wait_deadline_after(double timeout_s) { return timeout_s < 0 ? -1 : now_s() + timeout_s; }

double wait_left(const struct wait *w)
{
	double left = w->deadline - now_s();
	return w->deadline < 0 ? -1 : left > 0 ? left : 0;
}

double wait_slice(double left)
{
	double hb = stream_heartbeat();
	return left < 0 || left > hb ? hb : left;
}
