/* store — what every store implementation shares (see store.h): ids, state
 * names, filters, and copying records.
 *
 * Why ids look like this: a cursor is an id, so ids must sort by creation
 * and never repeat, even after a restart (the ms part moves on; the counter
 * is not saved) or on another node (the random part). The ms part never goes
 * back within a run, even if the wall clock does, so the order holds.
 */
#define _GNU_SOURCE
#include "engine/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Write latency buckets: a memory store takes microseconds, a disk one up to
 * an fsync (milliseconds; more on a loaded disk). */
static const uint64_t write_bounds_ns[] = {
	1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 25000000, 100000000, 1000000000,
};
static struct histogram write_latency = HISTOGRAM_INIT(write_bounds_ns);
static _Atomic uint64_t write_errors;

static int64_t last_ms;
static unsigned counter;
static uint32_t run_part;
static bool run_part_set;

void store_id_new(char id[STORE_ID_MAX], int64_t wall_ms)
{
	if (!run_part_set) {
		if (getrandom(&run_part, sizeof run_part, GRND_NONBLOCK) != sizeof run_part)
			run_part = (uint32_t)wall_ms ^ (uint32_t)getpid() << 16;
		run_part_set = true;
	}
	if (wall_ms > last_ms) {
		last_ms = wall_ms;
		counter = 0;
	} else if (++counter > 0xffff) {
		last_ms++;      /* 65536 ids in one ms: borrow the next one */
		counter = 0;
	}
	snprintf(id, STORE_ID_MAX, "%011" PRIx64 "%04x%08" PRIx32, (uint64_t)last_ms, counter, run_part);
}

bool store_id_valid(const char *id)
{
	size_t n = strspn(id, "0123456789abcdef");
	return n == STORE_ID_LEN && id[n] == '\0';
}

static const char *const state_names[STORE_STATES] = {
	[STORE_QUEUED] = "queued", [STORE_RUNNING] = "running", [STORE_EXITED] = "exited",
	[STORE_FAILED] = "failed", [STORE_LOST] = "lost",
};

const char *store_state_name(enum store_state s) { return state_names[s]; }

int store_state_parse(const char *name)
{
	for (int s = 0; s < STORE_STATES; s++)
		if (strcmp(state_names[s], name) == 0)
			return s;
	return -1;
}

bool store_state_alive(enum store_state s) { return s == STORE_QUEUED || s == STORE_RUNNING; }

bool store_matches(const struct store_record *r, const struct store_query *q)
{
	return (q->alive < 0 || q->alive == store_state_alive(r->state)) &&
	       (q->state < 0 || q->state == (int)r->state) &&
	       (!q->target || strcmp(q->target, r->target) == 0) &&
	       (!q->name || strcmp(q->name, r->name) == 0);
}

static int dup_or_null(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst ? 0 : -ENOMEM;
}

int store_record_copy(struct store_record *dst, const struct store_record *src)
{
	*dst = *src;
	dst->name = dst->target = dst->args_text = dst->error = dst->launch_text = dst->timeline_text = NULL;
	dst->pool = NULL;
	dst->pidfd = -1;
	if (dup_or_null(&dst->name, src->name) < 0 || dup_or_null(&dst->target, src->target) < 0 ||
	    dup_or_null(&dst->args_text, src->args_text) < 0 || dup_or_null(&dst->error, src->error) < 0 ||
	    dup_or_null(&dst->launch_text, src->launch_text) < 0 ||
	    dup_or_null(&dst->timeline_text, src->timeline_text) < 0 || dup_or_null(&dst->pool, src->pool) < 0) {
		store_record_release(dst);
		return -ENOMEM;
	}
	return 0;
}

void store_record_release(struct store_record *r)
{
	free(r->name);
	free(r->target);
	free(r->args_text);
	free(r->error);
	free(r->launch_text);
	free(r->timeline_text);
	free(r->pool);
	r->name = r->target = r->args_text = r->error = r->launch_text = r->timeline_text = r->pool = NULL;
}

int store_sync_all(struct store *s)
{
	if (s->ops->flush)
		return s->ops->flush(s, s->ops->queued(s));
	return s->ops->sync ? s->ops->sync(s, s->ops->queued(s)) : 0;
}

uint64_t store_queued(struct store *s)
{
	return s->ops->queued ? s->ops->queued(s) : 0;
}

int store_sync(struct store *s, uint64_t seq)
{
	return s->ops->sync && seq ? s->ops->sync(s, seq) : 0;
}

void store_page_release(struct store_page *p)
{
	for (int i = 0; i < p->count; i++)
		store_record_release(&p->records[i]);
	free(p->records);
	p->records = NULL;
	p->count = 0;
	p->next[0] = '\0';
}

void store_write_timed(uint64_t start_ns, int result)
{
	histogram_observe(&write_latency, histogram_now_ns() - start_ns);
	if (result < 0)
		atomic_fetch_add_explicit(&write_errors, 1, memory_order_relaxed);
}

/* A store that writes in a thread of its own times its commits there; here
 * its calls only queue, so they are not counted twice. */
static void timed(struct store *s, uint64_t start_ns, int result)
{
	if (!(s->ops->flags & STORE_ASYNC_WRITES) || result < 0)
		store_write_timed(start_ns, result);
}

int store_insert(struct store *s, const struct store_record *r)
{
	uint64_t t = histogram_now_ns();
	int e = s->ops->insert(s, r);
	timed(s, t, e);
	return e;
}

int store_update(struct store *s, const struct store_record *r)
{
	uint64_t t = histogram_now_ns();
	int e = s->ops->update(s, r);
	timed(s, t, e);
	return e;
}

int store_remove(struct store *s, const char *id)
{
	uint64_t t = histogram_now_ns();
	int e = s->ops->remove(s, id);
	timed(s, t, e == -ENOENT ? 0 : e);      /* gone already: nothing failed */
	return e;
}

int store_check(struct store *s)
{
	return s->ops->check ? s->ops->check(s) : 0;
}

const struct histogram *store_write_latency(void) { return &write_latency; }
uint64_t store_write_errors(void) { return atomic_load_explicit(&write_errors, memory_order_relaxed); }
