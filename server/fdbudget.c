/* fdbudget — fitting max_running and max_connections to the open-file limit.
 *
 * Why refuse instead of fitting everything: a limit the user set and cannot
 * have is a surprise found under load (EMFILE on accept or on a spawn, long
 * after startup); saying so at startup, with the numbers, is the clear answer.
 * Defaults are another matter: they are generous on purpose, and a small
 * limit (a container's 1024) must still start, so they shrink, both by the
 * same share of what is left, and the warning says what to raise to have them.
 */
#include "server/fdbudget.h"

#include <stdio.h>

long fd_budget_need(long max_running, long max_connections)
{
	return FD_BUDGET_FIXED + 1 + max_connections + FD_BUDGET_PER_WORKER * max_running;
}

static int refuse(const struct fd_budget *b, long need, char *msg, size_t cap)
{
	snprintf(msg, cap,
		 "the open-file limit (RLIMIT_NOFILE, raised to its hard limit) is %ld, but max_running=%ld and "
		 "max_connections=%ld need %ld fds (%d + 1 listening socket + max_connections + %d per running "
		 "process): raise the hard limit (ulimit -Hn, systemd LimitNOFILE=, docker --ulimit nofile=) to "
		 "%ld or more, or lower max_running (--max-running) or max_connections (--max-connections)",
		 b->open_files, b->max_running, b->max_connections, need, FD_BUDGET_FIXED, FD_BUDGET_PER_WORKER,
		 need);
	return -1;
}

int fd_budget_fit(struct fd_budget *b, char *msg, size_t cap)
{
	long need = fd_budget_need(b->max_running, b->max_connections);
	if (need <= b->open_files)
		return 0;
	/* What the given settings leave for the defaulted ones. */
	long room = b->open_files - FD_BUDGET_FIXED - 1 -
		    (b->connections_given ? b->max_connections : 0) -
		    (b->running_given ? FD_BUDGET_PER_WORKER * b->max_running : 0);
	long flexible = (b->connections_given ? 0 : b->max_connections) +
			(b->running_given ? 0 : FD_BUDGET_PER_WORKER * b->max_running);
	long running = b->max_running, connections = b->max_connections;
	if (flexible == 0)
		return refuse(b, need, msg, cap);
	if (!b->running_given) {
		/* Its share of the room, or all of it when the connections are given. */
		running = (long)((double)room * FD_BUDGET_PER_WORKER * b->max_running / (double)flexible) /
			  FD_BUDGET_PER_WORKER;
		if (running < 1)
			return refuse(b, need, msg, cap);
	}
	if (!b->connections_given) {
		connections = room - (b->running_given ? 0 : FD_BUDGET_PER_WORKER * running);
		if (connections > b->max_connections)
			connections = b->max_connections;
		if (connections < FD_BUDGET_MIN_CONNECTIONS)
			return refuse(b, need, msg, cap);
	}
	if (fd_budget_need(running, connections) > b->open_files)
		return refuse(b, need, msg, cap);
	snprintf(msg, cap,
		 "open_files=%ld needed=%ld max_running=%ld max_running_used=%ld max_connections=%ld "
		 "max_connections_used=%ld hint=\"raise the hard open-file limit to %ld to have the defaults, "
		 "or set max_running and max_connections\"",
		 b->open_files, need, b->max_running, running, b->max_connections, connections, need);
	b->max_running = running;
	b->max_connections = connections;
	return 1;
}
