/* proc_internal — the process record and the engine state shared by proc.c
 * (lifecycle API), proc_loop.c (the engine thread: output, exits, timers) and
 * proc_json.c (rendering). Not for use outside engine/.
 *
 * Everything here is guarded by engine.lock, except the fields a record gets
 * at creation, which never change afterwards (marked "immutable").
 */
#ifndef SPAWND_PROC_INTERNAL_H
#define SPAWND_PROC_INTERNAL_H

#include <pthread.h>

#include "engine/outbuf.h"
#include "engine/proc.h"
#include "engine/store.h"

enum proc_state {
	PROC_QUEUED,        /* waiting for a free slot */
	PROC_STARTING,      /* has a slot; the fork server is being asked */
	PROC_RUNNING,       /* started; until exited and drained */
	PROC_EXITED,
	PROC_FAILED,
	PROC_LOST,
};

#define PROC_STDIN_TAG 2

struct proc_watch {             /* epoll tag of one of a worker's pipes */
	struct proc *proc;
	int stream;             /* PROC_STDOUT, PROC_STDERR or PROC_STDIN_TAG */
};

struct proc {
	struct store_entry entry;       /* id, seq (immutable), store links */
	/* immutable after creation */
	char *name, *target_name, *args_json;
	char *args_text;                /* the args as sent, printed: the record's "args" */
	const struct target *target;
	char **envp, **argv;
	char *stdin_data;               /* NULL: stdin is /dev/null */
	bool daemon;
	double timeout;
	int64_t created_ms;
	/* life */
	enum proc_state state;
	pid_t pid;
	int pidfd, stdin_fd;
	bool leader_exited;
	int wait_status;
	int sent_signal;                /* last signal asked for, and why */
	enum proc_reason sent_reason;
	int pending_signal;             /* asked for while STARTING */
	enum proc_reason reason;
	int exitcode, term_signal;
	char *error;
	int64_t started_ms, ended_ms;   /* wall clock */
	int64_t drain_deadline, timeout_deadline, kill_deadline;   /* monotonic, 0 = none */
	bool removing, lingering;       /* DELETE waits for the whole group */
	bool announced;                 /* its "created" event is out */
	/* output */
	struct outbuf out[2];
	int out_fd[2];
	struct proc_watch watch[3];
	/* stdin: what is queued for the worker, written as the pipe takes it */
	char *stdin_buf;
	size_t stdin_len, stdin_off;
	bool stdin_open, stdin_eof, stdin_watched;
	/* who waits for the end */
	struct proc_waiter *waiters;
	/* engine lists: running (STARTING/RUNNING), queued, lingering */
	struct proc *list_next, *list_prev;
	struct proc *start_next;        /* engine.to_start */
};

struct proc_list { struct proc *head, *tail; long count; };

struct engine {
	pthread_mutex_t lock;
	struct proc_config cfg;
	char *output_dir;
	int epoll_fd, wake_fd;
	pthread_t thread;
	bool thread_started, stopping, shutting_down;
	struct proc_list running, queued, lingering;
	uint64_t next_seq;
	long names_given;
	long total_started, total_failed;
	int64_t next_timer;             /* monotonic ms of the earliest timer, 0 = none */
	bool timers_dirty;
	struct proc_waiter *to_fire;    /* collected under the lock, fired after */
	struct proc *to_start;          /* dequeued, started after the lock is dropped */
};

extern struct engine engine;

/* proc.c */
void proc_list_add(struct proc_list *l, struct proc *p);
void proc_list_del(struct proc_list *l, struct proc *p);
void proc_collect_waiters(struct proc *p);        /* all of p's waiters → engine.to_fire */
void proc_collect_output_waiters(struct proc *p); /* those following its output */
void proc_waiter_fire_later(struct proc_waiter *w); /* unlink w → engine.to_fire */
void proc_arm_waiter(struct proc_waiter **head, struct proc_waiter *w, double timeout_s,
		     void (*fn)(struct proc_waiter *));
int64_t proc_waiter_timers(struct proc_waiter **head, int64_t now); /* fires due deadlines; next one */
void proc_flush_stdin(struct proc *p);
void proc_publish(const char *event, const struct proc *p);
void proc_fire_collected(void);                    /* call without the lock */
void proc_start_collected(void);                   /* call without the lock */
void proc_finish(struct proc *p);                  /* RUNNING → EXITED (lock held) */
int proc_send_group(struct proc *p, int sig);      /* 0 or -errno */
void proc_free(struct proc *p);
void proc_wake_engine(void);
void proc_timer_added(int64_t deadline);

/* proc_loop.c */
int proc_loop_start(void);
void proc_loop_stop(void);
int proc_loop_watch(struct proc *p);               /* registers the output pipes */
void proc_close_output(struct proc *p, enum proc_stream s);

/* proc_json.c */
cJSON *proc_render(const struct proc *p, unsigned flags);       /* a raw cJSON item */
char *proc_render_text(const struct proc *p, unsigned flags);   /* malloc'd, NULL: no memory */
const char *proc_state_name(enum proc_state s);
const char *proc_reason_name(enum proc_reason r);

#endif
