/* proc_record — one run of a target: its durable fields (a store record,
 * kept current and copied to the store on every transition) and what exists
 * only while spawnd runs (fds, output buffers, waiters, list links).
 * Not for use outside engine/.
 *
 * Locking: every field is guarded by the engine lock (engine.h), except the
 * ones marked immutable, which are set before the record is published and
 * never change.
 * Fds: a record owns its worker's pidfd, stdin pipe and output pipes from the
 * moment the fork server hands them over (proc_spawn.c) until they are closed
 * here (proc_close_output(), proc_close_pidfd()) or in proc_stdin.c; an
 * output pipe or a stdin pipe in the epoll set leaves it when closed.
 */
#ifndef SPAWND_PROC_RECORD_H
#define SPAWND_PROC_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/idmap.h"
#include "engine/outbuf.h"
#include "engine/proc.h"
#include "engine/store.h"
#include "engine/waitq.h"
#include "engine/worker.h"

/* The life of a record; proc_fsm.c has the table of what moves it. */
enum proc_state {
	PROC_NEW,           /* built, not yet queued or started */
	PROC_QUEUED,        /* waiting for a free slot */
	PROC_STARTING,      /* has a slot; the fork server is being asked */
	PROC_RUNNING,       /* its worker runs */
	PROC_DRAINING,      /* its worker exited; its output is read to EOF (bounded) */
	PROC_LINGERING,     /* ended; a DELETE waits for the rest of its process group */
	PROC_EXITED,
	PROC_FAILED,        /* could not start */
	PROC_STATES
};

#define PROC_STDIN_TAG 2

enum proc_wait_flags { PROC_WAIT_OUTPUT = 1 << 0 };     /* a follow: also woken by output */

struct proc_watch {             /* epoll tag of one of a worker's pipes */
	struct proc *proc;
	int stream;             /* PROC_STDOUT, PROC_STDERR or PROC_STDIN_TAG */
};

struct proc {
	struct store_record rec;        /* durable: id, name, state, pid, exit, times, ... */
	struct idmap_node link;         /* proc_table's index by id */
	/* immutable after creation */
	uint64_t key;                   /* the fork server's name for it (exit events) */
	char *args_json;                /* the validated args, as the worker reads them */
	const struct target *target;
	char **envp, **argv;
	char *stdin_data;               /* NULL: stdin is /dev/null */
	bool stdin_open;
	/* its SPAWND_TOKEN's digest (engine/worker.h), in the table while token_live */
	uint8_t token_digest[WORKER_DIGEST_LEN];
	bool token_live;
	bool pool_worker;               /* FORKSERVER_POOL_WORKER */
	int channel_fd;                 /* a pool worker's task socket until the pool takes it, or -1 */
	/* life */
	enum proc_state state;
	int pidfd;
	bool leader_exited;             /* its exit event came: the pid is reaped */
	int wait_status;
	int sent_signal;                /* last signal asked for, and why */
	enum proc_reason sent_reason;
	int pending_signal;             /* asked for while STARTING */
	int64_t drain_deadline, timeout_deadline, kill_deadline;   /* monotonic, 0 = none */
	bool remove_asked;              /* DELETE came: end by LINGERING for the group */
	bool announced;                 /* its "created" event is out */
	/* output */
	struct outbuf out[2];
	int out_fd[2];
	struct proc_watch watch[3];
	/* stdin (proc_stdin.c) */
	int stdin_fd;
	char *stdin_buf;
	size_t stdin_len, stdin_off;
	bool stdin_eof, stdin_watched;
	/* who waits for its end (and, with PROC_WAIT_OUTPUT, for its output) */
	struct waitq waiters;
	/* proc_table's lists */
	struct proc *list_next, *list_prev;
	int list_id;                    /* which of them (enum proc_list_id), -1: none */
	struct proc *start_next;
	/* proc_metrics.c: its target's counters, when it was made and started (monotonic ns, 0: not yet) */
	struct proc_metrics_target *metrics;
	uint64_t accepted_ns, started_ns;
	uint64_t store_seq;             /* its last write to the store (store_sync) */
};

struct proc_new_args {
	uint64_t key;
	long name_number;               /* Process-N when s->name is NULL */
	const char *output_dir;
	size_t output_mem_cap;
	bool whole_files;               /* output kept whole in its files (a durable store) */
	const struct store_record *restore;     /* a stored record to take up again (recovery), or NULL */
};

/* Builds a record in PROC_NEW (in no list, not in the store). NULL: no memory. */
struct proc *proc_new(const struct proc_spawn *s, const struct proc_new_args *a);
/* Frees a record whose fds are closed. */
void proc_free(struct proc *p);
/* Signals p's process group (through its pidfd). 0 or -errno. */
int proc_send_group(struct proc *p, int sig);
/* Adds p's output pipes to the engine's epoll set. 0 or -errno. */
int proc_watch_output(struct proc *p);
bool proc_output_open(const struct proc *p);
void proc_close_output(struct proc *p, enum proc_stream s);
void proc_close_pidfd(struct proc *p);
/* EXITED, FAILED or LINGERING: "alive": false, the output is complete. */
bool proc_ended(const struct proc *p);

#endif
