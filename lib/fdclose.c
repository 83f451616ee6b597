/* fdclose — see fdclose.h.
 *
 * close_range(2) closes them in one syscall (Linux 5.9), and it is what runs
 * on every worker's start. Where it is missing (ENOSYS: an older kernel, or a
 * seccomp filter that refuses it) or fails, an fd left open would leak into a
 * worker (spawnd's channels to the fork server, say), so there are two
 * fallbacks, slower but complete: close what /proc/self/fd lists, read with
 * getdents64 into a buffer on the stack (no opendir: it mallocs), and without
 * /proc every number up to RLIMIT_NOFILE's soft limit (no fd can be opened at
 * or above it; one opened before the limit was lowered would stay open).
 * Closing while listing is safe: /proc/self/fd is read by fd number, so the
 * next read goes on after the last number listed.
 */
#define _GNU_SOURCE
#include "lib/fdclose.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The fd number a /proc/self/fd entry names, or -1 ("." and ".."). */
static long entry_fd(const char *name)
{
	long fd = 0;
	if (*name < '0' || *name > '9')
		return -1;
	for (; *name >= '0' && *name <= '9'; name++)
		fd = fd * 10 + (*name - '0');
	return *name ? -1 : fd;
}

/* 0, or -errno if /proc/self/fd could not be listed (then try the limit). */
static int close_listed(unsigned lowfd)
{
	_Alignas(struct dirent64) char buf[2048];
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
		if (n <= 0) {
			int r = n < 0 ? -errno : 0;
			close(dir);
			return r;
		}
		for (long at = 0; at < n;) {
			const struct dirent64 *d = (const struct dirent64 *)(buf + at);
			long fd = entry_fd(d->d_name);
			if (fd >= (long)lowfd && fd != dir)
				close((int)fd);
			at += d->d_reclen;
		}
	}
}

static int close_up_to_limit(unsigned lowfd)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	rlim_t end = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX ? INT_MAX : rl.rlim_cur;
	for (rlim_t fd = lowfd; fd < end; fd++)
		close((int)fd);
	return 0;
}

int fdclose_from(unsigned lowfd)
{
	if (syscall(SYS_close_range, lowfd, ~0U, 0U) == 0)
		return 0;
	if (close_listed(lowfd) == 0)
		return 0;
	return close_up_to_limit(lowfd);
}
