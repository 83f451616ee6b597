/* unit_store_objects — the store seam's generic shared-objects API
 * (engine/store.h "Shared objects") in both stores: put replaces, entries
 * come back in bytewise key order after their objects, removing an object
 * removes its entries, and (SQLite) all of it survives a reopen; and
 * (SQLite) a thread that syncs its object write commits it itself, with no
 * hop to the writer thread and back.
 */
#define _GNU_SOURCE
#include "engine/store.h"
#include "tests/check.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int check_failed_cases;
char check_failure[1024];

struct seen { char text[1024]; };

static void on_object(void *ctx, const char *kind, const char *name, const char *state)
{
	struct seen *s = ctx;
	size_t n = strlen(s->text);
	snprintf(s->text + n, sizeof s->text - n, "O %s %s %s|", kind, name, state);
}

static void on_entry(void *ctx, const char *kind, const char *name, const char *key, const char *value)
{
	struct seen *s = ctx;
	size_t n = strlen(s->text);
	snprintf(s->text + n, sizeof s->text - n, "E %s %s %s %s|", kind, name, key, value);
}

static const struct store_objects_visitor visitor = { on_object, on_entry };

static void load(struct store *s, struct seen *out)
{
	out->text[0] = '\0';
	store_sync_all(s);
	s->ops->objects_load(s, &visitor, out);
}

static void fill(struct store *s)
{
	const struct store_ops *o = s->ops;
	o->object_put(s, "queues", "q", "{\"v\":1}");
	o->object_put(s, "queues", "q", "{\"v\":2}");          /* replaces */
	o->object_put(s, "sync/events", "e", "{\"set\":true}");
	o->entry_put(s, "queues", "q", "0000000a", "\"ten\"");
	o->entry_put(s, "queues", "q", "00000002", "\"two\"");
	o->entry_put(s, "queues", "q", "0000000B", "\"eleven\"");  /* 'B' < 'a' bytewise */
	o->entry_put(s, "queues", "q", "00000003", "\"three\"");
	o->entry_remove(s, "queues", "q", "00000003");
}

static const char expected[] =
	"O queues q {\"v\":2}|O sync/events e {\"set\":true}|"
	"E queues q 00000002 \"two\"|E queues q 0000000B \"eleven\"|E queues q 0000000a \"ten\"|";

static void check_store(const struct store_ops *ops, const char *dir, bool durable)
{
	struct store *s;
	struct seen seen;
	CHECK_INT(ops->open(dir, &s), 0);
	fill(s);
	load(s, &seen);
	CHECK_STR(seen.text, expected);
	if (durable) {
		ops->close(s);
		CHECK_INT(ops->open(dir, &s), 0);
		load(s, &seen);
		CHECK_STR(seen.text, expected);
	}
	ops->object_remove(s, "queues", "q");
	load(s, &seen);
	CHECK_STR(seen.text, "O sync/events e {\"set\":true}|");
	ops->close(s);
}

static char dir[64];

/* The voluntary context switches of every thread of this process but the
 * calling one: how often the store's own threads went to sleep. */
static long other_threads_sleeps(void)
{
	long total = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300], line[128];
		if (e->d_name[0] == '.' || atoi(e->d_name) == gettid())
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof line, f))
			if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
				total += atol(line + 24);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return total;
}

static void on_nothing(void *ctx, const char *kind, const char *name, const char *state)
{
	(void)ctx, (void)kind, (void)name, (void)state;
}

static void on_counted(void *ctx, const char *kind, const char *name, const char *key, const char *value)
{
	(void)kind, (void)key, (void)value;
	*(int *)ctx += strcmp(name, "hops") == 0;
}

/* 200 entry writes, each synced before the next, as a queue's put and get
 * answers are: before, each woke the writer thread, which committed and
 * woke the caller back; now the caller writes the journal (the writer
 * commits once its linger ends), so the store's threads sleep (and wake)
 * far fewer than 200 times (0 to 2 measured; 41 to 62 before). A flush
 * (store_sync_all) then makes them all readable. */
static void sqlite_sync_wakes_no_thread(void)
{
	enum { N = 200 };
	struct store *s;
	CHECK_INT(store_sqlite_ops.open(dir, &s), 0);
	store_sync(s, store_queued(s));
	long before = other_threads_sleeps();
	for (int i = 0; i < N; i++) {
		char key[17];
		snprintf(key, sizeof key, "%016x", i);
		CHECK_INT(s->ops->entry_put(s, "queues", "hops", key, "1"), 0);
		CHECK_INT(store_sync(s, store_queued(s)), 0);
	}
	long sleeps = other_threads_sleeps() - before;
	CHECK_INT(store_sync_all(s), 0);
	int entries = 0;
	static const struct store_objects_visitor counter = { on_nothing, on_counted };
	CHECK_INT(s->ops->objects_load(s, &counter, &entries), 0);
	CHECK_INT(entries, N);
	CHECK_MSG(sleeps < N / 10, "the store's threads slept %ld times for %d synced writes", sleeps, N);
	store_sqlite_ops.close(s);
}

static void memory_store(void) { check_store(&store_mem_ops, dir, false); }

/* Counts queue a's entries and whether their keys came in increasing order. */
struct ordered { int n, last; bool ordered; };

static void on_ordered(void *ctx, const char *kind, const char *name, const char *key, const char *value)
{
	struct ordered *o = ctx;
	(void)kind, (void)value;
	if (strcmp(name, "a") != 0)
		return;
	int k = (int)strtol(key, NULL, 16);
	o->ordered = o->ordered && k > o->last;
	o->last = k;
	o->n++;
}

/* Many entries, put in a scrambled order, half removed, then the object
 * removed with the rest: entries load in key order, and nothing else goes. */
static void memory_store_many_entries(void)
{
	enum { N = 2000 };
	struct store *s;
	CHECK_INT(store_mem_ops.open(dir, &s), 0);
	const struct store_ops *o = s->ops;
	CHECK_INT(o->object_put(s, "queues", "a", "{}"), 0);
	CHECK_INT(o->object_put(s, "queues", "b", "{}"), 0);
	CHECK_INT(o->entry_put(s, "queues", "b", "00", "\"kept\""), 0);
	for (int i = 0; i < N; i++) {
		char key[17];
		snprintf(key, sizeof key, "%08x", (i * 7919) % N);      /* 7919 is prime: a permutation */
		CHECK_INT(o->entry_put(s, "queues", "a", key, "1"), 0);
	}
	for (int i = 0; i < N; i += 2) {
		char key[17];
		snprintf(key, sizeof key, "%08x", i);
		CHECK_INT(o->entry_remove(s, "queues", "a", key), 0);
	}
	CHECK_INT(o->entry_remove(s, "queues", "a", "00000000"), -ENOENT);
	struct ordered seen = { 0, -1, true };
	static const struct store_objects_visitor order = { on_nothing, on_ordered };
	CHECK_INT(o->objects_load(s, &order, &seen), 0);
	CHECK_INT(seen.n, N / 2);
	CHECK(seen.ordered);
	CHECK_INT(o->object_remove(s, "queues", "a"), 0);
	CHECK_INT(o->object_remove(s, "queues", "a"), -ENOENT);
	struct seen left;
	load(s, &left);
	CHECK_STR(left.text, "O queues b {}|E queues b 00 \"kept\"|");
	store_mem_ops.close(s);
}
static void sqlite_store(void) { check_store(&store_sqlite_ops, dir, true); }

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/spawnd-storeobj-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	RUN(memory_store);
	RUN(memory_store_many_entries);
	RUN(sqlite_store);
	RUN(sqlite_sync_wakes_no_thread);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return CHECK_EXIT();
}
