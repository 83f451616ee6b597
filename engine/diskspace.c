/* diskspace — see diskspace.h.
 *
 * Why an estimate between looks: statvfs per 1 MiB read from a pipe would
 * be cheap but not free; what this process writes itself is known, so the
 * free space is the last look minus the bytes written since, and a new look
 * is taken every LOOK_MS (others write to the disk too) or when the
 * estimate reaches the reserve (then the truth decides).
 */
#define _GNU_SOURCE
#include "engine/diskspace.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "lib/ts.h"

#define LOOK_MS 200

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *dir;
static uint64_t min_bytes, estimate, reserve_bytes;  /* as of the last look */
static double min_percent;
static int64_t looked_ms;

int diskspace_init(const char *path, uint64_t bytes, double percent)
{
	free(dir);
	dir = strdup(path);
	min_bytes = bytes;
	min_percent = percent;
	looked_ms = 0;
	return dir ? 0 : -ENOMEM;
}

void diskspace_release(void)
{
	free(dir);
	dir = NULL;
}

const char *diskspace_dir(void) { return dir; }

/* Lock held. 0 or -errno; the free bytes (for an unprivileged writer) and the reserve. */
static int look(uint64_t *free_bytes, uint64_t *reserve)
{
	struct statvfs vfs;
	*free_bytes = UINT64_MAX;
	*reserve = 0;
	if (!dir || (!min_bytes && min_percent <= 0))
		return 0;
	if (statvfs(dir, &vfs) < 0)
		return -errno;
	*free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	*reserve = min_percent > 0 ? (uint64_t)((double)vfs.f_blocks * vfs.f_frsize * min_percent / 100.0) : min_bytes;
	estimate = *free_bytes;
	reserve_bytes = *reserve;
	looked_ms = ts_mono_ms();
	return 0;
}

int diskspace_check(uint64_t *free_bytes, uint64_t *reserve)
{
	uint64_t f, r;
	pthread_mutex_lock(&lock);
	int ret = look(&f, &r);
	pthread_mutex_unlock(&lock);
	if (free_bytes)
		*free_bytes = f;
	if (reserve)
		*reserve = r;
	return ret < 0 ? ret : f <= r ? -ENOSPC : 0;
}

bool diskspace_reserve_hit(size_t len)
{
	uint64_t f, r;
	if (!len || !dir || (!min_bytes && min_percent <= 0))
		return false;
	pthread_mutex_lock(&lock);
	if (!looked_ms || ts_mono_ms() - looked_ms >= LOOK_MS || estimate < reserve_bytes + len)
		look(&f, &r);
	bool hit = estimate < reserve_bytes + len;
	if (!hit)
		estimate -= len;
	pthread_mutex_unlock(&lock);
	return hit;
}
