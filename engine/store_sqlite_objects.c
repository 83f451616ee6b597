/* store_sqlite_objects — the shared objects' rows in the SQLite store
 * (store.h "Shared objects"): two tables beside the records, written through
 * the same queue and writer thread (so an answer that waits for its write
 * waits for one commit, shared with whatever else is queued), read once at
 * startup on the reader connection. Keys compare bytewise (TEXT's BINARY
 * collation), which is the order a queue's hex sequence keys need.
 */
#define _GNU_SOURCE
#include "engine/store_sqlite_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

const char store_sqlite_objects_schema[] =
	"CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,"
	" PRIMARY KEY (kind, name)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS entries (kind TEXT NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL,"
	" value TEXT NOT NULL, PRIMARY KEY (kind, name, key)) WITHOUT ROWID;";

const char *const store_sqlite_objects_sql[OP_KINDS] = {
	[OP_OBJECT_PUT] = "INSERT OR REPLACE INTO objects (kind, name, state) VALUES (?1, ?2, ?4)",
	[OP_OBJECT_REMOVE] = "DELETE FROM objects WHERE kind=?1 AND name=?2",
	[OP_OBJECT_ENTRIES_REMOVE] = "DELETE FROM entries WHERE kind=?1 AND name=?2",
	[OP_ENTRY_PUT] = "INSERT OR REPLACE INTO entries (kind, name, key, value) VALUES (?1, ?2, ?3, ?4)",
	[OP_ENTRY_REMOVE] = "DELETE FROM entries WHERE kind=?1 AND name=?2 AND key=?3",
};

void store_sqlite_bind_object(sqlite3_stmt *st, const struct op *o)
{
	store_sqlite_bind_text(st, 1, o->obj_kind);
	store_sqlite_bind_text(st, 2, o->obj_name);
	if (o->kind == OP_ENTRY_PUT || o->kind == OP_ENTRY_REMOVE)
		store_sqlite_bind_text(st, 3, o->obj_key);
	if (o->kind == OP_OBJECT_PUT || o->kind == OP_ENTRY_PUT)
		store_sqlite_bind_text(st, 4, o->obj_value);
}

static char *dup_or_null(const char *s, bool *failed)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*failed = true;
	return d;
}

static int queue_object_op(struct store *s, enum op_kind kind, const char *obj_kind, const char *name,
			   const char *key, const char *value)
{
	struct op *o = calloc(1, sizeof *o);
	bool failed = !o;
	if (o) {
		o->kind = kind;
		o->obj_kind = dup_or_null(obj_kind, &failed);
		o->obj_name = dup_or_null(name, &failed);
		o->obj_key = dup_or_null(key, &failed);
		o->obj_value = dup_or_null(value, &failed);
	}
	if (failed) {
		store_sqlite_free_ops(o);
		return -ENOMEM;
	}
	return store_sqlite_enqueue(sql(s), o);
}

int store_sqlite_object_put(struct store *s, const char *kind, const char *name, const char *state)
{
	return queue_object_op(s, OP_OBJECT_PUT, kind, name, NULL, state);
}

int store_sqlite_object_remove(struct store *s, const char *kind, const char *name)
{
	int r = queue_object_op(s, OP_OBJECT_ENTRIES_REMOVE, kind, name, NULL, NULL);
	return r < 0 ? r : queue_object_op(s, OP_OBJECT_REMOVE, kind, name, NULL, NULL);
}

int store_sqlite_entry_put(struct store *s, const char *kind, const char *name, const char *key, const char *value)
{
	return queue_object_op(s, OP_ENTRY_PUT, kind, name, key, value);
}

int store_sqlite_entry_remove(struct store *s, const char *kind, const char *name, const char *key)
{
	return queue_object_op(s, OP_ENTRY_REMOVE, kind, name, key, NULL);
}

static const char *column(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? t : "";
}

/* Runs sql on the reader, calling each(row) for every row. 0 or -EIO. */
static int each_row(struct sql_store *m, const char *sql_text, const struct store_objects_visitor *v, void *ctx,
		    bool entries)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(m->reader, sql_text, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		log_event(LOG_ERROR, "cannot read the shared objects", "error=\"%s\"", sqlite3_errstr(rc));
		return -EIO;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (entries)
			v->entry(ctx, column(st, 0), column(st, 1), column(st, 2), column(st, 3));
		else
			v->object(ctx, column(st, 0), column(st, 1), column(st, 2));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int store_sqlite_objects_load(struct store *s, const struct store_objects_visitor *v, void *ctx)
{
	struct sql_store *m = sql(s);
	/* What was queued before (nothing, at startup) is read back too. */
	int r = store_sqlite_sync(s, store_sqlite_queued(s));
	pthread_mutex_lock(&m->read_lock);
	if (r == 0)
		r = each_row(m, "SELECT kind, name, state FROM objects ORDER BY kind, name", v, ctx, false);
	if (r == 0)
		r = each_row(m, "SELECT kind, name, key, value FROM entries ORDER BY kind, name, key", v, ctx, true);
	pthread_mutex_unlock(&m->read_lock);
	return r;
}
