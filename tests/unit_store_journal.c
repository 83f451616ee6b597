/* Unit tests of the SQLite store's journal (engine/store_sqlite_journal.c):
 * a write synced is in STATE_DIR/spawnd.journal.GEN before any commit, so a
 * crash right after the sync loses none of it; an open replays the journal
 * past what the database committed, and no more; a frame cut short (a kill
 * in the middle of a write) ends the replay; files rotate and old ones go.
 * A "crash" is a child that syncs and _exits without closing the store. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/store.h"
#include "tests/check.h"
#define FIXTURE_NAME "unit_store_journal"
#include "tests/store_journal_fixture.h"

CHECK_MAIN_STATE;

static const struct store_ops *ops = &store_sqlite_ops;
static char timeline_[] = "[\"ended\"]";

/* The journal files in d: how many, and the newest one's path and size. */
static int journals(const char *d, char *newest, size_t len, off_t *size)
{
	DIR *dir = opendir(d);
	struct dirent *e;
	int n = 0;
	unsigned long best = 0;
	while (dir && (e = readdir(dir))) {
		unsigned long gen;
		if (sscanf(e->d_name, "spawnd.journal.%lu", &gen) != 1)
			continue;
		n++;
		if (gen >= best && newest) {
			struct stat st;
			best = gen;
			snprintf(newest, len, "%.63s/%.200s", d, e->d_name);
			*size = stat(newest, &st) == 0 ? st.st_size : -1;
		}
	}
	if (dir)
		closedir(dir);
	return n;
}

/* Runs f in a child on a store of d, which then dies without a close; the
 * child's exit status is f's result. */
static int crash_after(const char *d, int (*f)(struct store *))
{
	pid_t pid = fork();
	if (pid == 0) {
		struct store *s;
		_exit(ops->open(d, &s) < 0 ? 99 : f(s));
	}
	int status = -1;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 98;
}

enum { N = 50 };

/* N records, each inserted running, then ended with its output, each end
 * synced on its own (an answer about it), as the engine does. */
static int ends_synced(struct store *s)
{
	for (int i = 0; i < N; i++) {
		struct store_record r;
		record(&r, i, STORE_RUNNING);
		if (ops->insert(s, &r) < 0)
			return 1;
		char out[32];
		int len = snprintf(out, sizeof out, "out %d\n", i);
		if (ops->put_output(s, r.id, 0, out, (size_t)len, NULL, 0) < 0)
			return 2;
		r.state = STORE_EXITED;
		r.exitcode = i % 7;
		r.stdout_bytes = (uint64_t)len;
		r.timeline_text = timeline_;
		if (ops->update(s, &r) < 0 || store_sync(s, store_queued(s)) < 0)
			return 3;
	}
	return 0;
}

static int check_ends(const char *d)
{
	struct store *s;
	if (ops->open(d, &s) < 0)
		return -1;
	int found = 0;
	for (int i = 0; i < N; i++) {
		struct store_record r, got;
		record(&r, i, STORE_EXITED);
		char out[32], want[32];
		int len = snprintf(want, sizeof want, "out %d\n", i);
		if (ops->get(s, r.id, &got) < 0)
			continue;
		bool ok = got.state == STORE_EXITED && got.exitcode == i % 7 && got.pid == 1000 + i &&
			  got.timeline_text && strcmp(got.timeline_text, timeline_) == 0 &&
			  ops->read_output(s, r.id, 0, 0, out, sizeof out) == len && memcmp(out, want, (size_t)len) == 0;
		found += ok;
		store_record_release(&got);
	}
	ops->close(s);
	return found;
}

/* What was synced is in the journal the moment sync returns, and a crash
 * then loses none of it, whether or not the writer committed meanwhile. */
static void synced_writes_survive_a_crash(void)
{
	char d[64];
	new_dir(d);
	CHECK_INT(crash_after(d, ends_synced), 0);
	char path[300];
	off_t size = 0;
	CHECK_INT(journals(d, path, sizeof path, &size), 1);
	CHECK_MSG(size > 0, "the journal is empty after %d synced writes", N);
	CHECK_INT(check_ends(d), N);
	CHECK_INT(journals(d, NULL, 0, NULL), 0);       /* replayed, committed, and the close removed it */
	remove_dir(d);
}

/* A frame cut short (a kill during its write), or garbage after the last
 * frame, ends the replay there: the open still succeeds with what came
 * before it. */
static void a_cut_journal_replays_up_to_the_cut(void)
{
	char d[64], path[300];
	off_t size = 0;
	new_dir(d);
	CHECK_INT(crash_after(d, ends_synced), 0);
	CHECK_INT(journals(d, path, sizeof path, &size), 1);
	CHECK_INT(truncate(path, size - 3), 0);
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "\x10\0\0\0SPJ1garbage!garbage!", 24), 24);
	close(fd);
	/* The last end's frame is cut; its record may be in the database
	 * anyway (committed meanwhile), every earlier one is there. */
	int found = check_ends(d);
	CHECK_MSG(found == N - 1 || found == N, "%d of %d records after the cut", found, N);
	remove_dir(d);
}

/* A record synced while running (its image in the journal), then ended
 * and committed: the commit moved the journal's replay position past the
 * older image, so a crash does not bring the running state back. */
static int running_then_committed_end(struct store *s)
{
	struct store_record r;
	record(&r, 0, STORE_RUNNING);
	if (ops->insert(s, &r) < 0 || store_sync(s, store_queued(s)) < 0)
		return 1;
	r.state = STORE_EXITED;
	r.exitcode = 3;
	if (ops->update(s, &r) < 0 || store_sync_all(s) < 0)     /* committed */
		return 2;
	return 0;
}

static void a_committed_write_is_not_replayed(void)
{
	char d[64];
	new_dir(d);
	CHECK_INT(crash_after(d, running_then_committed_end), 0);
	struct store *s;
	struct store_record r, got;
	record(&r, 0, STORE_EXITED);
	CHECK_INT(ops->open(d, &s), 0);
	CHECK_INT(ops->get(s, r.id, &got), 0);
	CHECK_INT(got.state, STORE_EXITED);
	CHECK_INT(got.exitcode, 3);
	store_record_release(&got);
	ops->close(s);
	remove_dir(d);
}

/* Records with 64 KiB of output each, synced one by one: past 8 MiB the
 * journal goes on in a new file, and the older ones go once a commit is
 * past them. Every record survives the crash. */
enum { BIG = 64 << 10, BIGN = 160 };
static char big_dir[64];

static unsigned long newest_gen(void)
{
	char path[300];
	off_t size;
	unsigned long gen = 0;
	if (journals(big_dir, path, sizeof path, &size) > 0)
		sscanf(strrchr(path, '.') + 1, "%lu", &gen);
	return gen;
}

static int big_outputs(struct store *s)
{
	static char out[BIG];
	unsigned long first = newest_gen();
	for (int i = 0; i < BIGN; i++) {
		struct store_record r;
		record(&r, i, STORE_EXITED);
		memset(out, 'a' + i % 26, sizeof out);
		r.stdout_bytes = BIG;
		if (ops->insert(s, &r) < 0 || ops->put_output(s, r.id, 0, out, sizeof out, NULL, 0) < 0 ||
		    store_sync(s, store_queued(s)) < 0)
			return 1;
	}
	/* The writer's next batch (within its linger) starts the new file. */
	for (int i = 0; i < 200 && newest_gen() == first; i++)
		usleep(10000);
	return newest_gen() > first ? 0 : 2;    /* 2: it did not rotate */
}

static void the_journal_rotates(void)
{
	char *d = big_dir;
	new_dir(d);
	CHECK_INT(crash_after(d, big_outputs), 0);
	struct store *s;
	CHECK_INT(ops->open(d, &s), 0);
	static char got[BIG];
	for (int i = 0; i < BIGN; i++) {
		struct store_record r;
		record(&r, i, STORE_EXITED);
		long n = ops->read_output(s, r.id, 0, 0, got, sizeof got);
		CHECK_MSG(n == BIG, "record %d: read_output %ld", i, n);
		CHECK_MSG(got[0] == 'a' + i % 26 && got[BIG - 1] == 'a' + i % 26, "record %d's output", i);
	}
	ops->close(s);
	CHECK_INT(journals(d, NULL, 0, NULL), 0);       /* a clean close leaves none */
	remove_dir(d);
}

/* A clean close commits everything and removes the journal. */
static void a_clean_close_leaves_no_journal(void)
{
	char d[64];
	new_dir(d);
	struct store *s;
	CHECK_INT(ops->open(d, &s), 0);
	CHECK_INT(ends_synced(s), 0);
	ops->close(s);
	CHECK_INT(journals(d, NULL, 0, NULL), 0);
	CHECK_INT(check_ends(d), N);
	remove_dir(d);
}

int main(void)
{
	RUN(synced_writes_survive_a_crash);
	RUN(a_cut_journal_replays_up_to_the_cut);
	RUN(a_committed_write_is_not_replayed);
	RUN(the_journal_rotates);
	RUN(a_clean_close_leaves_no_journal);
	return CHECK_EXIT();
}
