/* Unit tests of when the SQLite store reads a worker's start time (store.h,
 * store_record.pidfd): only when it commits a running row, then the time
 * /proc/PID/stat gives; never for a record that ended before its commit (no
 * read at all); never for a worker that is gone (its pid may be another's);
 * and every pidfd it dup'd is closed again.
 *
 * Why the test holds commits back (m->writing, as a commit by another
 * thread does): the writer commits whatever lingered 10 ms, and a loaded
 * machine could let it take a record's running write before its end.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/store.h"
#include "engine/store_sqlite_internal.h"
#include "lib/procstat.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

static const struct store_ops *ops = &store_sqlite_ops;
static char dir[] = "/tmp/unit_store_ticks.XXXXXX";
static char name_[] = "job", target_[] = "sleep", args_[] = "[]";

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

static int fd_count(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Field 22 of /proc/PID/stat, parsed here on its own (not by lib/procstat). */
static unsigned long long stat_start_time(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ticks = 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	char *s = strrchr(buf, ')');
	/* after ") ": state, then fields 4..21, then 22 */
	if (s && sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			&ticks) != 1)
		ticks = 0;
	return ticks;
}

/* A child that waits to be killed, and a pidfd of it. */
static pid_t start_child(int *pidfd)
{
	pid_t pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	*pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	return pid;
}

static void end_child(pid_t pid, int pidfd)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (pidfd >= 0)
		close(pidfd);
}

static void hold_commits(struct store *s, bool hold)
{
	struct sql_store *m = sql(s);
	pthread_mutex_lock(&m->queue_lock);
	m->writing = hold;
	if (!hold)
		pthread_cond_broadcast(&m->queued_cond);
	pthread_mutex_unlock(&m->queue_lock);
}

static uint64_t stored_ticks(struct store *s, const char *id)
{
	struct store_record got;
	if (ops->get(s, id, &got) < 0)
		return (uint64_t)-1;
	uint64_t t = got.start_ticks;
	store_record_release(&got);
	return t;
}

static struct store_record record(int64_t ms, pid_t pid, int pidfd)
{
	struct store_record r = { .name = name_, .target = target_, .args_text = args_, .state = STORE_QUEUED,
				  .pid = pid, .pidfd = pidfd };
	store_id_new(r.id, ms);
	return r;
}

/* Committed running: the start time is the child's, read by the commit. A
 * later running update that gives 0 (the engine never knows it) keeps it. */
static void a_running_row_has_the_start_time(void)
{
	struct store *s;
	int pidfd, fds = fd_count();
	pid_t pid = start_child(&pidfd);
	CHECK(pid > 0 && pidfd >= 0);
	CHECK_INT(ops->open(dir, &s), 0);
	struct store_record r = record(1798000000000LL, pid, pidfd);
	CHECK_INT(ops->insert(s, &r), 0);
	r.state = STORE_RUNNING;
	CHECK_INT(ops->update(s, &r), 0);
	CHECK_INT(store_sync_all(s), 0);
	unsigned long long want = stat_start_time(pid);
	CHECK(want > 0);
	CHECK_INT(stored_ticks(s, r.id), want);
	r.pidfd = -1;                   /* a later update without the pidfd: nothing to read by */
	CHECK_INT(ops->update(s, &r), 0);
	CHECK_INT(store_sync_all(s), 0);
	CHECK_INT(stored_ticks(s, r.id), want);
	ops->close(s);
	end_child(pid, pidfd);
	CHECK_INT(fd_count(), fds);     /* the store's dup is closed */
}

/* Started and ended before the commit, 100 times: the rows have no start
 * time, /proc was never read, and no dup'd pidfd is left open. */
static void a_record_ended_before_its_commit_costs_no_read(void)
{
	struct store *s;
	int pidfd, fds = fd_count();
	pid_t pid = start_child(&pidfd);
	CHECK(pid > 0 && pidfd >= 0);
	CHECK_INT(ops->open(dir, &s), 0);
	char ids[100][STORE_ID_MAX];
	uint64_t reads = procstat_reads();
	int fds_open = fd_count();
	hold_commits(s, true);
	for (int i = 0; i < 100; i++) {
		struct store_record r = record(1798000001000LL + i, pid, pidfd);
		memcpy(ids[i], r.id, sizeof ids[i]);
		CHECK_INT(ops->insert(s, &r), 0);
		r.state = STORE_RUNNING;
		CHECK_INT(ops->update(s, &r), 0);
		r.state = STORE_EXITED;
		CHECK_INT(ops->update(s, &r), 0);
	}
	CHECK_MSG(fd_count() == fds_open, "%d fds, %d before: an ended record's dup is kept", fd_count(), fds_open);
	hold_commits(s, false);
	CHECK_INT(store_sync_all(s), 0);
	CHECK_INT(procstat_reads(), reads);
	for (int i = 0; i < 100; i++)
		CHECK_INT(stored_ticks(s, ids[i]), 0);
	ops->close(s);
	end_child(pid, pidfd);
	CHECK_INT(fd_count(), fds);
}

/* Running when written, but reaped before the commit, and its pid taken by
 * another process (played by a second child, whose pid the record names):
 * the pidfd says the worker is gone, so the time read (the other's) is not
 * stored. */
static void a_recycled_pid_gets_no_start_time(void)
{
	struct store *s;
	int pidfd, other_fd, fds = fd_count();
	pid_t pid = start_child(&pidfd), other = start_child(&other_fd);
	CHECK(pid > 0 && pidfd >= 0 && other > 0);
	CHECK_INT(ops->open(dir, &s), 0);
	struct store_record r = record(1798000002000LL, other, pidfd);
	r.state = STORE_RUNNING;
	hold_commits(s, true);
	CHECK_INT(ops->insert(s, &r), 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	hold_commits(s, false);
	CHECK_INT(store_sync_all(s), 0);
	CHECK(stat_start_time(other) > 0);
	CHECK_INT(stored_ticks(s, r.id), 0);
	ops->close(s);
	close(pidfd);
	end_child(other, other_fd);
	CHECK_INT(fd_count(), fds);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	RUN(a_running_row_has_the_start_time);
	RUN(a_record_ended_before_its_commit_costs_no_read);
	RUN(a_recycled_pid_gets_no_start_time);
	remove_dir();
	return CHECK_EXIT();
}
