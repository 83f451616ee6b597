/* Fault tests of the SQLite store's journal, second review
 * (engine/store_sqlite_journal.c): what happens when a journal file cannot
 * be made or read. Faults come from outside the store: a directory in the
 * state folder where the next journal file is due (its open(2) fails with
 * EISDIR), the store's journal fd replaced by a read-only one (its next
 * pwrite fails with EBADF), an address-space limit at open (a malloc of the
 * replay fails), and, as in unit_store_journal_faults.c, a trigger on the
 * meta table that fails every batch's commit, so that the journal is the
 * only copy of what was synced. A "crash" is a child that _exits without
 * closing the store; a child that hangs is ended by alarm(2). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/store.h"
#include "tests/check.h"
#define FIXTURE_NAME "unit_store_journal_faults2"
#include "tests/store_journal_fixture.h"

CHECK_MAIN_STATE;

static const struct store_ops *ops = &store_sqlite_ops;

/* Every batch's commit fails (the open's own meta write, journal_seq 0,
 * does not). */
static const char fail_every_batch[] =
	"CREATE TRIGGER injected_fail BEFORE UPDATE ON meta WHEN NEW.key = 'journal_seq' AND NEW.value > 0"
	" BEGIN SELECT RAISE(ROLLBACK, 'injected'); END;";

/* A store of d with its schema and every batch's commit failing. */
static int prepare(const char *d)
{
	struct store *s;
	if (ops->open(d, &s) < 0)
		return -1;
	ops->close(s);
	return exec_sql(d, fail_every_batch) == SQLITE_OK ? 0 : -1;
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

/* The generation of the newest journal file in d (not an obstacle), 0 if
 * none. */
static unsigned long journal_gen(const char *d)
{
	DIR *dir = opendir(d);
	struct dirent *e;
	unsigned long gen = 0, g;
	while (dir && (e = readdir(dir)))
		if (e->d_type != DT_DIR && sscanf(e->d_name, "spawnd.journal.%lu", &g) == 1 && g > gen)
			gen = g;
	if (dir)
		closedir(dir);
	return gen;
}

/* A directory where journal file gen is due: making it fails. */
static void obstacle(const char *d, unsigned long gen, bool make)
{
	char path[160];
	snprintf(path, sizeof path, "%s/spawnd.journal.%lu", d, gen);
	if (make ? mkdir(path, 0700) : rmdir(path))
		abort();
}

/* The store's own fd of journal file gen is made read-only: its next
 * write fails (EBADF), as one to a full disk does. */
static int break_journal_fd(const char *d, unsigned long gen)
{
	char want[160], link[300], got[200];
	snprintf(want, sizeof want, "%s/spawnd.journal.%lu", d, gen);
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;
	while (dir && (e = readdir(dir)) && found < 0) {
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, got, sizeof got - 1);
		if (n > 0 && ((got[n] = '\0'), strcmp(got, want) == 0))
			found = atoi(e->d_name);
	}
	if (dir)
		closedir(dir);
	int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (found < 0 || ro < 0 || dup2(ro, found) < 0)
		return -1;
	close(ro);
	return 0;
}

/* Record i, ended, with len bytes of stdout; its sync's result. */
static int insert_synced(struct store *s, int i, size_t len)
{
	struct store_record r;
	record(&r, i, STORE_EXITED);
	if (ops->insert(s, &r) < 0)
		return -100;
	if (len) {
		char *out = malloc(len);
		if (!out)
			return -101;
		memset(out, 'x', len);
		int k = ops->put_output(s, r.id, 0, out, len, NULL, 0);
		free(out);
		if (k < 0)
			return -102;
	}
	return store_sync(s, store_queued(s));
}

static int child_status(pid_t pid)
{
	int status = -1;
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		return 200 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 98;
}

static void quiet(void)
{
	int null = open("/dev/null", O_WRONLY);
	if (null >= 0)
		dup2(null, 2);
}

/* ---- 1: a full journal file whose successor cannot be made ------------------ */

/* The file is past JOURNAL_ROTATE_BYTES (9 MiB of one record's output) and
 * the next one cannot be made (EISDIR; EMFILE or ENOSPC alike). The old
 * file is still good: the next sync should write there (or commit), not
 * retry the create in a loop for as long as no commit lands. */
static int sync_past_a_failed_rotation(const char *d)
{
	struct store *s;
	quiet();
	alarm(10);
	if (ops->open(d, &s) < 0)
		return 99;
	obstacle(d, journal_gen(d) + 1, true);
	if (insert_synced(s, 0, 9u << 20) != 0)
		return 1;
	if (insert_synced(s, 1, 0) != 0)
		return 2;
	return 0;                               /* a crash */
}

static void a_sync_after_a_failed_rotation_does_not_spin(void)
{
	char d[64];
	new_dir(d);
	CHECK_INT(prepare(d), 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(sync_past_a_failed_rotation(d));
	int status = child_status(pid);
	unsigned long gen = journal_gen(d);
	obstacle(d, gen + 1, false);
	CHECK_INT(exec_sql(d, "DROP TRIGGER injected_fail;"), SQLITE_OK);
	int state = state_of(d, 1);
	remove_dir(d);
	CHECK_MSG(status == 0, "the sync after a failed rotation: child status %d (%d: killed by SIGALRM, it spun"
		  " on the create until a commit, and none came)", status, 200 + SIGALRM);
	CHECK_MSG(state == STORE_EXITED, "the record synced after the failed rotation, after a crash: state %d", state);
}

/* ---- 2: after a failed write and a failed create, the journal comes back ----- */

/* A write fails, so does the new file's create: syncs commit instead (and
 * fail, the commits failing). Once a file can be made again, a sync should
 * journal again (within a few seconds); the store never retries, and every
 * later answer waits for a commit (or, with a failing disk, fails) until a
 * restart. */
static int sync_after_the_obstacle_is_gone(const char *d)
{
	struct store *s;
	quiet();
	alarm(10);
	if (ops->open(d, &s) < 0)
		return 99;
	unsigned long gen = journal_gen(d);
	obstacle(d, gen + 1, true);
	if (break_journal_fd(d, gen) < 0)
		return 98;
	if (insert_synced(s, 0, 0) == 0)
		return 97;                      /* neither journaled nor committed */
	obstacle(d, gen + 1, false);
	if (insert_synced(s, 1, 0) == 0)
		return 0;
	/* A store may wait a while before it tries a new file again: up to
	 * 5 s of syncs, each failing at once while it does not. */
	for (int i = 0; i < 50; i++) {
		usleep(100 * 1000);
		if (store_sync(s, store_queued(s)) == 0)
			return 0;
	}
	return 1;
}

static void the_journal_comes_back_after_a_failed_create(void)
{
	char d[64];
	new_dir(d);
	CHECK_INT(prepare(d), 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(sync_after_the_obstacle_is_gone(d));
	int status = child_status(pid);
	CHECK_INT(exec_sql(d, "DROP TRIGGER injected_fail;"), SQLITE_OK);
	int state = state_of(d, 1);
	remove_dir(d);
	CHECK_MSG(status == 0, "a sync once a journal file can be made again: child status %d (1: it failed, the"
		  " store committed instead and never tried the journal again)", status);
	CHECK_MSG(state == STORE_EXITED, "that synced record after a crash: state %d", state);
}

/* ---- 3: a close with no journal file frees the journal's buffer ------------- */

/* Fails only under LeakSanitizer (make SANITIZE=address,undefined): with
 * jfd -1, store_sqlite_journal_close returns before free(m->jbuf). */
static void a_close_without_a_journal_file_frees_its_buffer(void)
{
	char d[64];
	new_dir(d);
	struct store *s;
	CHECK_INT(ops->open(d, &s), 0);
	unsigned long gen = journal_gen(d);
	obstacle(d, gen + 1, true);
	CHECK_INT(break_journal_fd(d, gen), 0);
	int r = insert_synced(s, 0, 100);       /* the write fails, so does the create: a commit */
	ops->close(s);
	obstacle(d, gen + 1, false);
	remove_dir(d);
	CHECK_INT(r, 0);
}

/* ---- 4: a replay that runs out of memory must not lose the journal ---------- */

enum { BIG = 64 << 20 };

static long vm_size_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* The last byte of record i's BIG bytes of stdout, -1 if it has not them. */
static int last_output_byte(const char *d, int i)
{
	struct store *s;
	struct store_record r;
	record(&r, i, STORE_QUEUED);
	if (ops->open(d, &s) < 0)
		return -2;
	unsigned char c = 0;
	int last = ops->read_output(s, r.id, 0, BIG - 1, &c, 1) == 1 ? c : -1;
	ops->close(s);
	return last;
}

/* An open with room for the file's bytes (read_file) but not for a second
 * copy of its big frame's blob (get_bytes): the replay's decode fails. */
static int open_with_little_memory(const char *d)
{
	char path[160];
	struct stat st;
	snprintf(path, sizeof path, "%s/spawnd.journal.%lu", d, journal_gen(d));
	quiet();
	long kb = vm_size_kb();
	if (kb < 0 || stat(path, &st) < 0 || st.st_size < BIG)
		return 99;
	struct rlimit lim = { .rlim_cur = (rlim_t)kb * 1024 + (rlim_t)st.st_size + BIG / 2,
			      .rlim_max = RLIM_INFINITY };
	if (setrlimit(RLIMIT_AS, &lim) < 0)
		return 98;
	struct store *s;
	if (ops->open(d, &s) < 0)
		return 1;                       /* refused: the journal is kept */
	ops->close(s);
	return 0;
}

static void a_replay_out_of_memory_keeps_the_journal(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return;         /* ASan's allocator aborts at RLIMIT_AS rather than return NULL */
#endif
	char d[64];
	new_dir(d);
	CHECK_INT(prepare(d), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct store *s;
		quiet();
		_exit(ops->open(d, &s) < 0 ? 99 : insert_synced(s, 0, BIG) == 0 ? 0 : 1);
	}
	CHECK_INT(child_status(pid), 0);        /* synced, then a crash */
	CHECK_INT(exec_sql(d, "DROP TRIGGER injected_fail;"), SQLITE_OK);
	pid = fork();
	if (pid == 0)
		_exit(open_with_little_memory(d));
	int status = child_status(pid);
	int last = last_output_byte(d, 0);
	remove_dir(d);
	CHECK_MSG(status == 0 || status == 1, "the open with little memory: status %d", status);
	CHECK_MSG(last == 'x', "the synced output after an open that could not decode the journal (%s): last"
		  " byte %d (-1: gone, the open took the undecodable frame for the journal's end and removed"
		  " the file)", status ? "refused" : "succeeded", last);
}

int main(void)
{
	RUN(a_sync_after_a_failed_rotation_does_not_spin);
	RUN(the_journal_comes_back_after_a_failed_create);
	RUN(a_close_without_a_journal_file_frees_its_buffer);
	RUN(a_replay_out_of_memory_keeps_the_journal);
	return CHECK_EXIT();
}
