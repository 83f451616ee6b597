/* proc_stdin — a worker's stdin: what is queued for it, written as the pipe
 * takes it, so no thread ever blocks on a full pipe. Engine lock held for all.
 * Fds: p->stdin_fd (non-blocking, handed over by the fork server) is owned by
 * the record and closed by proc_stdin_close(); while the pipe is full it sits
 * in the engine's epoll set for EPOLLOUT (tag p->watch[PROC_STDIN_TAG]).
 */
#ifndef SPAWND_PROC_STDIN_H
#define SPAWND_PROC_STDIN_H

#include <stddef.h>

#include "engine/proc_record.h"

/* Appends data to what is pending. 0, -ENOBUFS (over PROC_STDIN_MAX), -ENOMEM. */
int proc_stdin_queue(struct proc *p, const void *data, size_t len);
/* Writes what the pipe takes now (and on EPOLLOUT). */
void proc_stdin_flush(struct proc *p);
/* Closes the pipe and drops what is pending. */
void proc_stdin_close(struct proc *p);

#endif
