/* Fault tests of the SQLite store's journal (engine/store_sqlite_journal.c,
 * store_sqlite_write.c): what a failed commit does to it. A commit is made
 * to fail from outside, by a trigger this test puts on the store's meta
 * table (the writer updates journal_gen/off/seq in every batch's
 * transaction): RAISE(ABORT) undoes that statement only, RAISE(ROLLBACK) the
 * whole transaction, both as an error a full disk (SQLITE_FULL) can give.
 * A "crash" is a child that syncs and _exits without closing the store. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/store.h"
#include "tests/check.h"
#define FIXTURE_NAME "unit_store_journal_faults"
#include "tests/store_journal_fixture.h"

CHECK_MAIN_STATE;

static const struct store_ops *ops = &store_sqlite_ops;
static char poison_[] = "poison";

/* A store of d with its schema, and trigger sql on its meta table. */
static int prepare(const char *d, const char *trigger)
{
	struct store *s;
	if (ops->open(d, &s) < 0)
		return -1;
	ops->close(s);
	return exec_sql(d, trigger) == SQLITE_OK ? 0 : -1;
}

static int state_of(const char *d, int i)
{
	struct store *s;
	struct store_record r, got;
	record(&r, i, STORE_QUEUED);
	if (ops->open(d, &s) < 0)
		return -2;
	int state = ops->get(s, r.id, &got) < 0 ? -1 : (int)got.state;
	if (state >= 0)
		store_record_release(&got);
	ops->close(s);
	return state;
}

/* ---- 1: a meta write that fails alone leaves the transaction open ---------- */

/* The first batch (journal_seq 1) fails in its meta update; its statement
 * is undone, not its transaction. The write is requeued, and the next
 * batch, with one more write, must commit both: a store whose one failed
 * commit left its transaction open refuses every BEGIN after it. */
static const char fail_first_batch[] =
	"CREATE TRIGGER injected_fail BEFORE UPDATE ON meta WHEN NEW.key = 'journal_seq' AND NEW.value = 1"
	" BEGIN SELECT RAISE(ABORT, 'injected'); END;";

static void a_failed_meta_write_does_not_wedge_the_store(void)
{
	char d[64];
	new_dir(d);
	CHECK_INT(prepare(d, fail_first_batch), 0);
	struct store *s;
	struct store_record a, b, got;
	record(&a, 0, STORE_EXITED);
	record(&b, 1, STORE_EXITED);
	CHECK_INT(ops->open(d, &s), 0);
	CHECK_INT(ops->insert(s, &a), 0);
	CHECK_MSG(store_sync_all(s) < 0, "the injected failure did not happen");
	CHECK_INT(ops->insert(s, &b), 0);
	int r = store_sync_all(s);
	bool found = r == 0 && ops->get(s, a.id, &got) == 0;
	if (found)
		store_record_release(&got);
	ops->close(s);
	remove_dir(d);
	CHECK_MSG(r == 0, "the commit after one failed meta write: %d (every BEGIN now fails)", r);
	CHECK_MSG(found, "the requeued write is not in the database after the next commit");
}

/* ---- 2: a requeued write is journaled after newer writes -------------------- */

/* The first batch fails slowly (the trigger's WHEN counts to a few million)
 * and rolls back: meanwhile the record's end is synced (journaled, waiting
 * for that batch); the batch's insert, requeued, is then journaled after the
 * end. A crash: the replay must not bring back the older running state. */
static const char fail_first_batch_slowly[] =
	"CREATE TRIGGER injected_fail BEFORE UPDATE ON meta WHEN NEW.key = 'journal_seq' AND NEW.value = 1"
	" AND (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)"
	" SELECT count(*) FROM c) > 0"
	" BEGIN SELECT RAISE(ROLLBACK, 'injected'); END;";

static void *flush_thread(void *arg)
{
	store_sync_all(arg);
	return NULL;
}

/* Waits until the store's writer holds the write lock (its batch is in its
 * transaction): our own BEGIN IMMEDIATE is then refused at once. */
static bool batch_in_flight(const char *d)
{
	char path[128];
	snprintf(path, sizeof path, "%s/spawnd.db", d);
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return false;
	bool busy = false;
	for (int i = 0; i < 5000 && !busy; i++) {
		int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		busy = rc == SQLITE_BUSY;
		if (rc == SQLITE_OK)
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		if (!busy)
			usleep(1000);
	}
	sqlite3_close(db);
	return busy;
}

static int end_synced_while_first_batch_fails(const char *d)
{
	struct store *s;
	if (ops->open(d, &s) < 0)
		return 99;
	struct store_record r;
	record(&r, 0, STORE_RUNNING);
	if (ops->insert(s, &r) < 0)                     /* seq 1, not synced */
		return 1;
	pthread_t t;
	if (pthread_create(&t, NULL, flush_thread, s) != 0)
		return 2;
	if (!batch_in_flight(d))
		return 3;
	r.state = STORE_EXITED;
	r.exitcode = 4;
	if (ops->update(s, &r) < 0 || store_sync(s, store_queued(s)) < 0)
		return 4;                               /* answered: "exited" */
	return 0;
}

static void a_requeued_write_does_not_replay_over_a_newer_one(void)
{
	char d[64];
	new_dir(d);
	CHECK_INT(prepare(d, fail_first_batch_slowly), 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(end_synced_while_first_batch_fails(d));
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK_INT(WIFEXITED(status) ? WEXITSTATUS(status) : 98, 0);
	CHECK_INT(exec_sql(d, "DROP TRIGGER injected_fail;"), SQLITE_OK);
	int state = state_of(d, 0);
	remove_dir(d);
	CHECK_MSG(state == STORE_EXITED, "after the crash the record is in state %d, answered %d (exited)", state,
		  STORE_EXITED);
}

/* ---- 3: a close whose last batch fails ---------------------------------------- */

/* Every batch holding the poison record rolls back. Its write was synced
 * (journaled): a close must keep it for the next open, even though the
 * Process-N count's own small commit after it succeeds. */
static const char fail_poison[] =
	"CREATE TRIGGER injected_fail BEFORE UPDATE ON meta WHEN EXISTS (SELECT 1 FROM records WHERE name = 'poison')"
	" BEGIN SELECT RAISE(ROLLBACK, 'injected'); END;";

static void a_close_whose_last_commit_fails_keeps_the_synced_write(void)
{
	char d[64];
	new_dir(d);
	CHECK_INT(prepare(d, fail_poison), 0);
	struct store *s;
	struct store_record r;
	record(&r, 0, STORE_EXITED);
	r.name = poison_;
	CHECK_INT(ops->open(d, &s), 0);
	CHECK_INT(ops->set_names(s, 7), 0);              /* a spawn named Process-7 */
	CHECK_INT(ops->insert(s, &r), 0);
	CHECK_INT(store_sync(s, store_queued(s)), 0);   /* answered: it survives */
	ops->close(s);
	CHECK_INT(exec_sql(d, "DROP TRIGGER injected_fail;"), SQLITE_OK);
	int state = state_of(d, 0);
	remove_dir(d);
	CHECK_MSG(state == STORE_EXITED, "the synced record after the close and an open: state %d", state);
}

int main(void)
{
	RUN(a_failed_meta_write_does_not_wedge_the_store);
	RUN(a_requeued_write_does_not_replay_over_a_newer_one);
	RUN(a_close_whose_last_commit_fails_keeps_the_synced_write);
	return CHECK_EXIT();
}
