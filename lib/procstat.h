/* procstat — a process's start time, as /proc/PID/stat tells it (field 22,
 * clock ticks since boot): with the pid, it names one process for good, even
 * after the pid is recycled (engine/proc_recover.c).
 */
#ifndef SPAWND_PROCSTAT_H
#define SPAWND_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

/* pid's start time, 0 if unreadable. */
uint64_t procstat_start_ticks(pid_t pid);
/* The same, for the process pidfd refers to (pidfd < 0: none, then as
 * above): 0 when that process is gone (reaped) after the read, for then the
 * pid may have been recycled before it and the time read another's. A zombie
 * still counts: its pid cannot be reused. The fd is borrowed. */
uint64_t procstat_start_ticks_held(pid_t pid, int pidfd);
/* How many reads of /proc/PID/stat this process made (any thread): for
 * tests that check a read was saved. */
uint64_t procstat_reads(void);

#endif
