/* forkserver/spare — the spare worker: forked ahead of the request, so that
 * fork() (~100 us, most of a spawn) is off the request's path.
 *
 * Like Android's zygote pool: a child of the fork server with its pipes,
 * pidfd and session made, blocked on its job socket with every signal
 * blocked. A builtin or plugin request is answered at once with the spare's
 * pid and fds, then sent to it; it parses it and becomes that worker (the
 * same fs_run_target() as a worker forked on demand). The next spare is forked
 * when the fork server would otherwise sleep, but not right after a hand-off:
 * a fork that overlaps a worker's run slows it more than it saves on this
 * kind of machine (bench/ANALYSIS.md), so it waits for the worker's exit, the
 * next request or SPARE_DELAY_MS. A spare dies with the fork server
 * (PDEATHSIG, cleared once it is a worker); one found dead is replaced.
 */
#define _GNU_SOURCE
#include "forkserver/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The spare worker, if any. The fds are this process's ends. */
static struct {
	pid_t pid;                      /* 0: none */
	int job, out, err, in, pidfd;   /* job: the request goes here */
} spare = { .pid = 0, .job = -1, .out = -1, .err = -1, .in = -1, .pidfd = -1 };
static bool spare_used;                 /* handed out since the last poll */
#define SPARE_DELAY_MS 1

/* In a spare: waits, every signal blocked, for its request, then becomes
 * that worker (or exits if the fork server closes its end first). buf is
 * this copy of the fork server's request buffer. */
static void spare_main(int job, int server_end, int in_fd, int out_fd, int err_fd, int devnull,
		       pid_t server, char *buf) __attribute__((noreturn));
static void spare_main(int job, int server_end, int in_fd, int out_fd, int err_fd, int devnull,
		       pid_t server, char *buf)
{
	struct parsed_request p;
	ssize_t n;

	/* Without PDEATHSIG it would still end with the fork server, whose end
	 * of job closes then (end-of-file below): the signal only hastens it. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != server)        /* the fork server died before the prctl */
		_exit(0);
	if (setsid() < 0)               /* cannot fail in a new child; else kill(-pid) would miss */
		_exit(0);
	close(server_end);              /* so that the fork server's close is our end-of-file */
	do
		n = recv(job, buf, WIRE_MAX, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0 || fs_parse_request(buf, (size_t)n, &p) < 0)
		_exit(0);               /* retired: the fork server closed its end */
	(void)prctl(PR_SET_PDEATHSIG, 0);       /* a worker now: like one forked on demand (cannot fail) */
	fs_run_target(&p, (p.w->flags & FORKSERVER_STDIN_PIPE) ? in_fd : devnull, out_fd, err_fd);
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
			spare_main(job[1], job[0], in[0], out[1], err[1], devnull, server, buf);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	int theirs[] = { job[1], out[1], err[1], in[0] }, ours[] = { job[0], out[0], err[0], in[1] };
	fs_close_all(theirs, 4);
	if (pid < 0) {
		fs_close_all(ours, 4);
		return;
	}
	spare.pid = pid;
	spare.job = job[0];
	spare.out = out[0];
	spare.err = err[0];
	spare.in = in[1];
	spare.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	/* No pidfd (e.g. EMFILE): a spare spawnd could not signal. Blocking
	 * pipes: spawnd's loop would stall on them. Either way it is killed
	 * (reaped as an unknown pid), and requests fork on demand. */
	if ((spare.pidfd < 0 && errno != ENOSYS) || fcntl(spare.out, F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(spare.err, F_SETFL, O_NONBLOCK) < 0 || fcntl(spare.in, F_SETFL, O_NONBLOCK) < 0) {
		kill(pid, SIGKILL);
		spare_close();
	}
}

/* Gives the request (buf, n bytes, parsed as p) to the spare and replies.
 * false if the spare is gone (the caller forks instead). */
bool spare_hand_out(int ctl, int devnull, const char *buf, size_t n, const struct parsed_request *p)
{
	/* The reply first, the request to the spare last, then sleep: a socket
	 * wake-up tells the scheduler the sender is about to sleep, so the one
	 * woken last takes this CPU only once this process is done. The spare
	 * is then not queued behind the reply's receiver, or behind our work. */
	if (spare.pid <= 0)
		return false;
	struct pollfd alive = { spare.job, POLLOUT, 0 };
	if (poll(&alive, 1, 0) < 0 || (alive.revents & (POLLHUP | POLLERR))) {
		kill(spare.pid, SIGKILL);       /* dead or dying; not reaped yet, so the pid is still its */
		spare_close();
		return false;                   /* fork on demand */
	}
	if (fs_children_put(spare.pid, p->w->key) < 0)
		return false;                   /* the fork on demand fails it with the reason */
	struct wire_reply rep = { .key = p->w->key, .pid = spare.pid };
	int fds[REPLY_FDS] = { spare.out, spare.err, spare.pidfd, spare.in };
	if (spare.pidfd < 0) {          /* no pidfds: send /dev/null in its place */
		fds[2] = devnull;
		snprintf(rep.msg, sizeof rep.msg, "nopidfd");
	}
	int r = fs_send_reply(ctl, &rep, fds, (p->w->flags & FORKSERVER_STDIN_PIPE) ? 4 : 3);
	if (r < 0) {
		/* spawnd did not get it: the spawn fails, the spare (now in the
		 * table: its exit event finds no starting record) is killed. */
		fs_reply_error(ctl, p->w->key, -r, "cannot send the worker's pipes", "");
		kill(spare.pid, SIGKILL);
		spare_close();
		return true;
	}
	int job = spare.job;
	pid_t pid = spare.pid;
	spare.job = -1;
	spare_close();                  /* before the next fork: no child may hold these */
	/* A spare killed after the check above fails this send; it is reaped as
	 * this request's worker, which ends as killed. Any other failure would
	 * leave the worker waiting for ever with every signal blocked: it is
	 * killed too, so the record ends (-9) instead of hanging. */
	ssize_t sent;
	do
		sent = send(job, buf, n, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent != (ssize_t)n)
		kill(pid, SIGKILL);     /* in the children table: its exit is reported */
	close(job);
	spare_used = true;
	return true;
}

bool spare_reaped(pid_t pid)
{
	if (pid <= 0 || pid != spare.pid)
		return false;
	spare_close();
	return true;
}

int spare_before_poll(bool spares, int devnull, char *buf)
{
	int timeout = -1;
	if (!spare.pid && spare_used)
		timeout = SPARE_DELAY_MS;
	else if (!spare.pid && spares)
		spare_make(devnull, buf);
	spare_used = false;
	return timeout;
}
