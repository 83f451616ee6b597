/* procstat — see procstat.h.
 *
 * Why the pidfd is checked after the read, not before: a process that was
 * still there after its stat file was read was there during the read, so
 * the pid named it then; checked before, it could end and be replaced by
 * the read. pidfd_send_signal with signal 0 checks without signalling; a
 * kernel without it (ENOSYS, or valgrind) leaves the read unchecked, as the
 * engine's own signals fall back to the pid there (engine/proc_record.c).
 */
#define _GNU_SOURCE
#include "lib/procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t reads;

uint64_t procstat_start_ticks(pid_t pid)
{
	char path[64], buf[1024];
	__atomic_add_fetch(&reads, 1, __ATOMIC_RELAXED);
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and parentheses: count
	 * fields after its last ')'. Field 3 comes first; 22 is the 20th. */
	char *s = strrchr(buf, ')');
	for (int field = 2; s && field < 22; field++)
		s = strchr(s + 1, ' ');
	return s ? strtoull(s + 1, NULL, 10) : 0;
}

uint64_t procstat_start_ticks_held(pid_t pid, int pidfd)
{
	uint64_t ticks = procstat_start_ticks(pid);
	if (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 && errno != ENOSYS)
		return 0;
	return ticks;
}

uint64_t procstat_reads(void)
{
	return __atomic_load_n(&reads, __ATOMIC_RELAXED);
}
