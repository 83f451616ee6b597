/* proc_record — building, freeing and signalling one record (proc_record.h).
 *
 * The worker's environment is built here, before anything is forked: what
 * the caller built (never the server's own), PATH when it has none, and the
 * worker's real identity (SPAWND_PROCESS_ID/NAME), which a caller cannot
 * forge.
 */
#define _GNU_SOURCE
#include "engine/proc_record.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/engine.h"
#include "lib/number.h"
#include "lib/strv.h"
#include "lib/ts.h"
#include "targets/env.h"

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1UL << 2)
#endif

void proc_free(struct proc *p)
{
	if (p->token_live)
		worker_token_drop(p->token_digest);
	for (int s = 0; s < 2; s++)
		outbuf_release(&p->out[s]);
	store_record_release(&p->rec);
	free(p->args_json);
	strv_free(p->envp);
	strv_free(p->argv);
	free(p->stdin_data);
	free(p);
}

/* The durable fields a record starts with. */
static void init_rec(struct proc *p, const struct proc_spawn *s, const struct proc_new_args *a)
{
	if (a->restore) {       /* its durable fields are the stored ones */
		if (store_record_copy(&p->rec, a->restore) < 0)
			return;         /* no name: proc_new fails */
		free(p->rec.launch_text);
		p->rec.launch_text = NULL;
		return;
	}
	p->rec.created_ms = ts_wall_ms();
	store_id_new(p->rec.id, p->rec.created_ms);
	if (s->name)
		p->rec.name = strdup(s->name);
	else if (asprintf(&p->rec.name, "Process-%ld", a->name_number) < 0)
		p->rec.name = NULL;
	p->rec.target = strdup(s->target->name);
	/* Printed exactly: the record echoes the args, and the worker re-reads args_json. */
	p->rec.args_text = s->args_sent ? number_print_json(s->args_sent) : strdup("[]");
	p->rec.daemon = s->daemon;
	p->rec.timeout = s->timeout > 0 ? s->timeout : s->target->timeout;
	p->rec.state = STORE_QUEUED;
	p->rec.pool = s->pool ? strdup(s->pool) : NULL;
}

static char *env_pair(const char *name, const char *value)
{
	char *s;
	return asprintf(&s, "%s=%s", name, value) < 0 ? NULL : s;
}

static bool is_worker_entry(const char *entry)
{
	return strncmp(entry, "SPAWND_URL=", 11) == 0 || strncmp(entry, "SPAWND_TOKEN=", 13) == 0 ||
	       strncmp(entry, "SPAWND_SOCKET=", 14) == 0;
}

/* SPAWND_URL, the worker's own SPAWND_TOKEN (engine/worker.h) and, when the
 * server has its unix socket, SPAWND_SOCKET, last, and
 * any entries of those names the caller gave taken out: getenv() finds the
 * first, so nothing a caller sends may stand before them. The token's text
 * lives only in the environment handed to the worker. 0 or -errno. */
static int add_worker_env(struct proc *p)
{
	char token[WORKER_TOKEN_LEN + 1], *url = NULL, *tok = NULL, *sock = NULL;
	size_t n = strv_len(p->envp), kept = 0;
	char **v = calloc(n + 4, sizeof *v);
	int r = v ? worker_token_new(token, p->token_digest) : -ENOMEM;
	if (r == 0) {
		url = env_pair("SPAWND_URL", worker_url());
		tok = env_pair("SPAWND_TOKEN", token);
		sock = worker_socket()[0] ? env_pair("SPAWND_SOCKET", worker_socket()) : NULL;
		explicit_bzero(token, sizeof token);
		r = url && tok && (sock || !worker_socket()[0]) ? worker_token_add(p->token_digest, p->rec.id) : -ENOMEM;
	}
	if (r < 0) {
		if (tok)
			explicit_bzero(tok, strlen(tok));
		free(url);
		free(tok);
		free(sock);
		free(v);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		if (is_worker_entry(p->envp[i]))
			free(p->envp[i]);
		else
			v[kept++] = p->envp[i];         /* its strings now belong to v */
	}
	v[kept] = url;
	v[kept + 1] = tok;
	v[kept + 2] = sock;
	p->token_live = true;
	free(p->envp);
	p->envp = v;
	return 0;
}

struct proc *proc_new(const struct proc_spawn *s, const struct proc_new_args *a)
{
	struct proc *p = calloc(1, sizeof *p);
	char path[4096];
	if (!p)
		return NULL;
	init_rec(p, s, a);
	p->key = a->key;
	p->link.id = p->rec.id;
	p->state = PROC_NEW;
	p->list_id = -1;
	p->target = s->target;
	p->args_json = s->canonical ? number_print_json(s->canonical) : strdup("{}");
	p->pidfd = p->stdin_fd = p->channel_fd = -1;
	p->out_fd[0] = p->out_fd[1] = -1;
	p->envp = target_finish_env(s->envp, p->rec.id, p->rec.name);
	if (p->envp && add_worker_env(p) < 0) {
		strv_free(p->envp);
		p->envp = NULL;
	}
	if (s->argv)
		p->argv = strv_copy(s->argv);
	if (s->stdin_data)
		p->stdin_data = strdup(s->stdin_data);
	p->stdin_open = s->stdin_open;
	p->pool_worker = s->pool_worker;

	snprintf(path, sizeof path, "%s/%s.stdout", a->output_dir, p->rec.id);
	int r0 = outbuf_init(&p->out[PROC_STDOUT], a->output_mem_cap, path);
	snprintf(path, sizeof path, "%s/%s.stderr", a->output_dir, p->rec.id);
	int r1 = outbuf_init(&p->out[PROC_STDERR], a->output_mem_cap, path);
	p->out[PROC_STDOUT].whole_file = p->out[PROC_STDERR].whole_file = a->whole_files;
	if (!p->rec.name || !p->rec.target || !p->rec.args_text || !p->args_json || !p->envp ||
	    (s->pool && !p->rec.pool) || (s->argv && !p->argv) || (s->stdin_data && !p->stdin_data) || r0 || r1) {
		proc_free(p);
		return NULL;
	}
	return p;
}

int proc_send_group(struct proc *p, int sig)
{
	if (p->pidfd >= 0) {
		if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, PIDFD_SIGNAL_PROCESS_GROUP) == 0)
			return 0;
		/* No such group yet: a worker just forked has not called setsid().
		 * It blocks every signal until it has (see forkserver/), so the
		 * signal sent to it alone waits and reaches it, before any code of
		 * its target runs and before it can have children. */
		if (errno == ESRCH && !p->leader_exited &&
		    syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOSYS)
			return -errno;
	}
	/* No group flag (kernel < 6.9), no pidfd_send_signal (< 5.1, or valgrind),
	 * or no pidfd: the leader is unreaped until its exit event, which is
	 * exactly when this path is still taken, so the group id cannot have
	 * been recycled. */
	if (!p->leader_exited && p->rec.pid > 0 && kill(-p->rec.pid, sig) == 0)
		return 0;
	return -errno;
}

int proc_watch_output(struct proc *p)
{
	for (int s = 0; s < 2; s++) {
		p->watch[s].proc = p;
		p->watch[s].stream = s;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &p->watch[s] };
		if (epoll_ctl(engine_epoll_fd(), EPOLL_CTL_ADD, p->out_fd[s], &ev) < 0)
			return -errno;
	}
	return 0;
}

bool proc_output_open(const struct proc *p)
{
	return p->out_fd[0] >= 0 || p->out_fd[1] >= 0;
}

void proc_close_output(struct proc *p, enum proc_stream s)
{
	if (p->out_fd[s] >= 0) {
		close(p->out_fd[s]);    /* also leaves the epoll set */
		p->out_fd[s] = -1;
	}
}

void proc_close_pidfd(struct proc *p)
{
	if (p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
}

bool proc_ended(const struct proc *p)
{
	return p->state == PROC_EXITED || p->state == PROC_FAILED || p->state == PROC_LINGERING;
}
