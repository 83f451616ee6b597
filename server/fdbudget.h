/* fdbudget — do the settings fit in the open-file limit (RLIMIT_NOFILE)?
 *
 * spawnd needs, at most, FD_BUDGET_FIXED fds of its own (stdio, epoll, timers,
 * signal and wake fds, the fork server's channel, the store's files, the
 * targets file or a plugin being opened), one listening socket, one fd per
 * HTTP connection (max_connections), and FD_BUDGET_PER_WORKER per running
 * process: its stdin, stdout and stderr pipes, its pidfd and, once its output
 * passes the memory cap, one spill file per stream. Queued processes hold none.
 *
 * A setting the user gave (a flag, a variable, a key) is honoured or refused;
 * one left at its default is lowered to fit, with a warning. Pure arithmetic:
 * the caller reads the limit and reports.
 */
#ifndef SPAWND_FDBUDGET_H
#define SPAWND_FDBUDGET_H

#include <stdbool.h>
#include <stddef.h>

#define FD_BUDGET_FIXED 64
#define FD_BUDGET_PER_WORKER 6
#define FD_BUDGET_MIN_CONNECTIONS 16   /* below this a defaulted limit is not lowered: refused */

struct fd_budget {
	long open_files;                     /* the soft RLIMIT_NOFILE, already raised to the hard one */
	long max_running, max_connections;   /* in: wanted; out: what fits */
	bool running_given, connections_given;   /* not defaults: never lowered */
};

/* The fds these settings need. */
long fd_budget_need(long max_running, long max_connections);

/* 0: the settings fit as they are. 1: defaults were lowered to fit; msg holds
 * the logfmt fields of the warning (the limit, what was wanted, what is used,
 * what to raise). -1: they cannot fit; msg says why and what to raise or
 * lower. */
int fd_budget_fit(struct fd_budget *b, char *msg, size_t cap);

#endif
