/* forkserver_serve — the fork server's side: it forks every worker.
 *
 * Design notes.
 * - It runs as its own small executable (spawnd-forkserver, see
 *   forkserver_main.c), single-threaded, so its children may run any C code
 *   (builtin and plugin targets) — and forking a small image is cheap: fork()
 *   copies the parent's mappings, and spawnd's (libmicrohttpd, GnuTLS, ...)
 *   made each fork about twice as slow (measured, bench/RESULTS.md).
 * - It creates the worker's pipes itself, so a request carries only bytes and
 *   the reply carries the fds: one SCM_RIGHTS message per spawn.
 * - pidfd_open() is called right after fork(), before this process can have
 *   reaped the child (only this process reaps, and it is single-threaded), so
 *   the pidfd always names the right process; spawnd signals through it and a
 *   recycled pid can never be hit.
 * - An exec target's child reports an exec (or setup) failure through a
 *   close-on-exec pipe; EOF on it means the exec succeeded. The failed child
 *   is reaped quietly and the caller gets the reason, not a hang.
 * - SIGCHLD arrives through a signalfd; every waitpid() result is reported
 *   (workers) or dropped (orphaned grandchildren, reaped as child subreaper).
 * - A spare worker is forked ahead of time (as Android's zygote keeps a pool
 *   of unspecialized processes): a child of this process with its pipes,
 *   pidfd and session made, blocked on a socket with every signal blocked.
 *   A builtin or plugin request hands it the request and answers at once, so
 *   fork() (~100 us, most of a spawn) happens after the reply, not before.
 *   Exec targets keep vfork (exec discards what a spare saves), and anything
 *   the spare cannot do falls back to a fork on demand. A spare dies with
 *   this process (PDEATHSIG, cleared once it is a worker); one that died
 *   early is noticed by its failed hand-off or by its reaping.
 */
#define _GNU_SOURCE
#include "engine/forkserver_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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

#include "targets/target.h"

struct parsed_request {
	const struct wire_request *w;
	const char *target, *args_json, *id, *name, *program, *cwd;
	char **argv, **envp;            /* point into the request buffer */
};

/* pid → key table of live workers (open addressing, power-of-two size). */
struct child_slot { pid_t pid; uint64_t key; };
static struct child_slot *children;
static size_t children_cap, children_used;

static size_t slot_of(pid_t pid, size_t cap) { return ((size_t)pid * 2654435761u) & (cap - 1); }

static void children_put(pid_t pid, uint64_t key)
{
	if ((children_used + 1) * 2 > children_cap) {
		size_t cap = children_cap ? children_cap * 2 : 1024;
		struct child_slot *t = calloc(cap, sizeof *t);
		if (!t)
			_exit(70);      /* the fork server cannot go on without its table */
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

/* The spare worker, if any. The fds are this process's ends. */
static struct {
	pid_t pid;                      /* 0: none */
	int job, out, err, in, pidfd;   /* job: the request goes here */
} spare = { .pid = 0, .job = -1, .out = -1, .err = -1, .in = -1, .pidfd = -1 };
static bool spare_used;                 /* handed out since the last poll */
#define SPARE_DELAY_MS 1

static int parse_request(char *buf, size_t n, struct parsed_request *p)
{
	if (n < sizeof(struct wire_request))
		return -EPROTO;
	p->w = (const struct wire_request *)buf;
	char *s = buf + sizeof(struct wire_request), *end = buf + n;
	if ((size_t)(end - s) != p->w->len || p->w->len == 0 || end[-1] != '\0')
		return -EPROTO;
	const char **fixed[] = { &p->target, &p->args_json, &p->id, &p->name, &p->program, &p->cwd };
	size_t total = 6 + (size_t)p->w->nargv + p->w->nenv;
	char **vec = calloc((size_t)p->w->nargv + p->w->nenv + 2, sizeof *vec);
	if (!vec)
		return -ENOMEM;
	p->argv = vec;
	p->envp = vec + p->w->nargv + 1;
	for (size_t i = 0; i < total; i++) {
		if (s >= end) {
			free(vec);
			return -EPROTO;
		}
		if (i < 6)
			*fixed[i] = s;
		else if (i < 6 + p->w->nargv)
			p->argv[i - 6] = s;
		else
			p->envp[i - 6 - p->w->nargv] = s;
		s += strlen(s) + 1;
	}
	return 0;
}

/* Reports a setup failure of an exec child and exits. */
static void child_fail(int err_fd, int err) __attribute__((noreturn));
static void child_fail(int err_fd, int err)
{
	ssize_t unused = write(err_fd, &err, sizeof err);
	(void)unused;
	_exit(127);
}

/* The fork server has no use for signal handlers or ignored signals, and its
 * workers must start with default dispositions (QUALITY 4): so it sets them
 * once, here, for itself, and its children inherit them instead of each
 * making 64 syscalls. The kernel's sigaction, because glibc's refuses the
 * signals it reserves (32, 33), which an ignoring parent may have left. */
static void reset_dispositions(void)
{
	struct { void (*handler)(int); unsigned long flags; void (*restorer)(void); uint64_t mask; } dfl = { SIG_DFL, 0, NULL, 0 };
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
}

/* In the worker, a session leader already: a fresh child of a single-threaded
 * process (a spare, or for an exec target a vfork child: syscalls only, until
 * execve or _exit). */
static void run_child(const struct parsed_request *p, int in_fd, int out_fd, int err_fd,
		      int report_fd) __attribute__((noreturn));
static void run_child(const struct parsed_request *p, int in_fd, int out_fd, int err_fd,
		      int report_fd)
{
	static const int resources[FORKSERVER_RLIMITS] = { RLIMIT_CPU, RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_NPROC };
	sigset_t none;

	/* fds 0-2 are the server's stdio, never one of ours: dup2 cannot clobber. */
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		child_fail(report_fd, errno);
	if (report_fd >= 0) {
		if (dup2(report_fd, 3) < 0)
			child_fail(report_fd, errno);
		report_fd = 3;
		fcntl(report_fd, F_SETFD, FD_CLOEXEC);
	}
	syscall(SYS_close_range, report_fd >= 0 ? 4U : 3U, ~0U, 0U);
	/* Every disposition is SIG_DFL already (reset_dispositions() ran in the
	 * fork server, and fork and exec keep it); only the mask is left. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	for (int i = 0; i < FORKSERVER_RLIMITS; i++)
		if (p->w->rlimits[i] >= 0) {
			struct rlimit rl = { (rlim_t)p->w->rlimits[i], (rlim_t)p->w->rlimits[i] };
			if (setrlimit(resources[i], &rl) < 0)
				child_fail(report_fd, errno);
		}
	if (*p->cwd && chdir(p->cwd) < 0)
		child_fail(report_fd, errno);
	if (p->w->gid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)p->w->gid) < 0))
		child_fail(report_fd, errno);
	if (p->w->uid >= 0 && setuid((uid_t)p->w->uid) < 0)
		child_fail(report_fd, errno);

	if (*p->program) {
		execve(p->program, p->argv, p->envp);
		child_fail(report_fd, errno);
	}

	const struct target *t = target_find(p->target);
	if (!t || !t->fn)
		_exit(127);
	extern char **environ;
	environ = p->envp;
	cJSON *args = cJSON_Parse(p->args_json);
	struct target_ctx ctx = { .id = p->id, .name = p->name };
	int code = t->fn(args, &ctx);
	fflush(NULL);
	_exit(code & 0xff);
}

static void send_reply(int fd, struct wire_reply *r, const int *fds, unsigned nfds)
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
	while (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static void reply_error(int fd, uint64_t key, int err, const char *what, const char *detail)
{
	struct wire_reply r = { .key = key, .err = err };
	snprintf(r.msg, sizeof r.msg, "%s%s%s: %s", what, *detail ? " " : "", detail, strerror(err));
	send_reply(fd, &r, NULL, 0);
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* ---- the spare worker ---------------------------------------------------- */

/* In a spare: waits, every signal blocked, for its request, then becomes
 * that worker. buf is this copy of the fork server's request buffer. */
static void spare_main(int job, int in_fd, int out_fd, int err_fd, int devnull, pid_t server,
		       char *buf) __attribute__((noreturn));
static void spare_main(int job, int in_fd, int out_fd, int err_fd, int devnull, pid_t server,
		       char *buf)
{
	struct parsed_request p;
	ssize_t n;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != server)        /* the fork server died before the prctl */
		_exit(0);
	setsid();
	do
		n = recv(job, buf, WIRE_MAX, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0 || parse_request(buf, (size_t)n, &p) < 0)
		_exit(0);               /* retired: the fork server closed its end */
	prctl(PR_SET_PDEATHSIG, 0);     /* a worker now: like one forked on demand */
	run_child(&p, (p.w->flags & FORKSERVER_STDIN_PIPE) ? in_fd : devnull, out_fd, err_fd, -1);
}

static void spare_close(void)
{
	int *fds[] = { &spare.job, &spare.out, &spare.err, &spare.in, &spare.pidfd };
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	spare.pid = 0;
}

/* Forks the next spare. On failure there is none, and requests fork on
 * demand until the next try (after the next event). */
static void spare_make(int devnull, char *buf)
{
	int job[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 };
	pid_t server = getpid(), pid = -1;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, job) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
	    pipe2(err, O_CLOEXEC) == 0 && pipe2(in, O_CLOEXEC) == 0) {
		sigset_t all, old;      /* blocked until it has its request and has set up */
		sigfillset(&all);
		sigprocmask(SIG_SETMASK, &all, &old);
		pid = fork();
		if (pid == 0)
			spare_main(job[1], in[0], out[1], err[1], devnull, server, buf);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	int theirs[] = { job[1], out[1], err[1], in[0] }, ours[] = { job[0], out[0], err[0], in[1] };
	close_all(theirs, 4);
	if (pid < 0) {
		close_all(ours, 4);
		return;
	}
	spare.pid = pid;
	spare.job = job[0];
	spare.out = out[0];
	spare.err = err[0];
	spare.in = in[1];
	spare.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	fcntl(spare.out, F_SETFL, O_NONBLOCK);
	fcntl(spare.err, F_SETFL, O_NONBLOCK);
	fcntl(spare.in, F_SETFL, O_NONBLOCK);
}

/* Gives the request (buf, n bytes, parsed as p) to the spare and replies.
 * false if the spare is gone (the caller forks instead). */
static bool spare_hand_out(int ctl, int devnull, const char *buf, size_t n, const struct parsed_request *p)
{
	/* The reply first, the request to the spare last, then sleep: a socket
	 * wake-up tells the scheduler the sender is about to sleep, so the one
	 * woken last takes this CPU only once this process is done. The spare
	 * is then not queued behind the reply's receiver, or behind our work. */
	struct pollfd alive = { spare.job, POLLOUT, 0 };
	if (poll(&alive, 1, 0) < 0 || (alive.revents & (POLLHUP | POLLERR))) {
		kill(spare.pid, SIGKILL);       /* dead or dying; not reaped yet, so the pid is still its */
		spare_close();
		return false;                   /* fork on demand */
	}
	children_put(spare.pid, p->w->key);
	struct wire_reply rep = { .key = p->w->key, .pid = spare.pid };
	int fds[REPLY_FDS] = { spare.out, spare.err, spare.pidfd, spare.in };
	if (spare.pidfd < 0) {          /* no pidfds: send /dev/null in its place */
		fds[2] = devnull;
		snprintf(rep.msg, sizeof rep.msg, "nopidfd");
	}
	send_reply(ctl, &rep, fds, (p->w->flags & FORKSERVER_STDIN_PIPE) ? 4 : 3);
	int job = spare.job;
	spare.job = -1;
	spare_close();                  /* before the next fork: no child may hold these */
	/* A spare killed after the check above fails this send; it is reaped as
	 * this request's worker, which ends as killed. */
	while (send(job, buf, n, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
	close(job);
	spare_used = true;
	return true;
}

static void handle_request(int ctl, int devnull, char *buf, size_t n)
{
	struct parsed_request p;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 }, report[2] = { -1, -1 };
	int r = parse_request(buf, n, &p);
	if (r < 0) {
		reply_error(ctl, 0, -r, "bad request to the fork server", "");
		return;
	}
	uint64_t key = p.w->key;
	bool exec_target = *p.program != '\0';
	if (!exec_target && spare.pid > 0 && spare_hand_out(ctl, devnull, buf, n, &p)) {
		free(p.argv);
		return;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    ((p.w->flags & FORKSERVER_STDIN_PIPE) && pipe2(in, O_CLOEXEC) < 0) ||
	    (exec_target && pipe2(report, O_CLOEXEC) < 0)) {
		reply_error(ctl, key, errno, "pipe", "");
		goto out;
	}
	/* Every signal stays blocked from before fork() until the child has reset
	 * all dispositions: a signal sent to the new worker at once (terminate
	 * right after spawn) waits, then meets the default action, never a handler
	 * inherited from this process. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	/* An exec child makes only syscalls before execve/_exit: vfork() spares
	 * copying the page tables that exec throws away. */
	pid_t pid = exec_target ? vfork() : fork();
	if (pid == 0) {
		setsid();
		run_child(&p, in[0] >= 0 ? in[0] : devnull, out[1], err[1], report[1]);
	}
	int fork_errno = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		reply_error(ctl, key, fork_errno, "fork", "");
		goto out;
	}

	close(out[1]); out[1] = -1;
	close(err[1]); err[1] = -1;
	if (in[0] >= 0) { close(in[0]); in[0] = -1; }
	if (exec_target) {
		int child_errno = 0;
		ssize_t got;
		close(report[1]); report[1] = -1;
		do
			got = read(report[0], &child_errno, sizeof child_errno);
		while (got < 0 && errno == EINTR);
		if (got == (ssize_t)sizeof child_errno) {
			/* The child exits 127 and is reaped as an unknown pid. */
			reply_error(ctl, key, child_errno, "cannot start", p.program);
			goto out;
		}
	}
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	if (in[1] >= 0)
		fcntl(in[1], F_SETFL, O_NONBLOCK);
	children_put(pid, key);

	struct wire_reply rep = { .key = key, .pid = pid };
	int fds[REPLY_FDS] = { out[0], err[0], pidfd, in[1] };
	unsigned nfds = in[1] >= 0 ? 4 : 3;
	if (pidfd < 0) {                /* no pidfds: send /dev/null in its place */
		fds[2] = devnull;
		rep.err = 0;
		snprintf(rep.msg, sizeof rep.msg, "nopidfd");
	}
	send_reply(ctl, &rep, fds, nfds);
	if (pidfd >= 0)
		close(pidfd);
out:
	close_all(out, 2);
	close_all(err, 2);
	close_all(in, 2);
	close_all(report, 2);
	free(p.argv);
}

static void reap(int evt)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0 || (pid < 0 && errno == EINTR)) {
		uint64_t key;
		if (pid > 0 && pid == spare.pid)
			spare_close();  /* died unasked (killed by hand?): make another */
		else if (pid > 0 && children_take(pid, &key)) {
			struct forkserver_exit ev = { .key = key, .pid = pid, .status = status };
			while (send(evt, &ev, sizeof ev, MSG_NOSIGNAL) < 0 && errno == EINTR)
				;
		}
	}
}

void forkserver_serve(int ctl, int evt, bool spares, const char *ready_error)
{
	sigset_t chld;
	char *buf = malloc(WIRE_MAX);

	/* Dies with spawnd; spawnd is the parent (it started this program). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1 || !buf)
		_exit(0);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	reset_dispositions();    /* every send here uses MSG_NOSIGNAL: no SIGPIPE */
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (sfd < 0 || devnull < 0)
		ready_error = "cannot create its signalfd or open /dev/null";

	struct wire_reply ready = { .key = 0, .err = ready_error ? EINVAL : 0 };
	snprintf(ready.msg, sizeof ready.msg, "%s", ready_error ? ready_error : "ready");
	send_reply(ctl, &ready, NULL, 0);
	if (ready_error)
		_exit(1);

	for (;;) {
		/* The next spare is forked when nothing else is waiting, but not at
		 * once after a hand-off: the worker just woken is likely on this CPU
		 * (the wake-up told the scheduler this process would sleep), and a
		 * fork now would keep it off the CPU. Its exit, the next request or
		 * SPARE_DELAY_MS comes first. */
		int timeout = -1;
		if (!spare.pid && spare_used)
			timeout = SPARE_DELAY_MS;
		else if (!spare.pid && spares)
			spare_make(devnull, buf);
		spare_used = false;
		struct pollfd pfd[2] = { { ctl, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		if (poll(pfd, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			_exit(72);
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0)
				;
			reap(evt);
		}
		if (pfd[0].revents) {
			ssize_t n = recv(ctl, buf, WIRE_MAX, 0);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				_exit(0);       /* spawnd closed the channel: done */
			if (n > 0)
				handle_request(ctl, devnull, buf, (size_t)n);
		}
	}
}
