/* forkserver — spawnd's side of the fork server (see forkserver.h; the
 * server itself is the spawnd-forkserver executable, built from forkserver/,
 * and the two share only the protocol, forkserver/wire.h).
 *
 * One request at a time on the control channel (ctl_lock), so a reply is
 * always the answer to the request just sent. The events channel is only
 * read by the engine loop. The fork server is started before any thread, but
 * its child still makes only async-signal-safe calls until execve.
 */
#define _GNU_SOURCE
#include "engine/forkserver.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fdclose.h"

static int ctl_fd = -1, evt_fd = -1;    /* spawnd's ends */
static pid_t server_pid = -1;
static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;


/* Where the spawnd-forkserver executable is: $SPAWND_FORKSERVER, else beside
 * spawnd's own executable. */
static int helper_path(char *path, size_t len)
{
	const char *env = getenv("SPAWND_FORKSERVER");
	if (env && *env) {
		snprintf(path, len, "%s", env);
		return 0;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	snprintf(path, len, "%s/spawnd-forkserver", dirname(self));
	return 0;
}

/* In the child, before exec: the channels go to fixed fds 3 and 4, nothing
 * else stays open but 0-2. Only async-signal-safe calls (we are a child of a
 * process that may one day have threads). */
static void exec_helper(const char *path, int ctl, int evt, char *const argv[], char *parent)
{
	/* Move both out of the way first, so neither dup2 clobbers the other. */
	int c = fcntl(ctl, F_DUPFD, 10), e = fcntl(evt, F_DUPFD, 10);
	if (c < 0 || e < 0 || dup2(c, FORKSERVER_CTL_FD) < 0 || dup2(e, FORKSERVER_EVT_FD) < 0 ||
	    fdclose_from(FORKSERVER_EVT_FD + 1) < 0)
		_exit(126);
	/* Its parent's pid, so it can tell its parent is gone even where its
	 * parent is PID 1 (spawnd in a container) or a subreaper takes it. */
	char *const envp[] = { parent, NULL };
	execve(path, argv, envp);
	_exit(127);
}

/* SPAWND_SPARE=0: no spare worker (see forkserver/spare.c), e.g. to keep no
 * idle process, or to compare. 1 (or unset): one. 0, or -EINVAL for another value. */
static int spare_setting(bool *spare, char *err, size_t errlen)
{
	const char *env = getenv("SPAWND_SPARE");

	if (env && strcmp(env, "0") != 0 && strcmp(env, "1") != 0) {
		snprintf(err, errlen, "SPAWND_SPARE must be 0 or 1, not \"%.64s\"", env);
		return -EINVAL;
	}
	*spare = !env || strcmp(env, "1") == 0;
	return 0;
}

/* The two channels, close-on-exec: ctl[0]/evt[0] are spawnd's ends. On
 * error nothing stays open. */
static int make_channels(int ctl[2], int evt[2], char *err, size_t errlen)
{
	int big = 4 << 20, r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -errno;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, evt) < 0) {
		r = -errno;
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		close(ctl[0]); close(ctl[1]);
		return r;
	}
	/* Room for many exit events, so the fork server rarely waits on spawnd.
	 * Only a hint: refused (or capped by net.core.wmem_max), the default
	 * buffer works too, the fork server just blocks sooner. */
	(void)setsockopt(evt[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	(void)setsockopt(evt[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	/* spawnd's end only (the fork server's blocks): the engine loop reads it. */
	if (fcntl(evt[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		close(ctl[0]); close(ctl[1]); close(evt[0]); close(evt[1]);
		return r;
	}
	return 0;
}

/* Waits for the fork server's word: ready, or why not (e.g. a plugin it
 * could not load). On failure reaps it and closes spawnd's ends. */
static int wait_ready(const char *path, char *err, size_t errlen)
{
	struct wire_reply ready;
	ssize_t n;

	do
		n = recv(ctl_fd, &ready, sizeof ready, 0);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof ready && !ready.err)
		return 0;
	int status = 0;
	waitpid(server_pid, &status, 0);
	if (n == (ssize_t)sizeof ready)
		snprintf(err, errlen, "the fork server %s did not start: %.200s", path, ready.msg);
	else
		snprintf(err, errlen, "the fork server %s did not start (exit status %d)", path,
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	close(ctl_fd);
	close(evt_fd);
	ctl_fd = evt_fd = -1;
	server_pid = -1;
	return -EIO;
}

int forkserver_start(const char *plugins_dir, char *err, size_t errlen)
{
	int ctl[2], evt[2];
	char path[PATH_MAX];
	bool spare;

	int r = spare_setting(&spare, err, errlen);
	if (r < 0)
		return r;
	r = helper_path(path, sizeof path);
	if (r < 0 || access(path, X_OK) < 0) {
		snprintf(err, errlen, "cannot find the fork server %s: %s (install it beside spawnd, or set "
			 "SPAWND_FORKSERVER)", path, strerror(r < 0 ? -r : errno));
		return r < 0 ? r : -ENOENT;
	}
	if ((r = make_channels(ctl, evt, err, errlen)) < 0)
		return r;
	/* Everything the child needs is ready before fork(). */
	char name[] = "spawnd-forkserver", flag[] = "--plugins", nospare[] = "--no-spare", dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", plugins_dir ? plugins_dir : "");
	char *argv[5] = { name }, **a = argv + 1;
	if (!spare)
		*a++ = nospare;
	if (plugins_dir) {
		*a++ = flag;
		*a++ = dir;
	}
	*a = NULL;
	char parent[64];
	snprintf(parent, sizeof parent, "SPAWND_PARENT_PID=%d", (int)getpid());
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		exec_helper(path, ctl[1], evt[1], argv, parent);
	r = pid < 0 ? -errno : 0;
	close(ctl[1]);
	close(evt[1]);
	if (r < 0) {
		snprintf(err, errlen, "fork: %s", strerror(-r));
		close(ctl[0]); close(evt[0]);
		return r;
	}
	server_pid = pid;
	ctl_fd = ctl[0];
	evt_fd = evt[0];
	return wait_ready(path, err, errlen);
}

/* Appends s (or "") with its NUL; returns the new length or -E2BIG. */
static long put_string(char *buf, long at, const char *s)
{
	size_t n = strlen(s ? s : "") + 1;
	if (at < 0 || (size_t)at + n > WIRE_MAX)
		return -E2BIG;
	memcpy(buf + at, s ? s : "", n);
	return at + (long)n;
}

/* The worker of key was made, but its fds did not reach spawnd: the fork
 * server kills it (as its unreaping parent it knows the pid is still that
 * worker's), so nothing runs that no record owns. Its exit event later finds
 * no starting record and is dropped. ctl_lock held. */
static void kill_worker(uint64_t key)
{
	struct wire_request w = { .key = key, .flags = WIRE_KILL };
	struct wire_reply rep;
	ssize_t n;
	do
		n = send(ctl_fd, &w, sizeof w, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return;
	do
		n = recv(ctl_fd, &rep, sizeof rep, 0);
	while (n < 0 && errno == EINTR);
}

/* Why the fds of a reply did not all arrive: the kernel drops the ones it
 * cannot install (MSG_CTRUNC), which is spawnd at its fd limit. */
static int fd_shortage(void)
{
	int fd = fcntl(ctl_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);              /* one came free since: the limit was hit all the same */
	return -EMFILE;
}

/* Sends the request and takes the reply and its fds. 0 (the reply may be an
 * error, rep->err), or -errno when the channel failed. fds that were cut
 * short make the reply an error: the worker is killed, no fd is kept. */
static int exchange(const char *buf, size_t len, struct wire_reply *rep, int fds[REPLY_FDS])
{
	union { char c[CMSG_SPACE(sizeof(int) * REPLY_FDS)]; struct cmsghdr align; } u;
	struct iovec iov = { rep, sizeof *rep };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.c, .msg_controllen = sizeof u.c };
	ssize_t n;
	int r = 0;
	size_t got = 0;

	pthread_mutex_lock(&ctl_lock);
	do
		n = send(ctl_fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		do
			n = recvmsg(ctl_fd, &msg, MSG_CMSG_CLOEXEC);
		while (n < 0 && errno == EINTR);
	if (n <= 0) {
		r = n == 0 ? -EPIPE : -errno;
		goto out;
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (got > REPLY_FDS)
			got = REPLY_FDS;
		memcpy(fds, CMSG_DATA(c), sizeof(int) * got);
	}
	if (n == (ssize_t)sizeof *rep && !rep->err && (got < rep->nfds || (msg.msg_flags & MSG_CTRUNC))) {
		rep->err = -fd_shortage();
		snprintf(rep->msg, sizeof rep->msg, "cannot receive the worker's pipes: %s", strerror(rep->err));
		kill_worker(rep->key);
	}
out:
	pthread_mutex_unlock(&ctl_lock);
	if (r < 0 || rep->err)
		for (size_t i = 0; i < got; i++)
			close(fds[i]);
	return r;
}

int forkserver_spawn(const struct forkserver_request *req, struct forkserver_child *child,
		     char *err, size_t errlen)
{
	char *buf = malloc(WIRE_MAX);
	struct wire_request *w = (struct wire_request *)buf;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memset(w, 0, sizeof *w);
	w->key = req->key;
	w->flags = req->flags;
	memcpy(w->rlimits, req->rlimits, sizeof w->rlimits);
	w->uid = req->uid;
	w->gid = req->gid;
	long at = sizeof *w;
	const char *fixed[] = { req->target, req->args_json, req->id, req->name, req->program, req->cwd };
	for (size_t i = 0; i < 6; i++)
		at = put_string(buf, at, fixed[i]);
	for (const char *const *a = req->argv; a && *a; a++, w->nargv++)
		at = put_string(buf, at, *a);
	for (const char *const *e = req->envp; e && *e; e++, w->nenv++)
		at = put_string(buf, at, *e);
	if (at < 0) {
		snprintf(err, errlen, "arguments and environment exceed %d bytes", WIRE_MAX);
		free(buf);
		return -E2BIG;
	}
	w->len = (uint32_t)(at - (long)sizeof *w);

	struct wire_reply rep = { .err = 0 };
	int fds[REPLY_FDS] = { -1, -1, -1, -1 };
	int r = exchange(buf, (size_t)at, &rep, fds);
	free(buf);
	if (r < 0) {
		snprintf(err, errlen, "the fork server is gone: %s", strerror(-r));
		return r;
	}
	if (rep.err) {
		snprintf(err, errlen, "%s", rep.msg);
		return -rep.err;
	}
	child->pid = rep.pid;
	child->stdout_fd = fds[0];
	child->stderr_fd = fds[1];
	child->pidfd = fds[2];
	child->stdin_fd = fds[3];
	if (strcmp(rep.msg, "nopidfd") == 0) {
		close(child->pidfd);
		child->pidfd = -1;
	}
	return 0;
}

int forkserver_event_fd(void) { return evt_fd; }

int forkserver_read_exit(struct forkserver_exit *ev)
{
	ssize_t n;
	do
		n = recv(evt_fd, ev, sizeof *ev, 0);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof *ev)
		return 1;
	if (n == 0)
		return -EPIPE;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return n < 0 ? -errno : -EPROTO;
}

pid_t forkserver_pid(void) { return server_pid; }
void forkserver_reaped(void) { server_pid = -1; }

void forkserver_stop(void)
{
	if (ctl_fd >= 0) {
		close(ctl_fd);
		ctl_fd = -1;
	}
	if (server_pid > 0) {
		while (waitpid(server_pid, NULL, 0) < 0 && errno == EINTR)
			;
		server_pid = -1;
	}
	if (evt_fd >= 0) {
		close(evt_fd);
		evt_fd = -1;
	}
}

