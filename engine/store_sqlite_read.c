/* store_sqlite_read — the SQLite store's reads, on the reader connection
 * (read_lock), from any thread without the engine lock (STORE_SHARED_READS).
 */
#define _GNU_SOURCE
#include "engine/store_sqlite_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/histogram.h"

/* ---- reading (any thread, read_lock) -------------------------------------- */

static char *column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static int read_row(sqlite3_stmt *st, struct store_record *r)
{
	*r = (struct store_record){ .pidfd = -1 };
	snprintf(r->id, sizeof r->id, "%s", (const char *)sqlite3_column_text(st, 0));
	r->name = column_dup(st, 1);
	r->target = column_dup(st, 2);
	r->args_text = column_dup(st, 3);
	r->daemon = sqlite3_column_int(st, 4);
	r->timeout = sqlite3_column_double(st, 5);
	r->created_ms = sqlite3_column_int64(st, 6);
	int state = sqlite3_column_int(st, 7);
	r->state = state >= 0 && state < STORE_STATES ? (enum store_state)state : STORE_LOST;
	r->pid = sqlite3_column_int(st, 8);
	r->exitcode = sqlite3_column_int(st, 9);
	r->signal = sqlite3_column_int(st, 10);
	r->reason = sqlite3_column_int(st, 11);
	r->error = column_dup(st, 12);
	r->started_ms = sqlite3_column_int64(st, 13);
	r->ended_ms = sqlite3_column_int64(st, 14);
	r->stdout_bytes = (uint64_t)sqlite3_column_int64(st, 15);
	r->stderr_bytes = (uint64_t)sqlite3_column_int64(st, 16);
	r->start_ticks = (uint64_t)sqlite3_column_int64(st, 17);
	r->launch_text = column_dup(st, 18);
	r->stdout_dropped = (uint64_t)sqlite3_column_int64(st, 19);
	r->stderr_dropped = (uint64_t)sqlite3_column_int64(st, 20);
	r->timeline_text = column_dup(st, 21);
	r->pool = column_dup(st, 22);
	if (!r->name || !r->target || !r->args_text || (!r->error && sqlite3_column_type(st, 12) != SQLITE_NULL) ||
	    (!r->launch_text && sqlite3_column_type(st, 18) != SQLITE_NULL) ||
	    (!r->timeline_text && sqlite3_column_type(st, 21) != SQLITE_NULL) ||
	    (!r->pool && sqlite3_column_type(st, 22) != SQLITE_NULL)) {
		store_record_release(r);
		return -ENOMEM;
	}
	return 0;
}

int store_sqlite_get(struct store *s, const char *id, struct store_record *out)
{
	struct sql_store *m = sql(s);
	pthread_mutex_lock(&m->read_lock);
	store_sqlite_bind_text(m->get_stmt, 1, id);
	int rc = sqlite3_step(m->get_stmt), r;
	if (rc == SQLITE_ROW)
		r = read_row(m->get_stmt, out);
	else
		r = rc == SQLITE_DONE ? -ENOENT : -EIO;
	sqlite3_reset(m->get_stmt);
	pthread_mutex_unlock(&m->read_lock);
	return r;
}

/* Steps st (bound, one blob column) and copies at most len bytes of its blob
 * into buf: how many, or -ENOENT (no row, or NULL), -EIO. */
static long step_blob(sqlite3_stmt *st, void *buf, size_t len)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL)
		return rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT : -EIO;
	const void *b = sqlite3_column_blob(st, 0);
	long r = sqlite3_column_bytes(st, 0);
	if (r > (long)len)
		r = (long)len;
	if (r > 0)
		memcpy(buf, b, (size_t)r);
	return r;
}

/* The query of q; its parameters are bound by bind_query in the same order.
 * A query for records not exited says SQL_UNEXITED too, so that it may use
 * the partial index records_unended (store_sqlite.c); the others walk the
 * id index newest first. */
static void build_query(const struct store_query *q, char *sql_text, size_t len)
{
	bool unexited = (q->state >= 0 && q->state != STORE_EXITED) || q->alive == 1;
	snprintf(sql_text, len, "SELECT " COLUMNS " FROM records WHERE 1%s%s%s%s%s%s ORDER BY id DESC LIMIT ?",
		 unexited ? " AND " SQL_UNEXITED : "", q->state >= 0 ? " AND state=?" : "",
		 q->alive == 1 ? " AND state IN (0,1)" : q->alive == 0 ? " AND state NOT IN (0,1)" : "",
		 q->target ? " AND target=?" : "", q->name ? " AND name=?" : "", q->after ? " AND id<?" : "");
}

static void bind_query(sqlite3_stmt *st, const struct store_query *q)
{
	int i = 1;
	if (q->state >= 0)
		sqlite3_bind_int(st, i++, q->state);
	if (q->target)
		store_sqlite_bind_text(st, i++, q->target);
	if (q->name)
		store_sqlite_bind_text(st, i++, q->name);
	if (q->after)
		store_sqlite_bind_text(st, i++, q->after);
	sqlite3_bind_int64(st, i, (sqlite3_int64)q->limit + 1);   /* one more: is there a next page? */
}

static int read_page(sqlite3_stmt *st, const struct store_query *q, struct store_page *out)
{
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->count == q->limit) {
			snprintf(out->next, sizeof out->next, "%s", out->records[out->count - 1].id);
			return 0;
		}
		if ((size_t)out->count == cap) {
			cap = cap ? cap * 2 : 64;
			struct store_record *grown = realloc(out->records, cap * sizeof *grown);
			if (!grown)
				return -ENOMEM;
			out->records = grown;
		}
		if (read_row(st, &out->records[out->count]) < 0)
			return -ENOMEM;
		out->count++;
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int store_sqlite_list(struct store *s, const struct store_query *q, struct store_page *out)
{
	struct sql_store *m = sql(s);
	char text[512];
	sqlite3_stmt *st;
	*out = (struct store_page){ 0 };
	if ((q->after && !store_id_valid(q->after)) || q->limit < 1)
		return -EINVAL;
	build_query(q, text, sizeof text);
	pthread_mutex_lock(&m->read_lock);
	int r = sqlite3_prepare_v2(m->reader, text, -1, &st, NULL) == SQLITE_OK ? 0 : -EIO;
	if (r == 0) {
		bind_query(st, q);
		r = read_page(st, q, out);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&m->read_lock);
	if (r < 0)
		store_page_release(out);
	return r;
}

/* The first integer column of sql's first row, or 0 (none); false: an error. */
static bool read_number(sqlite3 *db, const char *sql_text, long *out)
{
	sqlite3_stmt *st;
	*out = 0;
	if (sqlite3_prepare_v2(db, sql_text, -1, &st, NULL) != SQLITE_OK)
		return false;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = (long)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

/* The count as last written (at a remove or a close), or, after a crash,
 * the number of the newest record named Process-N when that is larger:
 * names are given in the order of ids (store_sqlite_queue.c); or what
 * set_names gave since open, if more. */
int store_sqlite_get_names(struct store *s, long *given)
{
	struct sql_store *m = sql(s);
	long written = 0, newest = 0;
	pthread_mutex_lock(&m->read_lock);
	bool ok = read_number(m->reader, "SELECT value FROM meta WHERE key='names_given'", &written) &&
		  read_number(m->reader, "SELECT CAST(substr(name, 9) AS INTEGER) FROM records"
			      " WHERE name GLOB 'Process-[0-9]*' ORDER BY id DESC LIMIT 1", &newest);
	pthread_mutex_unlock(&m->read_lock);
	*given = written > newest ? written : newest;
	pthread_mutex_lock(&m->queue_lock);
	m->names_written = written;
	if (*given > m->names_given)
		m->names_given = *given;
	*given = m->names_given;                /* and what this run gave (set_names) */
	pthread_mutex_unlock(&m->queue_lock);
	return ok ? 0 : -EIO;
}

long store_sqlite_read_output(struct store *s, const char *id, int stream, uint64_t offset, void *buf, size_t len)
{
	struct sql_store *m = sql(s);
	sqlite3_stmt *st = m->output_stmt[stream ? 1 : 0];
	pthread_mutex_lock(&m->read_lock);
	store_sqlite_bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)offset + 1);     /* substr counts from 1 */
	sqlite3_bind_int64(st, 3, (sqlite3_int64)len);
	long r = step_blob(st, buf, len);
	sqlite3_reset(st);
	pthread_mutex_unlock(&m->read_lock);
	return r;
}

/* Retention: the ended records past the keep-th newest ended one, or ended
 * (created, when it has no end) before before_ms, oldest first. The keep-th
 * newest is found once per call (an uncorrelated subquery), so one call reads
 * at most the ended rows, on the reader connection. */
int store_sqlite_expired(struct store *s, const struct store_expiry *q, struct store_page *out)
{
	struct sql_store *m = sql(s);
	const struct store_query page = { .limit = q->limit };
	char text[1024];
	sqlite3_stmt *st;
	*out = (struct store_page){ 0 };
	if (q->limit < 1)
		return -EINVAL;
	snprintf(text, sizeof text,
		 "SELECT " COLUMNS " FROM records WHERE state NOT IN (0,1) AND (0%s%s) ORDER BY id LIMIT ?3",
		 q->keep > 0 ? " OR id < coalesce((SELECT id FROM records WHERE state NOT IN (0,1)"
			       " ORDER BY id DESC LIMIT 1 OFFSET ?1), '')" : "",
		 q->before_ms > 0 ? " OR (CASE WHEN ended_ms > 0 THEN ended_ms ELSE created_ms END) < ?2" : "");
	pthread_mutex_lock(&m->read_lock);
	int r = sqlite3_prepare_v2(m->reader, text, -1, &st, NULL) == SQLITE_OK ? 0 : -EIO;
	if (r == 0) {
		sqlite3_bind_int64(st, 1, q->keep - 1);
		sqlite3_bind_int64(st, 2, q->before_ms);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)q->limit + 1);
		r = read_page(st, &page, out);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&m->read_lock);
	if (r < 0)
		store_page_release(out);
	return r;
}

long store_sqlite_read_marks(struct store *s, const char *id, int stream, void *buf, size_t len)
{
	struct sql_store *m = sql(s);
	sqlite3_stmt *st = m->marks_stmt[stream ? 1 : 0];
	pthread_mutex_lock(&m->read_lock);
	store_sqlite_bind_text(st, 1, id);
	long r = step_blob(st, buf, len);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&m->read_lock);
	return r;
}
