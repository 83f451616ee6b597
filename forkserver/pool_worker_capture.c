/* pool_worker_capture — the stdout of a pool worker's tasks (see
 * pool_worker.c): where it goes, and how the worker knows a task wrote.
 *
 * Why the task's stdout is a /dev/shm file watched by inotify: knowing
 * whether a task wrote on fd 1 cost an lseek() per task, a fifth of the
 * CPU of a map of squares, which never print. So the capture is an
 * O_TMPFILE file in /dev/shm (a memfd raises no inotify events), watched for
 * IN_MODIFY, with O_ASYNC: the kernel signals (WRITTEN_SIGNAL) the worker in
 * the write() itself, before the task returns, so a task that wrote is known
 * by a flag, one that did not costs no syscall. Only a task that returned a
 * value is taken at the flag's word (its prints only go to the worker's
 * stdout); one whose stdout is its result is always measured with lseek().
 * What this assumes of a task that returns a value and writes on fd 1: that
 * it leaves WRITTEN_SIGNAL unblocked, with the worker's handler. Once per
 * read of task lines the offset is checked all the same; a write the flag
 * missed turns the watch off for good (an lseek() per task again), and those
 * bytes go to the worker's stdout. Each worker holds an inotify instance
 * (fs.inotify.max_user_instances, 128 by default, counts them: past it the
 * memfd is used). Without /dev/shm, O_TMPFILE or
 * inotify, the capture is a memfd and every task is checked with lseek().
 */
#define _GNU_SOURCE
#include "forkserver/pool_worker.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/fdio.h"

#define CAPTURE_RESET (1 << 20)         /* memfd bytes kept before it is emptied */
#define WRITTEN_SIGNAL (SIGRTMIN + 6)   /* the capture was written (see the design note) */
/* /dev/shm is a tmpfs of its own size (64 MiB in a default container): a
 * task printing more than it has free would fail where a memfd does not,
 * so a smaller one is not used. */
#define SHM_FREE_MIN ((unsigned long long)1 << 30)

static volatile sig_atomic_t written;   /* the capture had a write since the last look */

static void on_written(int sig)
{
	(void)sig;
	written = 1;
}

/* Empties the inotify queue (so the next write signals again) and the flag. */
static void rearm(struct worker *w)
{
	char events[4096];
	written = 0;
	while (read(w->notify, events, sizeof events) > 0)
		;
}

/* What the task wrote on fd 1 (the capture) since it started; a task that
 * returned a value (valued) and was not seen to write is not measured. The
 * capture is emptied only once it has grown, and read through a mapping: a
 * task that prints costs one lseek, not a truncation and a pread. (Only bytes below
 * the file's end are read, so the mapping past it is never touched.) */
char *capture_take(struct worker *w, size_t *len, bool valued)
{
	*len = 0;
	if (valued && w->notify >= 0 && !written)
		return NULL;            /* no write since the last look */
	if (w->notify >= 0)
		rearm(w);
	off_t end = lseek(STDOUT_FILENO, 0, SEEK_CUR);
	if (end <= w->base)
		return NULL;
	size_t want = (size_t)(end - w->base);
	char *buf = malloc(want + 1);
	ssize_t n = -1;
	if (buf && w->map && end <= CAPTURE_MAP) {
		memcpy(buf, w->map + w->base, want);
		n = (ssize_t)want;
	} else if (buf) {
		n = pread(STDOUT_FILENO, buf, want, w->base);
	}
	*len = n > 0 ? (size_t)n : 0;
	w->base = end;
	if (end >= CAPTURE_RESET) {
		if (ftruncate(STDOUT_FILENO, 0) < 0 || lseek(STDOUT_FILENO, 0, SEEK_SET) < 0)
			_exit(125);     /* the next task's output would be mixed with this one's */
		w->base = 0;
		if (w->notify >= 0)
			rearm(w);       /* the truncation was ours, not a task's */
	}
	return buf;
}

/* The watch's check, once per read: bytes past what the tasks were seen to
 * write mean a write the flag missed (a task blocked WRITTEN_SIGNAL, or took
 * it over): they go to the worker's stdout, and every task is checked with
 * lseek() from now on. */
void capture_check(struct worker *w)
{
	if (w->notify < 0)
		return;
	size_t len;
	written = 1;                    /* capture_take() looks */
	char *stray = capture_take(w, &len, false);
	if (!stray)
		return;
	fdio_write_all(w->real_stdout, stray, len);
	free(stray);
	close(w->notify);
	w->notify = -1;
}

/* The capture, watched (w->notify) when it can be, else a memfd (w->notify
 * -1). -1: neither. */
int capture_open(struct worker *w)
{
	struct sigaction sa = { .sa_handler = on_written, .sa_flags = SA_RESTART };
	char path[64];
	struct statvfs shm;
	bool roomy = statvfs("/dev/shm", &shm) == 0 && (unsigned long long)shm.f_bavail * shm.f_frsize >= SHM_FREE_MIN;
	int fd = roomy ? open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
	w->notify = fd >= 0 ? inotify_init1(IN_NONBLOCK | IN_CLOEXEC) : -1;
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	sigemptyset(&sa.sa_mask);
	if (w->notify >= 0 && inotify_add_watch(w->notify, path, IN_MODIFY) >= 0 && sigaction(WRITTEN_SIGNAL, &sa, NULL) == 0 &&
	    fcntl(w->notify, F_SETOWN, getpid()) == 0 && fcntl(w->notify, F_SETSIG, WRITTEN_SIGNAL) == 0 &&
	    fcntl(w->notify, F_SETFL, O_NONBLOCK | O_ASYNC) == 0)
		return fd;
	if (w->notify >= 0)
		close(w->notify);
	if (fd >= 0)
		close(fd);
	w->notify = -1;
	return memfd_create("task-stdout", MFD_CLOEXEC);
}

