/* engine — the shared engine state (see engine.h), static here: the other
 * modules reach it only through these functions, so the locking rule is
 * written once.
 *
 * Waiters woken under the lock are moved to one batch; whoever drops the lock
 * after a wake-up calls engine_fire(), which takes the batch under the lock
 * and runs it without. A callback that runs late is harmless (it only wakes
 * its request); one that ran under the lock could deadlock.
 */
#define _GNU_SOURCE
#include "engine/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/number.h"
#include "lib/ts.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int epoll_fd = -1, wake_fd = -1;
static int64_t next_timer;              /* monotonic ms of the earliest timer, 0 = none */
static bool timers_dirty, shutting_down;
static struct waitq_batch to_fire;

void engine_lock(void) { pthread_mutex_lock(&lock); }
void engine_unlock(void) { pthread_mutex_unlock(&lock); }

int engine_open(void)
{
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd < 0)
		return -errno;
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd < 0) {
		int r = -errno;
		engine_close();
		return r;
	}
	return 0;
}

void engine_close(void)
{
	if (epoll_fd >= 0)
		close(epoll_fd);
	if (wake_fd >= 0)
		close(wake_fd);
	epoll_fd = wake_fd = -1;
	shutting_down = false;
	next_timer = 0;
}

int engine_epoll_fd(void) { return epoll_fd; }
int engine_wake_fd(void) { return wake_fd; }

void engine_wake(void)
{
	uint64_t one = 1;
	ssize_t unused = write(wake_fd, &one, sizeof one);
	(void)unused;
}

void engine_timer_added(int64_t deadline_ms)
{
	if (next_timer && deadline_ms >= next_timer)
		return;
	timers_dirty = true;
	engine_wake();
}

void engine_timers_changed(void) { timers_dirty = true; }
bool engine_timers_due(int64_t now) { return timers_dirty || (next_timer && now >= next_timer); }
int64_t engine_next_timer(void) { return next_timer; }

void engine_timers_set(int64_t next)
{
	next_timer = next;
	timers_dirty = false;
}

/* The queue's callback: hands the proc_waiter back to its owner's callback. */
static void waiter_fired(struct waitq_entry *e)
{
	struct proc_waiter *w = (struct proc_waiter *)((char *)e - offsetof(struct proc_waiter, entry));
	w->fn(w);
}

void engine_arm(struct waitq *q, struct proc_waiter *w, double timeout_s, unsigned flags,
		void (*fn)(struct proc_waiter *w))
{
	/* It should not happen; waitq_arm() moves it rather than corrupt its queue. */
	if (waitq_armed(&w->entry))
		log_event(LOG_WARN, "waiter armed twice", NULL);
	int64_t deadline = timeout_s >= 0 ? ts_mono_ms() + number_ms(timeout_s) : 0;
	w->fn = fn;
	waitq_arm(q, &w->entry, deadline, flags, waiter_fired);
	if (deadline)
		engine_timer_added(deadline);
}

void engine_wake_all(struct waitq *q) { waitq_wake(q, SIZE_MAX, &to_fire); }
void engine_wake_flagged(struct waitq *q, unsigned flags) { waitq_wake_flagged(q, flags, &to_fire); }
int64_t engine_expire(struct waitq *q, int64_t now) { return waitq_expire(q, now, &to_fire); }

void engine_cancel(struct proc_waiter *w)
{
	engine_lock();
	waitq_cancel(&w->entry);
	engine_unlock();
}

void engine_fire(void)
{
	struct waitq_batch b = { NULL, NULL };
	engine_lock();
	waitq_batch_move(&b, &to_fire);
	engine_unlock();
	waitq_fire(&b);
}

bool engine_shutting_down(void) { return shutting_down; }
void engine_set_shutting_down(void) { shutting_down = true; }
