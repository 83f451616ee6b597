/* connlimit — who may hold one of spawnd's HTTP connections (issue 12 point 6).
 *
 * A connection costs an fd and a slot of libmicrohttpd's connection limit
 * whether or not it ever sends a request, so clients that connect and then
 * send nothing, or one byte now and then (slowloris), could take every slot
 * and lock everyone out, /healthz and the operator included. Three rules:
 *   - a total limit (max_connections, libmicrohttpd's own), of which the
 *     last `reserve` slots are kept for /healthz and admin-token requests;
 *   - a per-IP limit: one address holds at most per_ip connections;
 *   - over either limit, an *idle* connection (no request in progress:
 *     still sending its headers, or kept alive between requests) is shut
 *     down to make room: the oldest of that address (per-IP), or the oldest
 *     of anyone idle 250 ms or more (total; of any age when only one slot is
 *     left, so a newcomer is never turned away unheard by libmicrohttpd).
 *     Only when no idle connection is left does a newcomer get a clean
 *     answer instead: 429 (its address is over) or 503 (the server is full),
 *     unless it is /healthz or an operator (an admin token).
 * Idle connections are also closed by libmicrohttpd's idle timeout.
 *
 * Threads: every function may run on any of libmicrohttpd's threads; one
 * mutex guards the list. Connections are few thousand at most, so a walk of
 * the list per new connection costs microseconds and needs no index.
 */
#ifndef SPAWND_CONNLIMIT_H
#define SPAWND_CONNLIMIT_H

#include <microhttpd.h>

enum connlimit_verdict {
	CONNLIMIT_OK = 0,
	CONNLIMIT_IP_FULL,       /* its address holds per_ip connections, all busy: 429 */
	CONNLIMIT_FULL,          /* only reserved slots are left: 503 */
};

/* max_connections as given to libmicrohttpd; per_ip 0: no per-IP limit. */
void connlimit_init(unsigned max_connections, unsigned per_ip);

/* The slots kept for /healthz and operators out of max_connections. */
unsigned connlimit_reserve(unsigned max_connections);

/* MHD_OPTION_NOTIFY_CONNECTION's callback. */
void connlimit_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		      enum MHD_ConnectionNotificationCode code);

/* A request's headers are in: the connection is busy until
 * connlimit_request_ended(). Says whether it got in over a limit. */
enum connlimit_verdict connlimit_request_started(struct MHD_Connection *conn);
void connlimit_request_ended(struct MHD_Connection *conn);

/* Connections open now, and shut down to make room since the start. */
void connlimit_counts(unsigned long *open, unsigned long *evicted);

#endif
