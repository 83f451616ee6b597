/* fdio — the one write loop: all of a buffer to a blocking fd.
 *
 * Retries short writes and EINTR. Never closes fd.
 */
#ifndef SPAWND_FDIO_H
#define SPAWND_FDIO_H

#include <stddef.h>

/* 0, or -errno of the write that failed (some bytes may have been written). */
int fdio_write_all(int fd, const void *buf, size_t len);

#endif
