/* forkserver_child — what runs in a new worker, from fork() (or vfork(), or
 * a spare's wake-up) to its target: see forkserver_internal.h. Everything
 * here runs in a child of the single-threaded fork server, so any C code may
 * run; an exec target's vfork child makes syscalls only until execve.
 */
#define _GNU_SOURCE
#include "forkserver/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "targets/registry.h"

int fs_parse_request(char *buf, size_t n, struct parsed_request *p)
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
void fs_reset_dispositions(void)
{
	struct { void (*handler)(int); unsigned long flags; void (*restorer)(void); uint64_t mask; } dfl = { SIG_DFL, 0, NULL, 0 };
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
}

/* In the worker, a session leader already: a fresh child of a single-threaded
 * process (a spare, or for an exec target a vfork child: syscalls only, until
 * execve or _exit). */
void fs_run_child(const struct parsed_request *p, int in_fd, int out_fd, int err_fd,
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
	/* Every disposition is SIG_DFL already (fs_reset_dispositions() ran in the
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
