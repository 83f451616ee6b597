/* forkserver/serve — the fork server's loop: it forks every worker.
 *
 * Design notes.
 * - It runs as its own small executable (spawnd-forkserver, see main.c),
 *   single-threaded, so its children may run any C code (builtin and plugin
 *   targets) — and forking a small image is cheap: fork() copies the parent's
 *   mappings, and spawnd's (libmicrohttpd, GnuTLS, ...) made each fork about
 *   twice as slow (measured, bench/RESULTS.md).
 * - It creates the worker's pipes itself, so a request carries only bytes and
 *   the reply carries the fds: one SCM_RIGHTS message per spawn.
 * - pidfd_open() is called right after fork(), before this process can have
 *   reaped the child (only this process reaps, and it is single-threaded), so
 *   the pidfd always names the right process; spawnd signals through it and a
 *   recycled pid can never be hit.
 * - An exec target's child is made by exec.c, which says whether its setup
 *   or exec failed; the failed child is reaped quietly and the caller gets
 *   the reason, not a hang.
 * - SIGCHLD arrives through a signalfd; every waitpid() result is reported
 *   (workers) or dropped (orphaned grandchildren, reaped as child subreaper).
 * - A spare worker is forked ahead of time, so most requests are answered
 *   without a fork (spare.c).
 * - If a reply or an exit event cannot be sent, spawnd is gone or the channel
 *   is broken: it exits (spawnd then fails spawns with "the fork server is
 *   gone") rather than leave spawnd waiting for a reply or an exit for ever.
 * - Whenever it ends (spawnd closed the channel, or died: its parent-death
 *   signal is SIGTERM, taken through the signalfd), it first SIGKILLs every
 *   worker's process group it still has: once spawnd is gone nothing tracks
 *   them, and a worker must never run on unknown (README "Restart and
 *   recovery"). It is their parent and has not reaped them, so their pids
 *   cannot have been recycled.
 */
#define _GNU_SOURCE
#include "forkserver/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_CHANNEL_LOST 73     /* a reply or an exit event could not be sent */

/* pid → key table of live workers (open addressing, power-of-two size). */
struct child_slot { pid_t pid; uint64_t key; };
static struct child_slot *children;
static size_t children_cap, children_used;

static size_t slot_of(pid_t pid, size_t cap) { return ((size_t)pid * 2654435761u) & (cap - 1); }

int fs_children_put(pid_t pid, uint64_t key)
{
	if ((children_used + 1) * 2 > children_cap) {
		size_t cap = children_cap ? children_cap * 2 : 1024;
		struct child_slot *t = calloc(cap, sizeof *t);
		if (!t)
			return -ENOMEM;         /* this spawn fails; the table is as it was */
		for (size_t i = 0; i < children_cap; i++)
			if (children[i].pid > 0) {
				size_t j = slot_of(children[i].pid, cap);
				while (t[j].pid)
					j = (j + 1) & (cap - 1);
				t[j] = children[i];
			}
		free(children);
		children = t;
		children_cap = cap;
	}
	size_t j = slot_of(pid, children_cap);
	while (children[j].pid > 0)
		j = (j + 1) & (children_cap - 1);
	if (children[j].pid == 0)
		children_used++;
	children[j].pid = pid;
	children[j].key = key;
	return 0;
}

void fs_kill_worker(pid_t pid)
{
	kill(pid, SIGKILL);
	kill(-pid, SIGKILL);
}

/* The end of the fork server: no worker outlives it. */
static void __attribute__((noreturn)) end_all(int code)
{
	for (size_t j = 0; j < children_cap; j++)
		if (children[j].pid > 0)
			fs_kill_worker(children[j].pid);
	_exit(code);
}

/* A reply without fds that cannot be sent: the channel is broken. */
static void send_or_exit(int ctl, struct wire_reply *r)
{
	if (fs_send_reply(ctl, r, NULL, 0) < 0)
		end_all(EXIT_CHANNEL_LOST);
}

/* spawnd could not take the fds of key's worker (WIRE_KILL): it must not run. */
static void kill_request(int ctl, uint64_t key)
{
	struct wire_reply r = { .key = key, .err = ESRCH };
	for (size_t j = 0; j < children_cap; j++)
		if (children[j].pid > 0 && children[j].key == key) {
			fs_kill_worker(children[j].pid);
			r.err = 0;
		}
	send_or_exit(ctl, &r);
}

/* Removes pid; returns 1 and its key if it was a worker. Tombstones (-1) keep
 * probe chains intact. */
static int children_take(pid_t pid, uint64_t *key)
{
	if (!children_cap)
		return 0;
	for (size_t j = slot_of(pid, children_cap);; j = (j + 1) & (children_cap - 1)) {
		if (children[j].pid == 0)
			return 0;
		if (children[j].pid == pid) {
			*key = children[j].key;
			children[j].pid = -1;
			return 1;
		}
	}
}

int fs_send_reply(int fd, struct wire_reply *r, const int *fds, unsigned nfds)
{
	union { char buf[CMSG_SPACE(sizeof(int) * REPLY_FDS)]; struct cmsghdr align; } u;
	struct iovec iov = { r, sizeof *r };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	r->nfds = nfds;
	if (nfds) {
		memset(&u, 0, sizeof u);
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

void fs_reply_error(int fd, uint64_t key, int err, const char *what, const char *detail)
{
	struct wire_reply r = { .key = key, .err = err };
	snprintf(r.msg, sizeof r.msg, "%s%s%s: %s", what, *detail ? " " : "", detail, strerror(err));
	send_or_exit(fd, &r);
}

void fs_close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* The worker pid of key is forked (and, for an exec target, has exec'd):
 * hands its pidfd and pipe ends to spawnd. Whatever fails here fails the
 * spawn with the reason, and the worker is killed: spawnd never gets a pid
 * it cannot watch. Closes nothing of out/err/in (the caller does). */
static void hand_over(int ctl, int devnull, pid_t pid, uint64_t key, const int out[2], const int err[2],
		      const int in[2])
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 && errno != ENOSYS) {     /* ENOSYS: no pidfds, spawnd falls back on the pid */
		int e = errno;
		fs_kill_worker(pid);            /* not in the table: reaped quietly */
		fs_reply_error(ctl, key, e, "pidfd_open", "");
		return;
	}
	int r = fs_children_put(pid, key);
	if (r < 0) {
		fs_kill_worker(pid);
		fs_reply_error(ctl, key, -r, "the fork server's table of workers", "");
		goto out;
	}
	if (fcntl(out[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(err[0], F_SETFL, O_NONBLOCK) < 0 ||
	    (in[1] >= 0 && fcntl(in[1], F_SETFL, O_NONBLOCK) < 0)) {
		/* In the table: its exit event finds no starting record in spawnd. */
		r = errno;
		fs_kill_worker(pid);
		fs_reply_error(ctl, key, r, "fcntl", "");
		goto out;
	}
	struct wire_reply rep = { .key = key, .pid = pid };
	int fds[REPLY_FDS] = { out[0], err[0], pidfd, in[1] };
	if (pidfd < 0) {                /* no pidfds: send /dev/null in its place */
		fds[2] = devnull;
		snprintf(rep.msg, sizeof rep.msg, "nopidfd");
	}
	r = fs_send_reply(ctl, &rep, fds, in[1] >= 0 ? 4 : 3);
	if (r < 0) {
		/* In the table: its exit event finds no starting record in spawnd. */
		fs_kill_worker(pid);
		fs_reply_error(ctl, key, -r, "cannot send the worker's pipes", "");
	}
out:
	if (pidfd >= 0)
		close(pidfd);
}

/* Makes the worker of p (every signal blocked by the caller): an exec
 * target's by exec.c, else a fork. Its pid, or -errno; *child_err as
 * fs_exec_spawn() says. */
static pid_t make_worker(const struct parsed_request *p, int in_fd, int out_fd, int err_fd, int *child_err)
{
	*child_err = 0;
	if (*p->program)
		return fs_exec_spawn(p, in_fd, out_fd, err_fd, child_err);
	pid_t pid = fork();
	if (pid == 0) {
		if (setsid() < 0)       /* cannot fail in a new child; if it did, kill(-pid) would miss */
			_exit(127);
		fs_run_target(p, in_fd, out_fd, err_fd);
	}
	return pid < 0 ? -errno : pid;
}

/* The worker's stdin: a pipe, or for a pool worker a socketpair, whose other
 * end carries its tasks and its results both (its stdout stays its own).
 * 0 or -1 (errno). */
static int stdin_channel(unsigned flags, int in[2])
{
	if (flags & FORKSERVER_POOL_WORKER)
		return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in);
	return flags & FORKSERVER_STDIN_PIPE ? pipe2(in, O_CLOEXEC) : 0;
}

static void handle_request(int ctl, int devnull, char *buf, size_t n)
{
	struct parsed_request p;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 };
	const struct wire_request *w = (const struct wire_request *)buf;
	if (n >= sizeof *w && (w->flags & WIRE_KILL)) {
		kill_request(ctl, w->key);
		return;
	}
	int r = fs_parse_request(buf, n, &p);
	if (r < 0) {
		fs_reply_error(ctl, 0, -r, "bad request to the fork server", "");
		return;
	}
	uint64_t key = p.w->key;
	/* A pool worker is long-lived, and its stdin is a socket: never the spare. */
	if (!*p.program && !(p.w->flags & FORKSERVER_POOL_WORKER) && spare_hand_out(ctl, devnull, buf, n, &p)) {
		free(p.argv);
		return;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || stdin_channel(p.w->flags, in) < 0) {
		fs_reply_error(ctl, key, errno, "pipe2", "");
		goto out;
	}
	/* Every signal stays blocked from before fork() until the child has reset
	 * all dispositions: a signal sent to the new worker at once (terminate
	 * right after spawn) waits, then meets the default action, never a handler
	 * inherited from this process. (Blocking all with a valid set cannot fail.) */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	int child_err;
	pid_t pid = make_worker(&p, in[0] >= 0 ? in[0] : devnull, out[1], err[1], &child_err);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		fs_reply_error(ctl, key, (int)-pid, "fork", "");
		goto out;
	}
	int theirs[] = { out[1], err[1], in[0] };
	fs_close_all(theirs, 3);
	out[1] = err[1] = in[0] = -1;
	if (child_err)          /* it exited 127 and is reaped as an unknown pid */
		fs_reply_error(ctl, key, child_err, "cannot start", p.program);
	else
		hand_over(ctl, devnull, pid, key, out, err, in);
out:
	fs_close_all(out, 2);
	fs_close_all(err, 2);
	fs_close_all(in, 2);
	free(p.argv);
}

static void reap(int evt)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0 || (pid < 0 && errno == EINTR)) {
		uint64_t key;
		if (spare_reaped(pid))
			continue;       /* died unasked (killed by hand?): another is made */
		if (pid > 0 && children_take(pid, &key)) {
			struct forkserver_exit ev = { .key = key, .pid = pid, .status = status };
			ssize_t sent;
			do
				sent = send(evt, &ev, sizeof ev, MSG_NOSIGNAL);
			while (sent < 0 && errno == EINTR);
			if (sent < 0)   /* spawnd would wait for this exit for ever */
				end_all(EXIT_CHANNEL_LOST);
		}
	}
}

/* Everything that can fail before it is ready: NULL, or what failed. */
static const char *start_up(int ctl, int evt, int *sfd, int *devnull)
{
	sigset_t chld;

	/* Its channels came through spawnd's dup2, which clears close-on-exec.
	 * fs_child_setup() closes them in every worker; this keeps them out of
	 * an exec'd one even if that close ever failed. */
	if (fcntl(ctl, F_SETFD, FD_CLOEXEC) < 0 || fcntl(evt, F_SETFD, FD_CLOEXEC) < 0)
		return "cannot make its channels close-on-exec";
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return "cannot become a child subreaper (prctl)";
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigaddset(&chld, SIGTERM);      /* the parent-death signal */
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0 || fs_reset_dispositions() < 0)
		return "cannot set its signal mask and dispositions";
	/* every send here uses MSG_NOSIGNAL: SIGPIPE's default action is harmless */
	*sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	*devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (*sfd < 0 || *devnull < 0)
		return "cannot create its signalfd or open /dev/null";
	return NULL;
}

void forkserver_serve(int ctl, int evt, bool spares, const char *ready_error)
{
	char *buf = malloc(WIRE_MAX);
	int sfd = -1, devnull = -1;

	/* Ends with spawnd, its workers first; spawnd is the parent (it started
	 * this program, and named itself: it may be PID 1, in a container). */
	const char *parent = getenv("SPAWND_PARENT_PID");
	pid_t expected = parent ? (pid_t)atoi(parent) : 1;
	unsetenv("SPAWND_PARENT_PID");          /* nothing forked from here sees it */
	int deathsig = prctl(PR_SET_PDEATHSIG, SIGTERM);
	if ((parent ? getppid() != expected : getppid() == 1) || !buf)
		_exit(0);
	if (!ready_error && deathsig < 0)
		ready_error = "cannot set its parent-death signal (prctl)";
	if (!ready_error)
		ready_error = start_up(ctl, evt, &sfd, &devnull);

	struct wire_reply ready = { .key = 0, .err = ready_error ? EINVAL : 0 };
	snprintf(ready.msg, sizeof ready.msg, "%s", ready_error ? ready_error : "ready");
	if (fs_send_reply(ctl, &ready, NULL, 0) < 0 || ready_error)
		_exit(1);

	for (;;) {
		int timeout = spare_before_poll(spares, devnull, buf);
		struct pollfd pfd[2] = { { ctl, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		if (poll(pfd, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			end_all(72);
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			bool parent_died = false;
			while (read(sfd, &si, sizeof si) > 0)
				parent_died |= si.ssi_signo == SIGTERM;
			if (parent_died)
				end_all(0);
			reap(evt);
		}
		if (pfd[0].revents) {
			ssize_t n = recv(ctl, buf, WIRE_MAX, 0);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				end_all(0);     /* spawnd closed the channel: done */
			if (n > 0)
				handle_request(ctl, devnull, buf, (size_t)n);
		}
	}
}
