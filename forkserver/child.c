/* forkserver/child — what runs in a new worker, from fork() (or a spare's
 * wake-up, or exec.c's clone) to its target: see internal.h. Everything here
 * runs in a child of the single-threaded fork server, so a builtin or plugin
 * worker may run any C code; fs_child_setup() makes syscalls only, because an
 * exec target's child runs it in the fork server's memory (exec.c).
 * Also the parsing of a request, which spares and the server share.
 */
#define _GNU_SOURCE
#include "forkserver/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/fdclose.h"
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

/* The fork server has no use for signal handlers or ignored signals, and its
 * workers must start with default dispositions (QUALITY 4): so it sets them
 * once, here, for itself, and its children inherit them instead of each
 * making 64 syscalls. The kernel's sigaction, because glibc's refuses the
 * signals it reserves (32, 33), which an ignoring parent may have left. */
int fs_reset_dispositions(void)
{
	struct { void (*handler)(int); unsigned long flags; void (*restorer)(void); uint64_t mask; } dfl = { SIG_DFL, 0, NULL, 0 };
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask) < 0)
			return -errno;
	return 0;
}

/* The order is glibc posix_spawn's: the mask last, just before the exec or
 * the target, and nothing in between that a signal could make go wrong (every
 * disposition is SIG_DFL: no handler can run in a CLONE_VM child). */
int fs_child_setup(const struct parsed_request *p, int in_fd, int out_fd, int err_fd)
{
	static const int resources[FORKSERVER_RLIMITS] = { RLIMIT_CPU, RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_NPROC };
	sigset_t none;

	/* fds 0-2 are the server's stdio, never one of ours: dup2 cannot clobber. */
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		return errno;
	int r = fdclose_from(3);
	if (r < 0)
		return -r;
	for (int i = 0; i < FORKSERVER_RLIMITS; i++)
		if (p->w->rlimits[i] >= 0) {
			struct rlimit rl = { (rlim_t)p->w->rlimits[i], (rlim_t)p->w->rlimits[i] };
			if (setrlimit(resources[i], &rl) < 0)
				return errno;
		}
	if (*p->cwd && chdir(p->cwd) < 0)
		return errno;
	/* The raw syscalls, as posix_spawn does: glibc's wrappers may try to
	 * change the ids of every thread, from a CLONE_VM child too. */
	if (p->w->gid >= 0 && (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setgid, (gid_t)p->w->gid) < 0))
		return errno;
	if (p->w->uid >= 0 && syscall(SYS_setuid, (uid_t)p->w->uid) < 0)
		return errno;
	/* Every disposition is SIG_DFL already (fs_reset_dispositions() ran in the
	 * fork server, and fork and exec keep it); only the mask is left. */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		return errno;
	return 0;
}

void fs_run_target(const struct parsed_request *p, int in_fd, int out_fd, int err_fd)
{
	if (fs_child_setup(p, in_fd, out_fd, err_fd) != 0)
		_exit(127);
	const struct target *t = target_find(p->target);
	if (!t || !t->fn)
		_exit(127);
	extern char **environ;
	environ = p->envp;
	if (p->w->flags & FORKSERVER_POOL_WORKER)
		fs_pool_worker(p, t);
	cJSON *args = cJSON_Parse(p->args_json);
	struct target_ctx ctx = { .id = p->id, .name = p->name };
	int code = t->fn(args, &ctx);
	fflush(NULL);
	_exit(code & 0xff);
}
