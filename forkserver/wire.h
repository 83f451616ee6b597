/* forkserver/wire — the protocol of the spawnd-forkserver program: what
 * spawnd (engine/forkserver.c) and the fork server (forkserver/) both need to
 * know, and nothing else. Includes nothing of either side, so neither side's
 * headers include the other's.
 *
 * Startup: spawnd execs the program with the control channel on fd
 * FORKSERVER_CTL_FD and the events channel on FORKSERVER_EVT_FD (both
 * SOCK_SEQPACKET), and nothing else open but 0-2.
 * control channel: one wire_request → one wire_reply, whose SCM_RIGHTS carry
 * the worker's stdout and stderr read ends, its pidfd, and its stdin write
 * end (when asked for). The first message on it is the fork server's own
 * wire_reply with key 0: err 0 once it is ready, else why it could not start.
 * A request with WIRE_KILL in its flags (and nothing after the header) asks
 * for the worker of key to be killed: spawnd could not take the reply's fds,
 * so the spawn failed and that worker must not run (forkserver_spawn).
 * events channel: one struct forkserver_exit per worker that ended.
 */
#ifndef SPAWND_FORKSERVER_WIRE_H
#define SPAWND_FORKSERVER_WIRE_H

#include <stdint.h>

/* The fds the fork server finds its channels on after exec. */
#define FORKSERVER_CTL_FD 3
#define FORKSERVER_EVT_FD 4

/* In wire_request.flags (and forkserver_request.flags). */
enum forkserver_flags {
	FORKSERVER_STDIN_PIPE = 1 << 0,   /* give the worker a stdin pipe (else /dev/null) */
	FORKSERVER_POOL_WORKER = 1 << 1,  /* a pool worker: its stdin a socket, tasks and results on it (pool_worker.c) */
};
#define WIRE_KILL (1u << 31)    /* in wire_request.flags: kill the worker of key */

#define FORKSERVER_RLIMITS 4    /* cpu, as, nofile, nproc — in that order */
#define WIRE_MAX (192 * 1024)   /* largest request: argv + env + args */
#define REPLY_FDS 4

struct wire_request {
	uint64_t key;
	uint32_t flags, nargv, nenv, len;
	int64_t rlimits[FORKSERVER_RLIMITS];  /* -1: unchanged */
	int64_t uid, gid;                     /* -1: unchanged */
	/* then len bytes: target, args_json, id, name, program, cwd, argv..., env...
	 * each NUL-terminated; "" where absent */
};

struct wire_reply {
	uint64_t key;
	int32_t err;            /* 0 or an errno */
	int32_t pid;
	uint32_t nfds;
	char msg[240];
};

/* On the events channel: a worker ended. */
struct forkserver_exit {
	uint64_t key;
	int32_t pid;
	int32_t status;         /* as from waitpid() */
};

#endif
