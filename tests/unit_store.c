/* Unit tests of the store seam (engine/store.h) through its operations
 * table, the same contract run on both stores (in memory and SQLite):
 * records are values, lists are filtered and paged by the store, cursors are
 * ids and stay valid, ids sort by creation. A store with asynchronous writes
 * is synced before it is read (reads see a write once it is synced), and
 * reports no -ENOENT/-EEXIST for writes (its writer logs them). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/proc.h"
#include "engine/proc_record.h"
#include "engine/proc_table.h"
#include "engine/store.h"
#include "lib/ts.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

static const struct store_ops *ops = &store_mem_ops;
static char dirs[8][64];
static int ndirs;

/* A new store in a new state folder. */
static int open_new(struct store **s)
{
	if (ndirs == 8)
		return -ENOSPC;
	char *dir = dirs[ndirs++];
	snprintf(dir, sizeof dirs[0], "/tmp/unit_store.XXXXXX");
	return mkdtemp(dir) ? ops->open(dir, s) : -errno;
}

static void remove_dirs(void)
{
	char path[600];
	for (int i = 0; i < ndirs; i++) {
		static const char *const files[] = { "spawnd.db", "spawnd.db-wal", "spawnd.db-shm" };
		for (int f = 0; f < 3; f++) {
			snprintf(path, sizeof path, "%s/%s", dirs[i], files[f]);
			unlink(path);
		}
		rmdir(dirs[i]);
	}
	ndirs = 0;
}

static bool async_writes(void) { return ops->flags & STORE_ASYNC_WRITES; }
static void sync_(struct store *s) { store_sync_all(s); }

static char args[] = "[]", no_such_file[] = "no such file", renamed[] = "renamed";

/* A record whose strings are the caller's (the store copies them). */
static struct store_record rec(const char *id, char *name, char *target, enum store_state st)
{
	struct store_record r = { .name = name, .target = target, .args_text = args, .state = st, .created_ms = 1000 };
	snprintf(r.id, sizeof r.id, "%s", id);
	return r;
}

/* n records with made ids, oldest first, alternating names and states. */
static char even[] = "even", odd[] = "odd", worker[] = "worker", sleep_[] = "sleep", n_[] = "n", t_[] = "t";

static int fill(struct store *s, int n, char ids[][STORE_ID_MAX])
{
	for (int i = 0; i < n; i++) {
		store_id_new(ids[i], 1795000000000LL);
		struct store_record r = rec(ids[i], i % 2 ? odd : even, i % 3 ? worker : sleep_,
					    i % 4 == 0 ? STORE_RUNNING : STORE_EXITED);
		if (ops->insert(s, &r) < 0)
			return -1;
	}
	return 0;
}

static void records_are_values(void)
{
	struct store *s;
	CHECK_INT(open_new(&s), 0);
	char name[] = "alpha";
	struct store_record r = rec("0000000000100000aaaaaaa", name, worker, STORE_QUEUED);
	CHECK_INT(ops->insert(s, &r), 0);
	if (!async_writes())
		CHECK_INT(ops->insert(s, &r), -EEXIST);
	name[0] = 'X';                  /* the store kept its own copy */
	struct store_record got;
	sync_(s);
	CHECK_INT(ops->get(s, r.id, &got), 0);
	CHECK_STR(got.name, "alpha");
	got.name[0] = 'Y';              /* and hands out copies */
	store_record_release(&got);
	r.state = STORE_FAILED;
	r.error = no_such_file;
	r.pid = 42;
	r.stdout_bytes = 7;
	r.name = renamed;     /* fixed at insert: not written by update */
	r.start_ticks = 123456789;
	CHECK_INT(ops->update(s, &r), 0);
	sync_(s);
	CHECK_INT(ops->get(s, r.id, &got), 0);
	CHECK_STR(got.name, "alpha");
	CHECK_STR(got.error, "no such file");
	CHECK_INT(got.state, STORE_FAILED);
	CHECK_INT(got.pid, 42);
	CHECK_INT(got.stdout_bytes, 7);
	CHECK_INT(got.start_ticks, 123456789);
	store_record_release(&got);
	CHECK_INT(ops->remove(s, r.id), 0);
	if (!async_writes())
		CHECK_INT(ops->remove(s, r.id), -ENOENT);
	sync_(s);
	CHECK_INT(ops->get(s, r.id, &got), -ENOENT);
	if (!async_writes())
		CHECK_INT(ops->update(s, &r), -ENOENT);
	ops->close(s);
}

static void lists_filter_and_page_newest_first(void)
{
	enum { N = 3000 };
	static char ids[N][STORE_ID_MAX];
	struct store *s;
	struct store_page page;
	CHECK_INT(open_new(&s), 0);
	CHECK_INT(fill(s, N, ids), 0);
	sync_(s);
	/* Every record, 7 a page, newest first, no gap, no duplicate. */
	struct store_query q = { .state = -1, .alive = -1, .limit = 7 };
	char cursor[STORE_ID_MAX] = "";
	int seen = 0, pages = 0;
	do {
		q.after = cursor[0] ? cursor : NULL;
		CHECK_INT(ops->list(s, &q, &page), 0);
		for (int i = 0; i < page.count; i++, seen++)
			CHECK_MSG(seen < N && strcmp(page.records[i].id, ids[N - 1 - seen]) == 0, "entry %d", seen);
		snprintf(cursor, sizeof cursor, "%s", page.next);
		store_page_release(&page);
		pages++;
	} while (cursor[0] && pages <= N);
	CHECK_INT(seen, N);
	CHECK_INT(pages, (N + 6) / 7);
	/* Filters are the store's: name, target, state, alive. */
	q = (struct store_query){ .state = -1, .alive = 1, .name = "even", .target = "sleep", .limit = 1000 };
	CHECK_INT(ops->list(s, &q, &page), 0);
	for (int i = 0; i < page.count; i++) {
		struct store_record *r = &page.records[i];
		CHECK(strcmp(r->name, "even") == 0 && strcmp(r->target, "sleep") == 0 && r->state == STORE_RUNNING);
	}
	CHECK_INT(page.count, N / 12);          /* i % 12 == 0 */
	store_page_release(&page);
	q = (struct store_query){ .state = STORE_EXITED, .alive = -1, .limit = 1000 };
	CHECK_INT(ops->list(s, &q, &page), 0);
	CHECK_INT(page.count, 1000);
	CHECK(page.next[0] != '\0');
	store_page_release(&page);
	ops->close(s);
}

static void cursors_survive_removal_and_restart(void)
{
	enum { N = 20 };
	char ids[N][STORE_ID_MAX];
	struct store *s, *again;
	struct store_page page;
	CHECK_INT(open_new(&s), 0);
	CHECK_INT(fill(s, N, ids), 0);
	sync_(s);
	struct store_query q = { .state = -1, .alive = -1, .limit = 5 };
	CHECK_INT(ops->list(s, &q, &page), 0);
	CHECK_STR(page.next, ids[N - 5]);
	char cursor[STORE_ID_MAX];
	snprintf(cursor, sizeof cursor, "%s", page.next);
	store_page_release(&page);
	/* The cursor's record is removed: the next page still starts after it. */
	CHECK_INT(ops->remove(s, cursor), 0);
	sync_(s);
	q.after = cursor;
	CHECK_INT(ops->list(s, &q, &page), 0);
	CHECK_INT(page.count, 5);
	CHECK_STR(page.records[0].id, ids[N - 6]);
	store_page_release(&page);
	/* Another store with the same records (a restart, another node's
	 * copy): the cursor means the same there, nothing of it is in memory. */
	CHECK_INT(open_new(&again), 0);
	for (int i = N - 1; i >= 0; i--) {     /* inserted in any order */
		struct store_record r = rec(ids[i], n_, t_, STORE_EXITED);
		CHECK_INT(ops->insert(again, &r), 0);
	}
	sync_(again);
	CHECK_INT(ops->list(again, &q, &page), 0);
	CHECK_INT(page.count, 5);
	CHECK_STR(page.records[0].id, ids[N - 6]);
	CHECK_STR(page.records[4].id, ids[N - 10]);
	store_page_release(&page);
	ops->close(again);
	ops->close(s);
}

static void bad_cursors_are_einval(void)
{
	struct store *s;
	struct store_page page;
	CHECK_INT(open_new(&s), 0);
	/* empty, not hex, too short, too long, upper case, a space */
	static const char *const bad[] = { "", "zzz", "12", "0000000000100000aaaaaaaa", "000000000010000AAAAAAAA",
					   "000000000010000aaaa aaa" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct store_query q = { .state = -1, .alive = -1, .after = bad[i], .limit = 5 };
		CHECK_MSG(ops->list(s, &q, &page) == -EINVAL, "cursor \"%s\"", bad[i]);
		CHECK(page.count == 0 && page.records == NULL);
	}
	ops->close(s);
}

/* Ids sort by creation, never repeat, even when the clock goes back or more
 * than 65536 are made in one ms, and carry the same run part. */
static void ids_sort_by_creation(void)
{
	enum { N = 70000 };
	static char ids[N][STORE_ID_MAX];
	for (int i = 0; i < N; i++) {
		int64_t ms = i < 10 ? 1795000001000LL - i : 1795000002000LL;   /* back, then stuck */
		store_id_new(ids[i], ms);
		CHECK_MSG(store_id_valid(ids[i]), "%s", ids[i]);
		CHECK_INT(strlen(ids[i]), STORE_ID_LEN);
		if (i)
			CHECK_MSG(strcmp(ids[i - 1], ids[i]) < 0, "%s then %s", ids[i - 1], ids[i]);
		CHECK(strcmp(ids[i] + 15, ids[0] + 15) == 0);
	}
}

/* A store that is out of memory when it lists; the rest is never called. */
static struct store full_store;
static int full_open(const char *dir, struct store **out) { *out = &full_store; return 0; }
static void full_close(struct store *s) { }
static int full_list(struct store *s, const struct store_query *q, struct store_page *out)
{
	*out = (struct store_page){ 0 };
	return q->after && !store_id_valid(q->after) ? -EINVAL : -ENOMEM;
}
static const struct store_ops full_ops = { .open = full_open, .close = full_close, .list = full_list };

/* proc_list_json passes the store's error on: out of memory is -ENOMEM (the
 * handler answers 500 internal), only a bad cursor is -EINVAL (400). */
static void list_errors_reach_the_caller(void)
{
	char dir[] = "/tmp/unit_store.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	full_store.ops = &full_ops;
	struct proc_config cfg = { .state_dir = dir, .max_running = 1, .max_queued = 1 };
	CHECK_INT(proc_table_open(&cfg, &full_ops), 0);
	struct proc_filter f = { .alive = -1, .limit = 10 };
	int err = 0;
	CHECK(proc_list_json(&f, &err) == NULL);
	CHECK_INT(err, -ENOMEM);
	f.after = "not a cursor";
	err = 0;
	CHECK(proc_list_json(&f, &err) == NULL);
	CHECK_INT(err, -EINVAL);
	proc_table_close();
	char out[64];
	snprintf(out, sizeof out, "%s/output", dir);
	rmdir(out);
	rmdir(dir);
}

/* The Process-N count is the store's: it starts at 0 and keeps what it is given. */
static void names_are_counted(void)
{
	struct store *s;
	long given = -1;
	CHECK_INT(open_new(&s), 0);
	CHECK_INT(ops->get_names(s, &given), 0);
	CHECK_INT(given, 0);
	CHECK_INT(ops->set_names(s, 41), 0);
	sync_(s);
	CHECK_INT(ops->get_names(s, &given), 0);
	CHECK_INT(given, 41);
	ops->close(s);
}

/* The ids of expired(keep, before_ms, limit), by their index in ids, as "1 2 3". */
static void expired_text(struct store *s, long keep, int64_t before_ms, int limit, char ids[][STORE_ID_MAX],
			 int n, char *out, size_t cap)
{
	struct store_page page;
	const struct store_expiry q = { .keep = keep, .before_ms = before_ms, .limit = limit };
	size_t used = 0;
	out[0] = '\0';
	if (ops->expired(s, &q, &page) < 0) {
		snprintf(out, cap, "error");
		return;
	}
	for (int i = 0; i < page.count; i++)
		for (int k = 0; k < n; k++)
			if (strcmp(page.records[i].id, ids[k]) == 0)
				used += (size_t)snprintf(out + used, cap - used, "%s%d", used ? " " : "", k);
	store_page_release(&page);
}

/* Retention's read: ended records past the keep-th newest ended one, or
 * ended before before_ms, oldest first; running ones never, nor counted. */
static void expired_by_count_and_age(void)
{
	struct store *s;
	char ids[10][STORE_ID_MAX], got[128];
	CHECK_INT(open_new(&s), 0);
	for (int i = 0; i < 10; i++) {      /* 0, 4, 8 run; 1 2 3 5 6 7 9 ended at 2000 + i */
		store_id_new(ids[i], 1795000000000LL);
		struct store_record r = rec("", even, worker, i % 4 == 0 ? STORE_RUNNING : STORE_EXITED);
		memcpy(r.id, ids[i], sizeof r.id);
		r.created_ms = 1000 + i;
		r.ended_ms = i % 4 == 0 ? 0 : 2000 + i;
		CHECK_INT(ops->insert(s, &r), 0);
	}
	sync_(s);
	expired_text(s, 3, 0, 100, ids, 10, got, sizeof got);
	CHECK_STR(got, "1 2 3 5");
	expired_text(s, 3, 0, 2, ids, 10, got, sizeof got);
	CHECK_STR(got, "1 2");
	expired_text(s, 0, 2004, 100, ids, 10, got, sizeof got);
	CHECK_STR(got, "1 2 3");
	expired_text(s, 6, 2003, 100, ids, 10, got, sizeof got);
	CHECK_STR(got, "1 2");
	expired_text(s, 0, 0, 100, ids, 10, got, sizeof got);
	CHECK_STR(got, "");
	expired_text(s, 20, 0, 100, ids, 10, got, sizeof got);
	CHECK_STR(got, "");
	struct store_record r = rec("", even, worker, STORE_EXITED);       /* an end is counted */
	memcpy(r.id, ids[0], sizeof r.id);
	r.ended_ms = 2010;
	CHECK_INT(ops->update(s, &r), 0);
	CHECK_INT(ops->remove(s, ids[1]), 0);                              /* a removal too */
	sync_(s);
	expired_text(s, 3, 0, 100, ids, 10, got, sizeof got);
	CHECK_STR(got, "0 2 3 5");
	ops->close(s);
}

/* A durable store that has every write on disk; the rest is never called. */
static struct store durable_store;
static int durable_open(const char *dir, struct store **out) { *out = &durable_store; return 0; }
static bool durable_written(struct store *s, uint64_t seq) { return true; }
static const struct store_ops durable_ops = { .flags = STORE_DURABLE, .open = durable_open, .close = full_close,
					      .written = durable_written };

static struct proc *ended_at(const char *id, int64_t ended_ms)
{
	struct proc *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	snprintf(p->rec.id, sizeof p->rec.id, "%s", id);
	p->link.id = p->rec.id;
	p->list_id = PROC_LIST_NONE;
	p->rec.ended_ms = ended_ms;
	proc_table_index(p);
	proc_table_move(p, PROC_LIST_NONE, PROC_LIST_ENDED);
	return p;
}

/* An ended record whose end is on disk leaves memory, but not at once: the
 * waiters its end woke answer from it, not from the store. A record ended
 * a minute ago (or in the future: the clock went back) leaves. */
static void ended_records_leave_memory_after_a_moment(void)
{
	char dir[] = "/tmp/unit_store.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	durable_store.ops = &durable_ops;
	struct proc_config cfg = { .state_dir = dir, .max_running = 1, .max_queued = 1 };
	CHECK_INT(proc_table_open(&cfg, &durable_ops), 0);
	int64_t now = ts_wall_ms();
	CHECK(ended_at("old", now - 60000) && ended_at("ahead", now + 3600000) && ended_at("recent", now));
	CHECK(proc_table_evict());              /* "recent" is to be swept later */
	CHECK(proc_table_find("old") == NULL && proc_table_find("ahead") == NULL);
	CHECK(proc_table_find("recent") != NULL);
	CHECK_INT(proc_table_count(PROC_LIST_ENDED), 1);
	struct proc *p = proc_table_find("recent");
	proc_table_forget(p);
	proc_free(p);
	proc_table_close();
	char out[64];
	snprintf(out, sizeof out, "%s/output", dir);
	rmdir(out);
	rmdir(dir);
}

int main(void)
{
	static const struct store_ops *const stores[] = { &store_mem_ops, &store_sqlite_ops };
	for (size_t i = 0; i < 2; i++) {
		ops = stores[i];
		fprintf(stderr, "store %s\n", i ? "sqlite" : "memory");
		RUN(records_are_values);
		RUN(lists_filter_and_page_newest_first);
		RUN(cursors_survive_removal_and_restart);
		RUN(bad_cursors_are_einval);
		RUN(names_are_counted);
		RUN(expired_by_count_and_age);
		remove_dirs();
	}
	RUN(ids_sort_by_creation);
	RUN(list_errors_reach_the_caller);
	RUN(ended_records_leave_memory_after_a_moment);
	return CHECK_EXIT();
}
