/* forkserver_wire — the messages between spawnd and its fork server
 * (engine/forkserver.c and engine/forkserver_serve.c). Not for use elsewhere.
 *
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

#include <stdbool.h>
#include <stdint.h>

#include "engine/forkserver.h"

#define WIRE_MAX (192 * 1024)   /* largest request: argv + env + args */
#define WIRE_KILL (1u << 31)    /* in wire_request.flags: kill the worker of key */
#define REPLY_FDS 4

struct wire_request {
	uint64_t key;
	uint32_t flags, nargv, nenv, len;
	int64_t rlimits[FORKSERVER_RLIMITS];
	int64_t uid, gid;
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

/* The fds the fork server finds its channels on after exec. */
#define FORKSERVER_CTL_FD 3
#define FORKSERVER_EVT_FD 4

/* Serves requests until spawnd closes the control channel (then exits);
 * with spare, keeps a spare worker forked ahead (forkserver_serve.c). */
void forkserver_serve(int ctl, int evt, bool spare, const char *ready_error) __attribute__((noreturn));

#endif
