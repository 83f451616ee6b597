/* unit_store_objects — the store seam's generic shared-objects API
 * (engine/store.h "Shared objects") in both stores: put replaces, entries
 * come back in bytewise key order after their objects, removing an object
 * removes its entries, and (SQLite) all of it survives a reopen.
 */
#define _GNU_SOURCE
#include "engine/store.h"
#include "tests/check.h"

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

static void memory_store(void) { check_store(&store_mem_ops, dir, false); }
static void sqlite_store(void) { check_store(&store_sqlite_ops, dir, true); }

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/spawnd-storeobj-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	RUN(memory_store);
	RUN(sqlite_store);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return CHECK_EXIT();
}
