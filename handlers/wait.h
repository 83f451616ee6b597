/* wait — the state a request of /processes keeps while it waits on a process
 * (POST ?wait=, join, DELETE): the engine waiter whose callback wakes the
 * suspended request, the process id, and the wait's deadline or grace.
 *
 * A suspended request is woken at least every heartbeat (wait_slice()), as a
 * live stream is, to ask whether its client is still there: one that hung up
 * or reset is let go (its connection closed) within a heartbeat, instead of
 * holding its fd until the process ends.
 *
 * Ownership: wait_attach() hangs the state on the request (http_set_state());
 * it is released with the request, which cancels the waiter before freeing it,
 * so the waiter never fires into a freed request. The handler reads it back
 * from r->state in its continuation.
 */
#ifndef SPAWND_HANDLERS_WAIT_H
#define SPAWND_HANDLERS_WAIT_H

#include "engine/proc.h"
#include "server/http.h"

struct wait {
	struct proc_waiter waiter;      /* armed on the engine while r is suspended */
	struct http_req *r;             /* the request wait_fired() wakes */
	char id[PROC_ID_MAX];
	double deadline;                /* join, ?wait=: monotonic seconds, < 0: none */
	double grace;                   /* DELETE: seconds from SIGTERM to SIGKILL */
};

/* r's wait on the process id (NULL: out of memory), zeroed otherwise. */
struct wait *wait_attach(struct http_req *r, const char *id);
/* The waiter callback to arm w->waiter with: wakes w->r. Any thread. */
void wait_fired(struct proc_waiter *waiter);
/* The deadline timeout_s from now (< 0: none), for w->deadline. */
double wait_deadline_after(double timeout_s);
/* What is left of w's wait: < 0 none, else >= 0 seconds. */
double wait_left(const struct wait *w);
/* The next wake-up after left seconds (< 0: none): the heartbeat, or the
 * deadline if sooner. */
double wait_slice(double left);

#endif
