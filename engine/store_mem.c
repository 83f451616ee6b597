/* store_mem — the in-memory store (store.h): a copy of each record, indexed
 * by id (idmap) and linked in id order, newest first, so a page starts in
 * O(1) from its cursor's record and walks older ones.
 *
 * Ids arrive in increasing order from one node, so an insert is O(1); an
 * older id (another node's, later) walks to its place. A cursor whose record
 * was removed is placed by walking from the newest end.
 *
 * Retention (expired) walks from the oldest end and knows how many ended
 * records there are (kept up to date on every write), so it stops as soon as
 * neither the count nor the age can take more: a store with nothing to
 * prune costs a step or two, not a walk of every record.
 */
#define _GNU_SOURCE
#include "engine/store.h"

#include <errno.h>
#include <search.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/idmap.h"

struct mem_node {
	struct idmap_node link;                 /* first: a link is its node */
	struct store_record rec;
	struct mem_node *newer, *older;
};

/* A shared object's row (key NULL) or one of its entries, in one search
 * tree (libc's tsearch, a red-black tree) ordered by (kind, name, key),
 * objects before their entries: a queue's put or get is O(log n), not a walk
 * past every item before it. */
struct mem_row {
	const char *kind, *name, *key;          /* in text */
	char *value;
	char text[];
};

struct mem_store {
	struct store base;
	void *rows;                             /* tsearch root of struct mem_row */
	struct idmap ids;
	struct mem_node *newest, *oldest;
	long names_given;
	long ended;                             /* records not alive: what retention counts */
};

static struct mem_node *find(struct mem_store *m, const char *id)
{
	return (struct mem_node *)idmap_find(&m->ids, id);
}

static int mem_open(const char *state_dir, struct store **out)
{
	(void)state_dir;                        /* nothing is kept there (yet) */
	struct mem_store *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	if (idmap_init(&m->ids) < 0) {
		free(m);
		return -ENOMEM;
	}
	m->base.ops = &store_mem_ops;
	*out = &m->base;
	return 0;
}

static void free_node(struct mem_node *n)
{
	store_record_release(&n->rec);
	free(n);
}

static void free_row(void *p)
{
	struct mem_row *r = p;
	free(r->value);
	free(r);
}

static void mem_close(struct store *s)
{
	struct mem_store *m = (struct mem_store *)s;
	for (struct mem_node *n = m->newest, *older; n; n = older) {
		older = n->older;
		free_node(n);
	}
	idmap_release(&m->ids);
	tdestroy(m->rows, free_row);
	free(m);
}

/* Links n in id order. */
static void link_ordered(struct mem_store *m, struct mem_node *n)
{
	struct mem_node *newer = NULL, *older = m->newest;
	while (older && strcmp(older->rec.id, n->rec.id) > 0) {
		newer = older;
		older = older->older;
	}
	n->newer = newer;
	n->older = older;
	if (newer) newer->older = n; else m->newest = n;
	if (older) older->newer = n; else m->oldest = n;
}

static int mem_insert(struct store *s, const struct store_record *r)
{
	struct mem_store *m = (struct mem_store *)s;
	if (find(m, r->id))
		return -EEXIST;
	struct mem_node *n = calloc(1, sizeof *n);
	if (!n)
		return -ENOMEM;
	if (store_record_copy(&n->rec, r) < 0) {
		free(n);
		return -ENOMEM;
	}
	n->link.id = n->rec.id;
	m->ended += !store_state_alive(n->rec.state);
	idmap_add(&m->ids, &n->link);
	link_ordered(m, n);
	return 0;
}

static int mem_update(struct store *s, const struct store_record *r)
{
	struct mem_node *n = find((struct mem_store *)s, r->id);
	if (!n)
		return -ENOENT;
	/* The error is set once, when a start fails: copy it only then. */
	if (r->error && (!n->rec.error || strcmp(n->rec.error, r->error) != 0)) {
		char *e = strdup(r->error);
		if (!e)
			return -ENOMEM;
		free(n->rec.error);
		n->rec.error = e;
	}
	if (r->timeline_text && (!n->rec.timeline_text || strcmp(n->rec.timeline_text, r->timeline_text) != 0)) {
		char *t = strdup(r->timeline_text);
		if (!t)
			return -ENOMEM;
		free(n->rec.timeline_text);
		n->rec.timeline_text = t;
	}
	((struct mem_store *)s)->ended += !store_state_alive(r->state) - !store_state_alive(n->rec.state);
	n->rec.state = r->state;
	n->rec.pid = r->pid;
	n->rec.exitcode = r->exitcode;
	n->rec.signal = r->signal;
	n->rec.reason = r->reason;
	n->rec.started_ms = r->started_ms;
	n->rec.ended_ms = r->ended_ms;
	n->rec.stdout_bytes = r->stdout_bytes;
	n->rec.stderr_bytes = r->stderr_bytes;
	if (r->start_ticks)     /* known once: a later update gives 0 (store.h); pidfd is a durable store's */
		n->rec.start_ticks = r->start_ticks;
	n->rec.stdout_dropped = r->stdout_dropped;
	n->rec.stderr_dropped = r->stderr_dropped;
	return 0;
}

static int mem_get(struct store *s, const char *id, struct store_record *out)
{
	struct mem_node *n = find((struct mem_store *)s, id);
	return n ? store_record_copy(out, &n->rec) : -ENOENT;
}

static int mem_remove(struct store *s, const char *id)
{
	struct mem_store *m = (struct mem_store *)s;
	struct mem_node *n = find(m, id);
	if (!n)
		return -ENOENT;
	idmap_del(&m->ids, &n->link);
	m->ended -= !store_state_alive(n->rec.state);
	if (n->newer) n->newer->older = n->older; else m->newest = n->older;
	if (n->older) n->older->newer = n->newer; else m->oldest = n->newer;
	free_node(n);
	return 0;
}

/* The newest record older than the cursor. */
static struct mem_node *page_start(struct mem_store *m, const char *after)
{
	if (!after)
		return m->newest;
	struct mem_node *n = find(m, after);
	if (n)
		return n->older;
	for (n = m->newest; n && strcmp(n->rec.id, after) >= 0; n = n->older)
		;
	return n;
}

static int mem_list(struct store *s, const struct store_query *q, struct store_page *out)
{
	struct mem_store *m = (struct mem_store *)s;
	*out = (struct store_page){ 0 };
	if ((q->after && !store_id_valid(q->after)) || q->limit < 1)
		return -EINVAL;
	size_t cap = q->limit < 64 ? (size_t)q->limit : 64;
	for (struct mem_node *n = page_start(m, q->after); n; n = n->older) {
		if (!store_matches(&n->rec, q))
			continue;
		if (out->count == q->limit) {
			strcpy(out->next, out->records[out->count - 1].id);
			break;
		}
		if (!out->records || (size_t)out->count == cap) {
			cap = out->records ? cap * 2 : cap;
			struct store_record *grown = realloc(out->records, cap * sizeof *grown);
			if (!grown)
				goto nomem;
			out->records = grown;
		}
		if (store_record_copy(&out->records[out->count], &n->rec) < 0)
			goto nomem;
		out->count++;
	}
	return 0;
nomem:
	store_page_release(out);
	return -ENOMEM;
}

/* Appends a copy of r to out (which has room for limit records). */
static int page_add(struct store_page *out, int limit, const struct store_record *r)
{
	if (!out->records && !(out->records = calloc((size_t)limit, sizeof *out->records)))
		return -ENOMEM;
	if (store_record_copy(&out->records[out->count], r) < 0)
		return -ENOMEM;
	out->count++;
	return 0;
}

static int mem_expired(struct store *s, const struct store_expiry *q, struct store_page *out)
{
	struct mem_store *m = (struct mem_store *)s;
	long excess = q->keep > 0 && m->ended > q->keep ? m->ended - q->keep : 0;
	*out = (struct store_page){ 0 };
	if (q->limit < 1)
		return -EINVAL;
	for (struct mem_node *n = m->oldest; n && out->count < q->limit; n = n->newer) {
		/* Ids go in creation order, and nothing ends before it is created. */
		if (!excess && (!q->before_ms || n->rec.created_ms >= q->before_ms))
			break;
		if (store_state_alive(n->rec.state))
			continue;
		int64_t end = n->rec.ended_ms ? n->rec.ended_ms : n->rec.created_ms;
		if (!excess && end >= q->before_ms)
			continue;
		excess -= excess > 0;
		if (page_add(out, q->limit, &n->rec) < 0) {
			store_page_release(out);
			return -ENOMEM;
		}
	}
	return 0;
}

static int mem_get_names(struct store *s, long *given)
{
	*given = ((struct mem_store *)s)->names_given;
	return 0;
}

static int mem_set_names(struct store *s, long given)
{
	((struct mem_store *)s)->names_given = given;
	return 0;
}

/* ---- shared objects: a search tree (a test store; nothing outlives the run) */

/* Orders rows by kind, name, then key (an object's own row, key NULL, first). */
static int row_cmp(const void *pa, const void *pb)
{
	const struct mem_row *a = pa, *b = pb;
	int c = strcmp(a->kind, b->kind);
	if (!c)
		c = strcmp(a->name, b->name);
	if (!c)
		c = !a->key ? (b->key ? -1 : 0) : !b->key ? 1 : strcmp(a->key, b->key);
	return c;
}

static struct mem_row *row_find(struct mem_store *m, const char *kind, const char *name, const char *key)
{
	const struct mem_row probe = { kind, name, key, NULL };
	struct mem_row **found = tfind(&probe, &m->rows, row_cmp);
	return found ? *found : NULL;
}

static int row_put(struct store *s, const char *kind, const char *name, const char *key, const char *value)
{
	struct mem_store *m = (struct mem_store *)s;
	struct mem_row *r = row_find(m, kind, name, key);
	char *v = strdup(value);
	if (!v)
		return -ENOMEM;
	if (r) {
		free(r->value);
		r->value = v;
		return 0;
	}
	size_t lk = strlen(kind) + 1, ln = strlen(name) + 1, lkey = key ? strlen(key) + 1 : 0;
	if (!(r = malloc(sizeof *r + lk + ln + lkey))) {
		free(v);
		return -ENOMEM;
	}
	r->kind = memcpy(r->text, kind, lk);
	r->name = memcpy(r->text + lk, name, ln);
	r->key = key ? memcpy(r->text + lk + ln, key, lkey) : NULL;
	r->value = v;
	if (!tsearch(r, &m->rows, row_cmp)) {
		free_row(r);
		return -ENOMEM;
	}
	return 0;
}

static int mem_object_put(struct store *s, const char *kind, const char *name, const char *state)
{
	return row_put(s, kind, name, NULL, state);
}

static int mem_entry_put(struct store *s, const char *kind, const char *name, const char *key, const char *value)
{
	return row_put(s, kind, name, key, value);
}

static int mem_entry_remove(struct store *s, const char *kind, const char *name, const char *key)
{
	struct mem_store *m = (struct mem_store *)s;
	struct mem_row *r = row_find(m, kind, name, key);
	if (!r)
		return -ENOENT;
	tdelete(r, &m->rows, row_cmp);
	free_row(r);
	return 0;
}

/* An in-order walk of the tree (twalk_r visits an inner node at postorder). */
struct row_walk {
	void (*fn)(struct mem_row *r, struct row_walk *w);
	const char *kind, *name;                /* object_remove's: whose rows */
	struct mem_row **found;
	size_t n, cap;
	const struct store_objects_visitor *v;  /* objects_load's */
	void *ctx;
	bool entries;
};

static void walk_step(const void *node, VISIT which, void *arg)
{
	if (which == postorder || which == leaf)
		((struct row_walk *)arg)->fn(*(struct mem_row *const *)node, arg);
}

static void collect_object_rows(struct mem_row *r, struct row_walk *w)
{
	if (strcmp(r->kind, w->kind) != 0 || strcmp(r->name, w->name) != 0)
		return;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		struct mem_row **more = realloc(w->found, cap * sizeof *more);
		if (!more)
			return;         /* the rows not collected stay (a test store) */
		w->found = more;
		w->cap = cap;
	}
	w->found[w->n++] = r;
}

static int mem_object_remove(struct store *s, const char *kind, const char *name)
{
	struct mem_store *m = (struct mem_store *)s;
	struct row_walk w = { .fn = collect_object_rows, .kind = kind, .name = name };
	twalk_r(m->rows, walk_step, &w);
	for (size_t i = 0; i < w.n; i++) {
		tdelete(w.found[i], &m->rows, row_cmp);
		free_row(w.found[i]);
	}
	free(w.found);
	return w.n ? 0 : -ENOENT;
}

static void visit_row(struct mem_row *r, struct row_walk *w)
{
	if (!r->key && !w->entries)
		w->v->object(w->ctx, r->kind, r->name, r->value);
	else if (r->key && w->entries)
		w->v->entry(w->ctx, r->kind, r->name, r->key, r->value);
}

static int mem_objects_load(struct store *s, const struct store_objects_visitor *v, void *ctx)
{
	struct mem_store *m = (struct mem_store *)s;
	struct row_walk w = { .fn = visit_row, .v = v, .ctx = ctx };
	twalk_r(m->rows, walk_step, &w);
	w.entries = true;
	twalk_r(m->rows, walk_step, &w);
	return 0;
}

const struct store_ops store_mem_ops = {
	.open = mem_open, .close = mem_close, .insert = mem_insert, .update = mem_update,
	.get = mem_get, .remove = mem_remove, .list = mem_list,
	.get_names = mem_get_names, .set_names = mem_set_names, .expired = mem_expired,
	.object_put = mem_object_put, .object_remove = mem_object_remove,
	.entry_put = mem_entry_put, .entry_remove = mem_entry_remove, .objects_load = mem_objects_load,
};
