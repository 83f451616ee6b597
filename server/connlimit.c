/* connlimit — see connlimit.h.
 *
 * Making room: a connection is shut down (shutdown(2), not close(2): the fd
 * stays libmicrohttpd's, which sees the end on its next poll and closes and
 * frees the connection as if the client had left). That is safe from any
 * thread only while the fd is still open, which holds for every connection
 * on the list: libmicrohttpd calls MHD_CONNECTION_NOTIFY_CLOSED, which takes
 * it off the list under the lock, before it closes the socket.
 *
 * Why evict only idle connections: a busy one is a request in progress (a
 * join, a followed stream) that a client is waiting on; an idle one has sent
 * nothing complete yet or is kept alive between requests, and losing it
 * costs its client at most a reconnect. The oldest goes first, so a
 * newcomer (a health check sending its request at once) is the last.
 *
 * Why the 429/503 is decided when the headers are in and not at accept:
 * the request line tells /healthz (always served) from the rest, and an idle
 * connection that was made room for at accept may be busy by then.
 */
#define _GNU_SOURCE
#include "server/connlimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/ts.h"

/* A connection younger than this is never evicted: its request may be on
 * its way (sent, not yet read), and closing it would leave its client with
 * no answer at all. Idle and slowloris connections are older. */
#define EVICT_MIN_AGE_MS 250

struct conn {
	struct conn *prev, *next;        /* oldest first */
	int64_t since_ms;                /* accepted, or last request ended (monotonic) */
	MHD_socket fd;
	int family;
	unsigned char addr[16];          /* IPv4 or IPv6 address, no port */
	bool busy;                       /* a request is in progress */
	bool evicted;                    /* shut down, waiting for libmicrohttpd to close it */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *oldest, *newest;
static unsigned soft_limit, hard_limit, per_ip_limit;
static unsigned long open_count, evicted_count;

unsigned connlimit_reserve(unsigned max_connections)
{
	unsigned r = max_connections / 4;
	return r > 16 ? 16 : r < 1 ? 1 : r;
}

void connlimit_init(unsigned max_connections, unsigned per_ip)
{
	hard_limit = max_connections;
	soft_limit = max_connections - connlimit_reserve(max_connections);
	per_ip_limit = per_ip;
}

static bool same_ip(const struct conn *a, const struct conn *b)
{
	size_t len = a->family == AF_INET6 ? 16 : 4;
	return a->family == b->family && memcmp(a->addr, b->addr, len) == 0;
}

static void set_addr(struct conn *c, const struct sockaddr *sa)
{
	c->family = sa ? sa->sa_family : AF_UNSPEC;
	if (c->family == AF_INET)
		memcpy(c->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	else if (c->family == AF_INET6)
		memcpy(c->addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
}

static void evict(struct conn *c)
{
	c->evicted = true;
	shutdown(c->fd, SHUT_RDWR);
	evicted_count++;
}

/* The oldest idle connection other than c (of c's address only, if
 * same_address), at least min_age_ms idle; NULL when there is none. */
static struct conn *oldest_idle(const struct conn *c, bool same_address, int64_t min_age_ms)
{
	int64_t now = ts_mono_ms();
	for (struct conn *p = oldest; p; p = p->next)
		if (p != c && !p->evicted && !p->busy && now - p->since_ms >= min_age_ms &&
		    (!same_address || same_ip(p, c)))
			return p;
	return NULL;
}

/* Called with the lock held, for c just added: makes room when c is over a
 * limit. An address over its own limit loses its oldest idle connection,
 * whatever its age (it floods). Over the total, the oldest idle one that has
 * been so EVICT_MIN_AGE_MS goes; when none has, and c took the last slot but
 * one, the oldest idle of any age goes, so one slot is always left for the
 * next newcomer (a health check) instead of libmicrohttpd closing it unheard. */
static void make_room(struct conn *c)
{
	unsigned live = 0, live_ip = 0;
	for (struct conn *p = oldest; p; p = p->next)
		if (!p->evicted) {
			live++;
			live_ip += same_ip(p, c);
		}
	struct conn *victim;
	if (per_ip_limit && live_ip > per_ip_limit && (victim = oldest_idle(c, true, 0))) {
		evict(victim);
		live--;
	}
	if (live <= soft_limit)
		return;
	if ((victim = oldest_idle(c, false, EVICT_MIN_AGE_MS)) ||
	    (live + 1 >= hard_limit && (victim = oldest_idle(c, false, 0))))
		evict(victim);
}

static void on_started(struct MHD_Connection *conn, void **socket_context)
{
	const union MHD_ConnectionInfo *fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *addr = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct conn *c = calloc(1, sizeof *c);
	*socket_context = c;
	if (!c || !fd)
		return;                  /* uncounted: it is closed like any other */
	c->fd = fd->connect_fd;
	c->since_ms = ts_mono_ms();
	set_addr(c, addr ? addr->client_addr : NULL);
	pthread_mutex_lock(&lock);
	c->prev = newest;
	if (newest)
		newest->next = c;
	else
		oldest = c;
	newest = c;
	open_count++;
	make_room(c);
	pthread_mutex_unlock(&lock);
}

static void on_closed(struct conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&lock);
	if (c->prev || oldest == c) {
		if (c->prev)
			c->prev->next = c->next;
		else
			oldest = c->next;
		if (c->next)
			c->next->prev = c->prev;
		else
			newest = c->prev;
		open_count--;
	}
	pthread_mutex_unlock(&lock);
	free(c);
}

void connlimit_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		      enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		on_started(conn, socket_context);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		on_closed(*socket_context);
		*socket_context = NULL;
	}
}

static struct conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *i = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return i ? i->socket_context : NULL;
}

enum connlimit_verdict connlimit_request_started(struct MHD_Connection *conn)
{
	struct conn *c = conn_of(conn);
	unsigned busy = 0, busy_ip = 0;
	if (!c)
		return CONNLIMIT_OK;
	pthread_mutex_lock(&lock);
	c->busy = true;
	for (struct conn *p = oldest; p; p = p->next)
		if (p->busy && !p->evicted) {
			busy++;
			busy_ip += same_ip(p, c);
		}
	pthread_mutex_unlock(&lock);
	if (per_ip_limit && busy_ip > per_ip_limit)
		return CONNLIMIT_IP_FULL;
	return busy > soft_limit ? CONNLIMIT_FULL : CONNLIMIT_OK;
}

void connlimit_request_ended(struct MHD_Connection *conn)
{
	struct conn *c = conn_of(conn);
	if (!c)
		return;
	pthread_mutex_lock(&lock);
	c->busy = false;
	c->since_ms = ts_mono_ms();
	pthread_mutex_unlock(&lock);
}

void connlimit_counts(unsigned long *open, unsigned long *evicted)
{
	pthread_mutex_lock(&lock);
	*open = open_count;
	*evicted = evicted_count;
	pthread_mutex_unlock(&lock);
}
