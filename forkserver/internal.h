/* forkserver_internal — what the fork server's own files share (the
 * spawnd-forkserver executable only; spawnd's side is forkserver.c):
 *   forkserver_serve.c  the loop: requests, forks on demand, reaping, replies
 *   forkserver_child.c  what runs in a new worker, from fork() to its target
 *   forkserver_spare.c  the spare worker forked ahead of the request
 * Single-threaded: no locks.
 */
#ifndef SPAWND_FORKSERVER_INTERNAL_H
#define SPAWND_FORKSERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "forkserver/wire.h"

/* A request, parsed in place: the strings point into its buffer. */
struct parsed_request {
	const struct wire_request *w;
	const char *target, *args_json, *id, *name, *program, *cwd;
	char **argv, **envp;            /* point into the request buffer */
};

/* 0, or -EPROTO / -ENOMEM; p->argv is malloc'd (free it). */
int fs_parse_request(char *buf, size_t n, struct parsed_request *p);
/* Once at startup: every disposition to SIG_DFL, which workers inherit. */
void fs_reset_dispositions(void);
/* In a new worker, already a session leader: wires fds 0-2, closes the rest,
 * unblocks signals, applies limits and identity, then execs the program or
 * runs the target and exits. report_fd (or -1) gets errno if setup fails. */
void fs_run_child(const struct parsed_request *p, int in_fd, int out_fd, int err_fd,
		  int report_fd) __attribute__((noreturn));

/* 0, or -errno if the reply could not be sent. */
int fs_send_reply(int fd, struct wire_reply *r, const int *fds, unsigned nfds);
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
