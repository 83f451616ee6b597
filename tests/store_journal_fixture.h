/* store_journal_fixture — what the SQLite store journal's unit tests
 * (tests/unit_store_journal*.c) share: a state folder of their own, records
 * with fixed ids (store_id_new's random part differs in a child that draws
 * it first, and these tests crash children), and SQL run on the store's
 * database from outside. Define FIXTURE_NAME (the folder's prefix) first.
 */
#ifndef SPAWND_STORE_JOURNAL_FIXTURE_H
#define SPAWND_STORE_JOURNAL_FIXTURE_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/store.h"

static char name_[] = "job", target_[] = "worker", args_[] = "[]";

static inline void new_dir(char *d)
{
	strcpy(d, "/tmp/" FIXTURE_NAME ".XXXXXX");
	if (!mkdtemp(d))
		abort();
}

static inline void remove_dir(const char *d)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", d);
	if (system(cmd) != 0)
		abort();
}

/* Record i, with its id (ms, counter, run, as store.h spells them), pid and
 * creation time fixed by i. */
static inline void record(struct store_record *r, int i, enum store_state state)
{
	*r = (struct store_record){ .name = name_, .target = target_, .args_text = args_, .state = state,
				    .pid = 1000 + i, .created_ms = 5000 + i, .pidfd = -1 };
	snprintf(r->id, sizeof r->id, "%011llx%04x%08x", 0x1a2b3c4d5eULL + (unsigned)i, 0u, 0x5eedu);
}

/* Runs sql on d's database from a connection of the test's own. */
static inline int exec_sql(const char *d, const char *sql)
{
	char path[128];
	snprintf(path, sizeof path, "%s/spawnd.db", d);
	sqlite3 *db;
	int rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

#endif
