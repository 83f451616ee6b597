/* forkserver/exec — an exec target's worker: clone(CLONE_VM | CLONE_VFORK)
 * on a stack of its own, then setup and execve (see internal.h).
 *
 * Why not fork(): the child only makes syscalls and execs, so copying the
 * page tables would be thrown away. Why not vfork(): its child runs on the
 * parent's stack, and the calls it makes (setrlimit, chdir, the ids...) write
 * frames over what the parent's suspended frames may still hold. So, as
 * glibc's posix_spawn does, the child shares the memory but runs on a stack
 * of its own, and the rules that make sharing safe are these:
 * - No signal handler may run in the child: every signal is blocked by the
 *   caller from before clone() until the setup's last step, and by then every
 *   disposition is SIG_DFL (fs_reset_dispositions(): the fork server installs
 *   no handler, ever).
 * - The child writes only its stack, the shared `err` field, and errno (its
 *   TLS is the parent's thread's, but the parent is suspended until the exec
 *   or the exit and reads errno only when clone() itself failed).
 * - It calls no libc function that takes a lock, allocates, or acts on other
 *   threads: fs_child_setup() makes raw syscalls for the ids.
 * - The parent reuses the stack only once the child has exec'd or exited:
 *   CLONE_VFORK suspends it until then, so one stack serves every spawn,
 *   mapped once (with a guard page below it) on the first exec target.
 * The exec failure is reported in `err` (the memory is shared); a child
 * killed before it wrote it counts as exec'd, and its exit is reported.
 */
#define _GNU_SOURCE
#include "forkserver/internal.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHILD_STACK (64 * 1024)   /* setup's frames only: argv and env are in the request buffer */

struct exec_child {
	const struct parsed_request *p;
	int in_fd, out_fd, err_fd;
	int err;                        /* written by the child: why it did not exec */
};

static char *stack_top;                 /* NULL until the first exec target */

/* The child. Not instrumented by ASan: it never returns, and ASan's
 * bookkeeping for a no-return call assumes the thread's own stack. */
__attribute__((no_sanitize("address"))) static int exec_child_main(void *arg)
{
	struct exec_child *c = arg;
	int err = setsid() < 0 ? errno : fs_child_setup(c->p, c->in_fd, c->out_fd, c->err_fd);
	if (!err) {
		execve(c->p->program, c->p->argv, c->p->envp);
		err = errno;
	}
	c->err = err ? err : ECHILD;    /* never 0: that means exec'd */
	_exit(127);
}

/* 0, or -errno. */
static int map_stack(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = CHILD_STACK + (size_t)page;
	char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	if (mprotect(base, (size_t)page, PROT_NONE) < 0) {      /* the guard: an overflow faults */
		int r = -errno;
		munmap(base, len);
		return r;
	}
	stack_top = base + len;         /* stacks grow down on every Linux ABI spawnd builds for */
	return 0;
}

pid_t fs_exec_spawn(const struct parsed_request *p, int in_fd, int out_fd, int err_fd, int *child_err)
{
	if (!stack_top) {
		int r = map_stack();
		if (r < 0)
			return r;
	}
	struct exec_child c = { .p = p, .in_fd = in_fd, .out_fd = out_fd, .err_fd = err_fd, .err = 0 };
	pid_t pid = clone(exec_child_main, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
	if (pid < 0)
		return -errno;
	*child_err = c.err;
	return pid;
}
