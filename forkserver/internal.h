/* forkserver/internal — what the fork server's own files share (the
 * spawnd-forkserver executable only; spawnd's side is engine/forkserver.c,
 * and the two share only forkserver/wire.h):
 *   main.c   arguments, plugins, then forkserver_serve()
 *   serve.c  the loop: requests, forks on demand, reaping, replies
 *   child.c  what runs in a new worker, from fork() to its target; requests parsed
 *   exec.c   an exec target's worker: clone(CLONE_VM | CLONE_VFORK) on a stack of its own
 *   spare.c  the spare worker forked ahead of the request
 *   pool_worker.c  a pool worker's loop: one task after another in one process
 *   pool_worker_capture.c  its tasks' stdout, and knowing whether a task wrote
 * Single-threaded: no locks. fds: every fd of the fork server is close-on-exec
 * (fds 3 and 4 too, once forkserver_serve() runs), and each child keeps only
 * fds 0-2 (fs_child_setup).
 */
#ifndef SPAWND_FORKSERVER_INTERNAL_H
#define SPAWND_FORKSERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "forkserver/wire.h"

struct target;

/* A request, parsed in place: the strings point into its buffer. */
struct parsed_request {
	const struct wire_request *w;
	const char *target, *args_json, *id, *name, *program, *cwd;
	char **argv, **envp;            /* point into the request buffer */
};

/* Serves requests on ctl until spawnd closes it (then exits), reporting
 * workers' exits on evt; with spare, keeps a spare worker forked ahead;
 * ready_error (or NULL) is sent instead of "ready", then it exits (serve.c). */
void forkserver_serve(int ctl, int evt, bool spare, const char *ready_error) __attribute__((noreturn));

/* 0, or -EPROTO / -ENOMEM; p->argv is malloc'd (free it). */
int fs_parse_request(char *buf, size_t n, struct parsed_request *p);
/* Once at startup: every disposition to SIG_DFL, which workers inherit.
 * 0, or -errno. */
int fs_reset_dispositions(void);
/* In a new worker, already a session leader: wires fds 0-2, closes the rest,
 * applies limits, cwd and identity, and unblocks signals. 0, or the errno of
 * the step that failed. Syscalls only (safe in exec.c's CLONE_VM child). */
int fs_child_setup(const struct parsed_request *p, int in_fd, int out_fd, int err_fd);
/* fs_child_setup(), then the builtin or plugin target; exits (127 if setup
 * failed or there is no such target, else the target's code). */
void fs_run_target(const struct parsed_request *p, int in_fd, int out_fd, int err_fd)
	__attribute__((noreturn));
/* A pool worker (FORKSERVER_POOL_WORKER), once fs_child_setup() ran: runs
 * the tasks read from stdin with t's function until EOF, then exits 0. */
void fs_pool_worker(const struct parsed_request *p, const struct target *t) __attribute__((noreturn));
/* Starts an exec target's worker, a session leader set up as above, with
 * every signal blocked by the caller. Returns its pid, or -errno if none was
 * made. *child_err is 0 once it has exec'd, else the errno of its failed
 * setup or exec: it has exited then (127) and is left to be reaped. Closes
 * none of the fds. */
pid_t fs_exec_spawn(const struct parsed_request *p, int in_fd, int out_fd, int err_fd, int *child_err);

/* 0, or -errno if the reply could not be sent. */
int fs_send_reply(int fd, struct wire_reply *r, const int *fds, unsigned nfds);
/* Replies "what detail: strerror(err)" for key; exits if that cannot be sent
 * (the channel is broken, and spawnd would wait for ever). */
void fs_reply_error(int fd, uint64_t key, int err, const char *what, const char *detail);
void fs_close_all(int *fds, int n);     /* closes the ones >= 0 */
/* Records pid as the worker of request key (for its exit event). 0 or -ENOMEM. */
int fs_children_put(pid_t pid, uint64_t key);
/* A worker that was made but cannot be handed to spawnd: killed, leader
 * first (dead, it can add no one to its group), then its group. It is
 * unreaped (only this process reaps), so neither id can be another's. */
void fs_kill_worker(pid_t pid);

/* Hands the request (buf, n bytes, parsed as p) to the spare and replies to
 * spawnd on ctl; false if there is no live spare (fork on demand instead). */
bool spare_hand_out(int ctl, int devnull, const char *buf, size_t n, const struct parsed_request *p);
/* true if pid was the spare (it died before it was used): forgotten. */
bool spare_reaped(pid_t pid);
/* Before each poll: forks a spare if there is none (and spares are on),
 * except right after a hand-off; returns the poll timeout (-1 or ms). */
int spare_before_poll(bool spares, int devnull, char *buf);

#endif
