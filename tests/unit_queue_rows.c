/* unit_queue_rows — a durable queue's rows in the SQLite store
 * (objects/queue.c "Persistence"), without HTTP: a put is one batch row, a
 * get moves the head entry's "consumed" instead of removing rows one by
 * one, and a reopen rebuilds the same queue: items got under a lease back
 * at their place with their deliveries, the rest in order, nothing twice,
 * no row left once everything is gone. Also a crash between the commit of
 * a lease's own row and the head entry's (an item in both rows) gives the
 * item once, and the writes of a get are ordered so that a crash between
 * any two of them loses no item.
 */
#define _GNU_SOURCE
#include "objects/objects.h"
#include "engine/store.h"
#include "tests/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int check_failed_cases;
char check_failure[1024];

static struct store *st;
static char dir[64];
static const struct obj_owner client = { false, "" };

static void start(void)
{
	CHECK_INT(store_sqlite_ops.open(dir, &st), 0);
	struct objects_config cfg = { .store = st, .heartbeat_s = 15 };
	objects_init(&cfg);
}

/* A restart: everything queued is committed, the store closed and opened again. */
static void stop(void)
{
	objects_shutdown();
	objects_release();
	store_sync_all(st);
	store_sqlite_ops.close(st);
}

/* The compact answer of one call on queue q (static buffer), "" on failure. */
static const char *call(const char *what, const char *body, double lease_s, double max)
{
	static char text[2048];
	cJSON *b = body ? cJSON_Parse(body) : NULL;
	struct obj_call c = { .caller = &client, .body = b, .query_lease_s = lease_s, .query_max = max };
	int r = objects_call("queues", "q", what, &c);
	char *t = r == 0 && c.result ? cJSON_PrintUnformatted(c.result) : NULL;
	snprintf(text, sizeof text, "%s", t ? t : "");
	free(t);
	cJSON_Delete(c.result);
	cJSON_Delete(b);
	return text;
}

static const char *describe(void)
{
	static char text[1024];
	struct obj_call c = { .caller = &client };
	objects_describe("queues", "q", &c);
	char *t = c.result ? cJSON_PrintUnformatted(c.result) : NULL;
	snprintf(text, sizeof text, "%s", t ? t : "");
	free(t);
	cJSON_Delete(c.result);
	return text;
}

struct rows { char keys[1024]; int n; };

static void on_object(void *ctx, const char *kind, const char *name, const char *state)
{
	(void)ctx, (void)kind, (void)name, (void)state;
}

static void on_entry(void *ctx, const char *kind, const char *name, const char *key, const char *value)
{
	struct rows *r = ctx;
	size_t n = strlen(r->keys);
	(void)kind, (void)name, (void)value;
	snprintf(r->keys + n, sizeof r->keys - n, "%s ", key);
	r->n++;
}

/* The queue's entry keys as they are in the store now, space-separated. */
static const char *stored_keys(void)
{
	static struct rows r;
	static const struct store_objects_visitor v = { on_object, on_entry };
	r.keys[0] = '\0';
	r.n = 0;
	store_sync_all(st);
	st->ops->objects_load(st, &v, &r);
	return r.keys;
}

#define CHECK_HAS(text, part) CHECK_MSG(strstr((text), (part)), "expected %s in %s", (part), (text))

static void batches_come_back_in_order(void)
{
	start();
	struct obj_call c = { .caller = &client };
	CHECK_INT(objects_create("queues", "q", NULL, &c), 201);
	cJSON_Delete(c.result);
	CHECK_HAS(call("put", "{\"items\": [1, 2, 3, 4, 5]}", -1, -1), "\"size\":5");
	CHECK_HAS(call("put", "{\"items\": [6, 7, 8, 9, 10]}", -1, -1), "\"size\":10");
	CHECK_HAS(call("put", "{\"item\": {\"k\": [11]}}", -1, -1), "\"size\":11");
	/* One row per put (and nothing else yet). */
	CHECK_STR(stored_keys(), "8000000000000000+ 8000000000000005+ 800000000000000a+ ");
	CHECK_HAS(call("get", NULL, -1, 3), "\"items\":[1,2,3]");
	CHECK_HAS(call("get", NULL, -1, -1), "\"item\":4");
	/* Across the first two batches, leased: each item a row of its own. */
	CHECK_HAS(call("get", NULL, 60, 2), "\"items\":[5,6]");
	CHECK_HAS(call("get", NULL, -1, 1), "\"items\":[7]");
	CHECK_STR(stored_keys(), "-head 8000000000000004 8000000000000005 8000000000000005+ 800000000000000a+ ");
	stop();
	start();
	CHECK_HAS(describe(), "\"size\":6,\"in_flight\":0,\"unfinished\":11");
	CHECK_HAS(call("get", NULL, -1, 100), "\"items\":[5,6,8,9,10,{\"k\":[11]}],\"deliveries\":[2,2,1,1,1,1]");
	CHECK_STR(stored_keys(), "-head ");
	stop();
	start();
	CHECK_HAS(describe(), "\"size\":0,\"in_flight\":0,\"unfinished\":11");
	CHECK_HAS(call("task_done", NULL, -1, -1), "\"unfinished\":10");
	stop();
}

/* The lease's own row committed, the head entry that moves consumed past
 * the item not: the item is in its batch row and in its own. */
static void an_item_in_two_rows_comes_back_once(void)
{
	start();
	struct obj_call c = { .caller = &client };
	CHECK_INT(objects_create("queues", "q", NULL, &c), 201);
	cJSON_Delete(c.result);
	CHECK_HAS(call("put", "{\"items\": [\"a\", \"b\", \"c\"]}", -1, -1), "\"size\":3");
	stop();
	CHECK_INT(store_sqlite_ops.open(dir, &st), 0);
	st->ops->entry_put(st, "queues", "q", "8000000000000001", "{\"item\":\"b\",\"deliveries\":1}");
	store_sync_all(st);
	store_sqlite_ops.close(st);
	start();
	CHECK_HAS(describe(), "\"size\":3");
	CHECK_HAS(call("get", NULL, -1, 10), "\"items\":[\"a\",\"b\",\"c\"],\"deliveries\":[1,2,1]");
	CHECK_STR(stored_keys(), "-head ");
	stop();
}

/* Removes the last case's state folder; a fresh one for the next (next). */
static int fresh_dir(bool next)
{
	char cmd[128];
	if (dir[0]) {
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			return -1;
	}
	snprintf(dir, sizeof dir, "/tmp/unit_queue_rows.XXXXXX");
	return !next || mkdtemp(dir) ? 0 : -1;
}

/* The same, with the row of its own sorting before the batch row (the
 * batch's first item): the batch's copy is the one dropped, while its row
 * is being loaded, and the row, left with nothing, is removed afterwards. */
static void a_first_item_in_two_rows_comes_back_once(void)
{
	start();
	struct obj_call c = { .caller = &client };
	CHECK_INT(objects_create("queues", "q", NULL, &c), 201);
	cJSON_Delete(c.result);
	CHECK_HAS(call("put", "{\"items\": [\"solo\"]}", -1, -1), "\"size\":1");
	stop();
	CHECK_INT(store_sqlite_ops.open(dir, &st), 0);
	st->ops->entry_put(st, "queues", "q", "8000000000000000", "{\"item\":\"solo\",\"deliveries\":1}");
	store_sync_all(st);
	store_sqlite_ops.close(st);
	start();
	CHECK_HAS(describe(), "\"size\":1");
	CHECK_HAS(call("get", NULL, -1, 10), "\"items\":[\"solo\"],\"deliveries\":[2]");
	CHECK_STR(stored_keys(), "-head ");     /* the emptied batch row too */
	stop();
}

/* The store writes of the calls between record_writes() and writes(), in
 * order: "put KEY" / "rm KEY", space-separated. */
static const struct store_ops *real_ops;
static struct store_ops recording_ops;
static char write_log[1024];

static void log_write(const char *what, const char *key)
{
	size_t n = strlen(write_log);
	snprintf(write_log + n, sizeof write_log - n, "%s %s ", what, key);
}

static int recorded_put(struct store *s, const char *kind, const char *name, const char *key, const char *value)
{
	log_write("put", key);
	return real_ops->entry_put(s, kind, name, key, value);
}

static int recorded_remove(struct store *s, const char *kind, const char *name, const char *key)
{
	log_write("rm", key);
	return real_ops->entry_remove(s, kind, name, key);
}

static void record_writes(void)
{
	real_ops = st->ops;
	recording_ops = *real_ops;
	recording_ops.entry_put = recorded_put;
	recording_ops.entry_remove = recorded_remove;
	st->ops = &recording_ops;
	write_log[0] = '\0';
}

static const char *writes(void)
{
	st->ops = real_ops;
	return write_log;
}

/* The writes of one get may be split between two commits, so a crash can
 * keep any prefix of them: a batch row emptied by a get is removed only
 * after the head entry that moves past its items and after the leased
 * items' own rows, so that no prefix loses an item (a stale row is dropped
 * at load instead). */
static void an_emptied_row_goes_after_the_head(void)
{
	start();
	struct obj_call c = { .caller = &client };
	CHECK_INT(objects_create("queues", "q", NULL, &c), 201);
	cJSON_Delete(c.result);
	CHECK_HAS(call("put", "{\"items\": [1, 2]}", -1, -1), "\"size\":2");
	CHECK_HAS(call("put", "{\"items\": [3, 4]}", -1, -1), "\"size\":4");
	record_writes();
	CHECK_HAS(call("get", NULL, 60, 3), "\"items\":[1,2,3]");
	CHECK_STR(writes(), "put 8000000000000000 put 8000000000000001 put 8000000000000002 put -head "
			    "rm 8000000000000000+ ");
	record_writes();
	CHECK_HAS(call("get", NULL, -1, 1), "\"items\":[4]");
	CHECK_STR(writes(), "put -head rm 8000000000000002+ ");
	stop();
}

int main(void)
{
	if (fresh_dir(true) < 0)
		return 1;
	RUN(batches_come_back_in_order);
	if (fresh_dir(true) < 0)
		return 1;
	RUN(an_item_in_two_rows_comes_back_once);
	if (fresh_dir(true) < 0)
		return 1;
	RUN(a_first_item_in_two_rows_comes_back_once);
	if (fresh_dir(true) < 0)
		return 1;
	RUN(an_emptied_row_goes_after_the_head);
	return fresh_dir(false) < 0 ? 1 : CHECK_EXIT();
}
