/* proc_retention — see proc_retention.h.
 *
 * Why a thread of its own, and not a timer of the engine thread: finding the
 * expired records is a store read (SQL over the whole table, with the SQLite
 * store) and removing their output is file-system work; the engine thread
 * must never wait on a disk while workers' pipes fill. So this thread asks
 * the store (without the engine lock when the store allows shared reads),
 * takes the engine lock only to drop a bounded batch from the live table and
 * the store (which, for SQLite, only queues the deletes), and unlinks the
 * files and frees the records after dropping it.
 *
 * What is removed is what a DELETE of an ended record removes: its live
 * record (records of this run are in memory too), its stored one, its output
 * files; a "removed" event is published for each, as for a DELETE. A live
 * record a DELETE is taking out (LINGERING, or gone from the table) is left
 * to it. A record only the store has can race a DELETE of it (both read it
 * without the lock): it is removed either way, and its "removed" event may
 * then go out twice. Queued and running records are never removed (the store
 * never offers them, and a live record that has not ended is skipped).
 *
 * A batch is at most BATCH records; a pass goes on while batches come back
 * full, so a backlog (a first start with a lowered keep) is worked through at
 * once, each batch taking the lock once.
 */
#define _GNU_SOURCE
#include "engine/proc_retention.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "engine/engine.h"
#include "engine/events.h"
#include "engine/proc_json.h"
#include "engine/proc_stored.h"
#include "engine/proc_table.h"
#include "lib/log.h"
#include "lib/ts.h"

#define BATCH 256

static pthread_t thread;
static bool thread_started, stopping;           /* stopping: guarded by stop_lock */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;

static int read_expired(int limit, struct store_page *page)
{
	const struct proc_config *cfg = proc_table_config();
	struct store *st = proc_table_store();
	struct store_expiry q = {
		.keep = cfg->retention_count,
		.before_ms = cfg->retention_age_ms > 0 ? ts_wall_ms() - cfg->retention_age_ms : 0,
		.limit = limit,
	};
	if (!st->ops->expired)
		return -ENOTSUP;
	store_sync_all(st);             /* the store has this run's ends */
	if (st->ops->flags & STORE_SHARED_READS)
		return st->ops->expired(st, &q, page);
	engine_lock();
	int r = st->ops->expired(st, &q, page);
	engine_unlock();
	return r;
}

/* Drops one expired record (lock held). A live one goes on *taken, for the
 * caller to free once the lock is dropped. false: left alone. */
static bool drop(const struct store_record *r, struct proc **taken)
{
	struct proc *p = proc_table_find(r->id);
	if (p) {
		if ((p->state != PROC_EXITED && p->state != PROC_FAILED) || p->remove_asked)
			return false;
		proc_table_remove(p);
		engine_wake_all(&p->waiters);
		events_publish("removed", proc_render_text(&p->rec, p->out, 0));
		p->start_next = *taken;         /* unused once ended: a free link */
		*taken = p;
		return true;
	}
	/* Only the store has it (an earlier run's), unless a DELETE removed it a
	 * moment ago: a memory store holds nothing that is not live. */
	if (!(proc_table_store()->ops->flags & STORE_DURABLE))
		return false;
	store_remove(proc_table_store(), r->id);
	events_publish("removed", proc_render_text(r, NULL, 0));
	return true;
}

/* Drops a page's records and removes their files; how many were dropped. */
static int drop_page(const struct store_page *page)
{
	struct proc *taken = NULL;
	bool dropped[BATCH] = { false };
	int count = 0;
	engine_lock();
	for (int i = 0; i < page->count && i < BATCH; i++)
		dropped[i] = drop(&page->records[i], &taken);
	engine_unlock();
	engine_fire();
	for (int i = 0; i < page->count && i < BATCH; i++)
		if (dropped[i]) {
			proc_stored_unlink_output(page->records[i].id);
			count++;
		}
	for (struct proc *p = taken, *next; p; p = next) {
		next = p->start_next;
		proc_free(p);
	}
	store_sync_all(proc_table_store());     /* a restart must not bring them back */
	return count;
}

static bool stop_asked(void)
{
	pthread_mutex_lock(&stop_lock);
	bool stop = stopping;
	pthread_mutex_unlock(&stop_lock);
	return stop;
}

int proc_retention_pass(int limit)
{
	int removed = 0;
	while (removed < limit && !stop_asked()) {      /* a backlog never holds up a shutdown */
		struct store_page page;
		int want = limit - removed < BATCH ? limit - removed : BATCH;
		int r = read_expired(want, &page);
		if (r < 0)
			return removed ? removed : r;
		int got = page.count, dropped = drop_page(&page);
		store_page_release(&page);
		removed += dropped;
		if (got < want || !dropped)     /* the end, or only records a DELETE is taking */
			break;
	}
	if (removed)
		log_event(LOG_INFO, "retention removed records", "count=%d", removed);
	return removed;
}

/* Sleeps ms, or less when stopping. true: stop. */
static bool sleep_or_stop(int64_t ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&stop_lock);
	while (!stopping && pthread_cond_timedwait(&stop_cond, &stop_lock, &until) != ETIMEDOUT)
		;
	bool stop = stopping;
	pthread_mutex_unlock(&stop_lock);
	return stop;
}

static void *retention_main(void *arg)
{
	(void)arg;
	int64_t interval = proc_table_config()->retention_interval_ms;
	do {
		int r = proc_retention_pass(1 << 30);
		if (r < 0 && r != -ENOTSUP)
			log_event(LOG_ERROR, "retention pass failed", "error=%d", r);
	} while (!sleep_or_stop(interval > 0 ? interval : 60000));
	return NULL;
}

int proc_retention_start(void)
{
	const struct proc_config *cfg = proc_table_config();
	if (cfg->retention_count <= 0 && cfg->retention_age_ms <= 0)
		return 0;               /* keep everything */
	stopping = false;
	int r = pthread_create(&thread, NULL, retention_main, NULL);
	if (r)
		return -r;
	thread_started = true;
	return 0;
}

void proc_retention_stop(void)
{
	if (!thread_started)
		return;
	pthread_mutex_lock(&stop_lock);
	stopping = true;
	pthread_cond_signal(&stop_cond);
	pthread_mutex_unlock(&stop_lock);
	pthread_join(thread, NULL);
	thread_started = false;
}
