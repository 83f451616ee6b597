/* suspender — a connection that can be suspended until an event wakes it: a
 * request in its access handler (server/http.c), or a streaming response in
 * its content reader (server/stream.c), the two places libmicrohttpd allows
 * MHD_suspend_connection().
 *
 * The suspend/wake race: a wake may come from another thread (the engine's)
 * before the connection is suspended. lock orders the two: a wake that comes
 * first only sets woken, and the suspending side checks woken under the lock
 * and goes on at once instead of suspending.
 *
 * Threads: suspender_wake() may be called from any thread, until the owner
 * has stopped every waker and called suspender_release().
 */
#ifndef SPAWND_SUSPENDER_H
#define SPAWND_SUSPENDER_H

#include <stdbool.h>
#include <pthread.h>
#include <microhttpd.h>

struct suspender {
	pthread_mutex_t lock;
	struct MHD_Connection *conn;
	bool suspended, woken;
};

void suspender_init(struct suspender *s, struct MHD_Connection *conn);
void suspender_release(struct suspender *s);
/* With s->lock held: suspends the connection (the caller then unlocks). */
void suspender_suspend_locked(struct suspender *s);
/* Any thread: resumes the connection if suspended, else marks s woken. */
void suspender_wake(struct suspender *s);

#endif
