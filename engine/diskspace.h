/* diskspace — the state folder's free space, watched against a reserve
 * (min_free_space), so that spawnd refuses new work and drops output before
 * the disk is full, instead of failing writes (the store's included) once it
 * is. Thread-safe (a lock of its own).
 */
#ifndef SPAWND_DISKSPACE_H
#define SPAWND_DISKSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* dir is copied. The reserve is min_bytes, or min_percent of the folder's
 * file system when min_percent > 0; 0 and 0: not watched. 0 or -ENOMEM. */
int diskspace_init(const char *dir, uint64_t min_bytes, double min_percent);
void diskspace_release(void);
/* Looks now (statvfs): 0 when the free space is above the reserve, else
 * -ENOSPC (or the statvfs error). *free_bytes and *reserve (either may be
 * NULL) get the figures. */
int diskspace_check(uint64_t *free_bytes, uint64_t *reserve);
/* Whether writing len more bytes would eat into the reserve. For the engine
 * thread's output writes: looks again at most every few ms and otherwise
 * counts the bytes written since, so a steady writer costs no syscalls. */
bool diskspace_reserve_hit(size_t len);
const char *diskspace_dir(void);

#endif
