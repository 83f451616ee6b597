/* proc_table — see proc_table.h. Its state is static here: the other engine
 * files reach the records only through these calls, under the engine lock.
 *
 * Two indexes by id exist: this one, of the live records (with their fds and
 * waiters), and the store's, of their durable copies. The store is the one
 * that lists and pages (a durable store lists records no process holds);
 * this one answers "which live record is id" in O(1) on every request.
 *
 * Why ended records leave (proc_table_evict()): with a durable store an
 * ended record changes no more, and its output is in its row or its file,
 * so memory would only grow with the number of records (~1.4 KB each, plus
 * the output held). It stays until the store has committed its last write,
 * so a read that finds no live record always finds the stored one, and
 * EVICT_GRACE_MS after its end; the ENDED list is in the order of those
 * writes (the ends), so the sweep stops at the first one not yet due.
 */
#define _GNU_SOURCE
#include "engine/proc_table.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stddef.h>
#include <stdlib.h>

#include "lib/log.h"
#include "lib/ts.h"

/* Why an ended record stays a moment after its end is committed: the
 * waiters its end woke (?wait=, join) answer from it; evicted first, each
 * read it back from the store, twice (bench S: P3). A clock that went back
 * does not hold it longer. */
#define EVICT_GRACE_MS 250

struct proc_list { struct proc *head, *tail; long count; };

static struct {
	struct proc_config cfg;
	char *output_dir;
	struct idmap ids;
	struct store *store;
	struct proc_list lists[PROC_LISTS];
	struct proc *to_start;
	size_t release_scan;            /* proc_table_any() */
	uint64_t next_key;
	long names_given, total_started, total_failed;
} table;

int proc_table_open(const struct proc_config *cfg, const struct store_ops *ops)
{
	table.cfg = *cfg;
	if (table.cfg.output_mem_cap < PROC_INLINE_OUTPUT)
		table.cfg.output_mem_cap = PROC_INLINE_OUTPUT;
	outbuf_set_memory_cap(table.cfg.output_memory_cap);
	if (asprintf(&table.output_dir, "%s/output", cfg->state_dir) < 0) {
		table.output_dir = NULL;
		return -ENOMEM;
	}
	if (mkdir(table.output_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	int r = idmap_init(&table.ids);
	if (r < 0)
		return r;
	if ((r = ops->open(cfg->state_dir, &table.store)) < 0) {
		idmap_release(&table.ids);
		table.store = NULL;
		return r;
	}
	/* Process-N goes on from where the last run left it. */
	if (ops->get_names && (r = ops->get_names(table.store, &table.names_given)) < 0) {
		proc_table_close();
		return r;
	}
	return 0;
}

const struct proc_config *proc_table_config(void) { return &table.cfg; }
const char *proc_table_output_dir(void) { return table.output_dir; }

void proc_table_close(void)
{
	if (table.store)
		table.store->ops->close(table.store);
	idmap_release(&table.ids);
	table.store = NULL;
	free(table.output_dir);
	table.output_dir = NULL;
	for (int l = 0; l < PROC_LISTS; l++)
		table.lists[l] = (struct proc_list){ 0 };
	table.to_start = NULL;
	table.release_scan = 0;
}

int proc_table_insert(struct proc *p)
{
	p->rec.pidfd = p->pidfd;        /* borrowed by the call (store.h) */
	int r = store_insert(table.store, &p->rec);
	if (r == 0)
		idmap_add(&table.ids, &p->link);
	p->store_seq = store_queued(table.store);
	return r;
}

void proc_table_update(struct proc *p)
{
	p->rec.stdout_bytes = p->out[PROC_STDOUT].total;
	p->rec.stderr_bytes = p->out[PROC_STDERR].total;
	p->rec.stdout_dropped = p->out[PROC_STDOUT].dropped;
	p->rec.stderr_dropped = p->out[PROC_STDERR].dropped;
	p->rec.pidfd = p->pidfd;
	int r = store_update(table.store, &p->rec);
	p->store_seq = store_queued(table.store);
	if (r < 0)      /* the live record stays right; only the store's copy lags */
		log_event(LOG_ERROR, "store update failed", "id=%s error=%d", p->rec.id, r);
}

void proc_table_remove(struct proc *p)
{
	idmap_del(&table.ids, &p->link);
	proc_table_move(p, p->list_id, PROC_LIST_NONE);
	store_remove(table.store, p->rec.id);
	p->store_seq = store_queued(table.store);
}

void proc_table_save_output(struct proc *p)
{
	unsigned char marks[OUTBUF_MARKS_MAX * OUTBUF_MARK_BYTES];
	for (int s = 0; s < 2; s++) {
		struct outbuf *ob = &p->out[s];
		if (!ob->whole_file || !ob->total || !table.store->ops->put_output)
			continue;
		/* With its capture times, so a read from the store has them too. */
		outbuf_marks_encode(ob, marks);
		bool in_memory = outbuf_in_memory_only(ob);
		if (table.store->ops->put_output(table.store, p->rec.id, s, in_memory ? ob->mem : NULL,
						 in_memory ? ob->mem_len : 0, marks, outbuf_marks_size(ob)) < 0)
			log_event(LOG_ERROR, "output not saved", "id=%s: out of memory", p->rec.id);
	}
}


void proc_table_forget(struct proc *p)
{
	idmap_del(&table.ids, &p->link);
	proc_table_move(p, p->list_id, PROC_LIST_NONE);
}

bool proc_table_evict(void)
{
	struct store *st = table.store;
	struct proc *p, *next;
	int64_t now = ts_wall_ms();
	if (!(st->ops->flags & STORE_DURABLE) || !st->ops->written)
		return false;           /* the memory store: the record is all there is */
	for (p = table.lists[PROC_LIST_ENDED].head; p; p = next) {
		next = p->list_next;
		/* The list is in the order of the records' last writes, which are
		 * their ends. */
		if (!st->ops->written(st, p->store_seq))
			return true;
		if (now >= p->rec.ended_ms && now - p->rec.ended_ms < EVICT_GRACE_MS)
			return true;
		if (!waitq_empty(&p->waiters))
			continue;       /* (a DELETE that finds it gone removes the stored one) */
		proc_table_forget(p);
		proc_free(p);
	}
	return false;
}

int proc_table_index(struct proc *p)
{
	idmap_add(&table.ids, &p->link);
	return 0;
}

struct proc *proc_table_find(const char *id)
{
	struct idmap_node *n = idmap_find(&table.ids, id);
	return n ? (struct proc *)((char *)n - offsetof(struct proc, link)) : NULL;
}

struct proc *proc_table_any(void)
{
	/* The caller removes each record it gets: the buckets before the last
	 * one found are empty, so the whole release is one pass. */
	for (; table.ids.count && table.release_scan < table.ids.nbuckets; table.release_scan++)
		if (table.ids.buckets[table.release_scan])
			return (struct proc *)((char *)table.ids.buckets[table.release_scan] - offsetof(struct proc, link));
	return NULL;
}

struct store *proc_table_store(void) { return table.store; }

static void list_add(struct proc_list *l, struct proc *p)
{
	p->list_next = NULL;
	p->list_prev = l->tail;
	if (l->tail)
		l->tail->list_next = p;
	else
		l->head = p;
	l->tail = p;
	l->count++;
}

static void list_del(struct proc_list *l, struct proc *p)
{
	if (p->list_prev) p->list_prev->list_next = p->list_next; else l->head = p->list_next;
	if (p->list_next) p->list_next->list_prev = p->list_prev; else l->tail = p->list_prev;
	p->list_next = p->list_prev = NULL;
	l->count--;
}

void proc_table_move(struct proc *p, enum proc_list_id from, enum proc_list_id to)
{
	if (from == to)
		return;
	if (from != PROC_LIST_NONE)
		list_del(&table.lists[from], p);
	if (to != PROC_LIST_NONE)
		list_add(&table.lists[to], p);
	p->list_id = to;
}

struct proc *proc_table_first(enum proc_list_id l) { return table.lists[l].head; }
long proc_table_count(enum proc_list_id l) { return table.lists[l].count; }

void proc_table_push_start(struct proc *p)
{
	p->start_next = table.to_start;
	table.to_start = p;
}

struct proc *proc_table_pop_start(void)
{
	struct proc *p = table.to_start;
	if (p)
		table.to_start = p->start_next;
	return p;
}

uint64_t proc_table_next_key(void) { return ++table.next_key; }
long proc_table_next_name(void)
{
	long n = ++table.names_given;
	int r = table.store->ops->set_names ? table.store->ops->set_names(table.store, n) : 0;
	if (r < 0)      /* a restart may then give this number again */
		log_event(LOG_ERROR, "store write failed", "names_given=%ld error=%d", n, r);
	return n;
}

void proc_table_count_start(bool ok)
{
	if (ok)
		table.total_started++;
	else
		table.total_failed++;
}

void proc_table_stats(struct proc_stats *st)
{
	st->running = table.lists[PROC_LIST_RUNNING].count;
	st->queued = table.lists[PROC_LIST_QUEUED].count;
	st->total_started = table.total_started;
	st->total_failed = table.total_failed;
}
