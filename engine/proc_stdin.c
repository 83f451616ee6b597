/* proc_stdin — see proc_stdin.h. The pipe is in the epoll set only while it
 * is full: a worker that reads its stdin promptly costs no epoll_ctl. */
#include "engine/proc_stdin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/proc_stored.h"
#include "engine/proc_table.h"

void proc_stdin_close(struct proc *p)
{
	if (p->stdin_fd >= 0) {
		close(p->stdin_fd);     /* also leaves the epoll set */
		p->stdin_fd = -1;
	}
	if (p->channel_fd >= 0) {         /* never taken by its pool */
		close(p->channel_fd);
		p->channel_fd = -1;
	}
	p->stdin_watched = false;
	free(p->stdin_buf);
	p->stdin_buf = NULL;
	p->stdin_len = p->stdin_off = 0;
}

/* The pipe is full: wait for EPOLLOUT. false if it cannot be watched. */
static bool watch_stdin(struct proc *p)
{
	if (p->stdin_watched)
		return true;
	p->watch[PROC_STDIN_TAG].proc = p;
	p->watch[PROC_STDIN_TAG].stream = PROC_STDIN_TAG;
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = &p->watch[PROC_STDIN_TAG] };
	if (epoll_ctl(engine_epoll_fd(), EPOLL_CTL_ADD, p->stdin_fd, &ev) < 0)
		return false;
	p->stdin_watched = true;
	return true;
}

void proc_stdin_flush(struct proc *p)
{
	while (p->stdin_fd >= 0 && p->stdin_off < p->stdin_len) {
		ssize_t n = write(p->stdin_fd, p->stdin_buf + p->stdin_off, p->stdin_len - p->stdin_off);
		if (n > 0) {
			p->stdin_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!watch_stdin(p))
				proc_stdin_close(p);
			return;
		}
		proc_stdin_close(p);    /* EPIPE: the worker closed its stdin */
		return;
	}
	if (p->stdin_fd < 0)
		return;
	free(p->stdin_buf);
	p->stdin_buf = NULL;
	p->stdin_len = p->stdin_off = 0;
	if (p->stdin_eof)
		proc_stdin_close(p);
	else if (p->stdin_watched) {
		epoll_ctl(engine_epoll_fd(), EPOLL_CTL_DEL, p->stdin_fd, NULL);
		p->stdin_watched = false;
	}
}

int proc_stdin_queue(struct proc *p, const void *data, size_t len)
{
	size_t pending = p->stdin_len - p->stdin_off;
	if (pending + len > PROC_STDIN_MAX)
		return -ENOBUFS;
	if (p->stdin_off) {             /* compact before growing */
		memmove(p->stdin_buf, p->stdin_buf + p->stdin_off, pending);
		p->stdin_len = pending;
		p->stdin_off = 0;
	}
	char *b = realloc(p->stdin_buf, pending + len + 1);
	if (!b)
		return -ENOMEM;
	memcpy(b + pending, data, len);
	p->stdin_buf = b;
	p->stdin_len = pending + len;
	return 0;
}

ssize_t proc_write_stdin(const char *id, const void *data, size_t len, bool eof)
{
	ssize_t r;
	engine_lock();
	struct proc *p = proc_table_find(id);
	if (!p)
		r = -ENOENT;
	else if (p->state != PROC_RUNNING || p->leader_exited)
		r = -ESRCH;
	else if (p->stdin_fd < 0 || p->stdin_eof)
		r = -EPIPE;
	else if ((r = proc_stdin_queue(p, data, len)) == 0) {
		p->stdin_eof = eof;
		proc_stdin_flush(p);
		r = (ssize_t)len;
	}
	engine_unlock();
	if (r == -ENOENT) {     /* a stored record of an earlier run has ended */
		struct store_record rec;
		if (proc_stored_get(id, &rec) == 0) {
			store_record_release(&rec);
			r = -ESRCH;
		}
	}
	return r;
}

int proc_take_channel(const char *id)
{
	int r;
	engine_lock();
	struct proc *p = proc_table_find(id);
	if (!p)
		r = -ENOENT;
	else if (p->state == PROC_QUEUED || p->state == PROC_STARTING)
		r = -EAGAIN;
	else if ((r = p->channel_fd) >= 0)
		p->channel_fd = -1;
	else
		r = -ENOENT;
	engine_unlock();
	return r;
}
