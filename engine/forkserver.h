/* forkserver — the only process that forks workers.
 *
 * spawnd is multi-threaded (libmicrohttpd, the engine loop), and after fork()
 * in a threaded process only async-signal-safe code may run in the child. But
 * builtin and plugin targets are C functions that must run in the child. So, as
 * multiprocessing's "forkserver" start method does, spawnd starts one helper
 * process at startup, before any thread exists; that single-threaded helper
 * forks every worker, where any C code may run. The helper is its own small
 * executable (spawnd-forkserver: libc, cJSON, the builtin table, the plugins),
 * because fork() costs grow with the parent's image, and spawnd's is large.
 *
 * Channels (both SOCK_SEQPACKET, close-on-exec):
 *   control: request → reply, one at a time (forkserver_spawn serialises
 *            callers with a mutex). The reply carries the worker's pidfd and
 *            the read ends of its stdout/stderr pipes (and the write end of
 *            its stdin pipe) via SCM_RIGHTS.
 *   events:  one struct forkserver_exit per worker that ended, read by the
 *            engine loop from forkserver_event_fd().
 * The fork server is the workers' parent and a child subreaper: it reaps every
 * worker and every orphaned grandchild, so no zombie is ever left behind.
 */
#ifndef SPAWND_FORKSERVER_H
#define SPAWND_FORKSERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The protocol: enum forkserver_flags, FORKSERVER_RLIMITS, struct forkserver_exit. */
#include "forkserver/wire.h"

struct forkserver_request {
	uint64_t key;                 /* echoed in the exit event */
	unsigned flags;               /* enum forkserver_flags */
	const char *target;           /* builtin/plugin target name, or NULL for exec */
	const char *args_json;        /* canonical args (function targets) */
	const char *id, *name;        /* the worker's identity */
	const char *program;          /* exec targets: absolute path */
	const char *const *argv;      /* exec targets: NULL-terminated */
	const char *const *envp;      /* NULL-terminated, the whole environment */
	const char *cwd;              /* NULL: the server's cwd */
	int64_t rlimits[FORKSERVER_RLIMITS];  /* -1: unchanged */
	int64_t uid, gid;             /* -1: unchanged */
};

struct forkserver_child {
	pid_t pid;
	int pidfd;                    /* caller owns; -1 if the kernel has no pidfds */
	int stdout_fd, stderr_fd;     /* caller owns, O_NONBLOCK, close-on-exec */
	int stdin_fd;                 /* caller owns, or -1 */
};

/* Starts the fork server (the spawnd-forkserver executable beside spawnd's,
 * or $SPAWND_FORKSERVER), which loads the plugins of plugins_dir (or none) and
 * says when it is ready. Call before any thread is created.
 * 0, or -errno with the reason in err. */
int forkserver_start(const char *plugins_dir, char *err, size_t errlen);
/* Spawns one worker. Thread-safe. Returns 0 and fills *child, or -errno with a
 * human reason in err (e.g. the exec failure: "execve /bin/x: No such file").
 * On error no fd is returned and nothing is left running. */
int forkserver_spawn(const struct forkserver_request *req, struct forkserver_child *child,
		     char *err, size_t errlen);
/* The events channel, for the engine loop (non-blocking). */
int forkserver_event_fd(void);
/* Reads one exit event: 1 read, 0 none pending, -errno on error (EPIPE: the
 * fork server is gone). */
int forkserver_read_exit(struct forkserver_exit *ev);
/* Asks the fork server to exit (closing the channels) and reaps it. */
void forkserver_stop(void);
/* The fork server's pid (-1: none), for a reaper of every child (spawnd as
 * PID 1), which calls forkserver_reaped() when it reaped that pid, so that
 * forkserver_stop() does not wait for it again. Startup thread only. */
pid_t forkserver_pid(void);
void forkserver_reaped(void);

#endif
