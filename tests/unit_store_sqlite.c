/* Unit tests of what only the SQLite store (engine/store_sqlite.c) promises
 * beyond the contract tests/unit_store.c runs on both stores: what it was
 * given is in STATE_DIR/spawnd.db once synced or closed, and a later open of
 * the same folder (a restart) reads it all back, Process-N count included. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/store.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

static const struct store_ops *ops = &store_sqlite_ops;
static char dir[] = "/tmp/unit_store_sqlite.XXXXXX";
static char name_[] = "job", target_[] = "worker", args_[] = "[1,\"two\"]", error_[] = "gone";

static void remove_dir(void)
{
	char path[128];
	static const char *const files[] = { "spawnd.db", "spawnd.db-wal", "spawnd.db-shm" };
	for (int f = 0; f < 3; f++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[f]);
		unlink(path);
	}
	rmdir(dir);
}

/* Closing writes what is queued; opening again reads every field back. */
static void records_survive_a_reopen(void)
{
	enum { N = 2000 };
	static char ids[N][STORE_ID_MAX];
	struct store *s;
	CHECK_INT(ops->open(dir, &s), 0);
	for (int i = 0; i < N; i++) {
		store_id_new(ids[i], 1795000000000LL + i);
		struct store_record r = { .name = name_, .target = target_, .args_text = args_, .daemon = i % 2,
					  .timeout = 1.5, .created_ms = 1000 + i, .state = STORE_QUEUED };
		snprintf(r.id, sizeof r.id, "%s", ids[i]);
		CHECK_INT(ops->insert(s, &r), 0);
		/* every transition is written: the last one counts */
		r.state = STORE_RUNNING;
		r.pid = 100 + i;
		CHECK_INT(ops->update(s, &r), 0);
		r.state = i % 3 ? STORE_EXITED : STORE_FAILED;
		r.exitcode = i % 256;
		r.error = i % 3 ? NULL : error_;
		r.stdout_bytes = (uint64_t)i << 33;     /* past 32 bits */
		r.start_ticks = 77;
		CHECK_INT(ops->update(s, &r), 0);
	}
	CHECK_INT(ops->set_names(s, 12345), 0);
	ops->close(s);

	CHECK_INT(ops->open(dir, &s), 0);
	long given = 0;
	CHECK_INT(ops->get_names(s, &given), 0);
	CHECK_INT(given, 12345);
	for (int i = 0; i < N; i += 97) {
		struct store_record got;
		CHECK_INT(ops->get(s, ids[i], &got), 0);
		CHECK_STR(got.args_text, "[1,\"two\"]");
		CHECK_INT(got.daemon, i % 2);
		CHECK_INT(got.state, i % 3 ? STORE_EXITED : STORE_FAILED);
		CHECK_INT(got.pid, 100 + i);
		CHECK_INT(got.exitcode, i % 256);
		CHECK(i % 3 ? got.error == NULL : strcmp(got.error, "gone") == 0);
		CHECK(got.stdout_bytes == (uint64_t)i << 33);
		CHECK_INT(got.start_ticks, 77);
		CHECK_INT(got.created_ms, 1000 + i);
		CHECK(got.timeout == 1.5);
		store_record_release(&got);
	}
	struct store_query q = { .state = STORE_FAILED, .alive = -1, .limit = N };
	struct store_page page;
	CHECK_INT(ops->list(s, &q, &page), 0);
	CHECK_INT(page.count, (N + 2) / 3);
	CHECK_STR(page.records[0].id, ids[(N - 1) / 3 * 3]);      /* newest first */
	store_page_release(&page);
	ops->close(s);
}

/* A folder where no database can be made is an error at open, not later. */
static void an_unusable_folder_fails_at_open(void)
{
	struct store *s;
	CHECK(ops->open("/nonexistent/folder", &s) < 0);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	RUN(records_survive_a_reopen);
	RUN(an_unusable_folder_fails_at_open);
	remove_dir();
	return CHECK_EXIT();
}
