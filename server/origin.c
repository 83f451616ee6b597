/* origin — see origin.h.
 *
 * Why Host: DNS rebinding points an attacker's name at 127.0.0.1, so the
 * victim's browser sends same-origin requests, and reads the answers, with
 * "Host: attacker.example". Refusing names that are not this server's ends
 * that, and costs legitimate clients nothing: they name the server by an
 * address or by a name the operator lists. An address literal is accepted
 * only when it is the address the connection reached (a rebinding attack
 * never has the victim's browser send one of those: it uses a name).
 *
 * Why Origin on writes only: a cross-site form POST reaches the server
 * without any preflight; reads are protected by the browser's same-origin
 * policy (and CORS) already, and a GET changes nothing.
 */
#define _GNU_SOURCE
#include "server/origin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static char *listen_host;      /* the host of --listen, "[...]" kept for IPv6 */
static char *allowed_hosts;    /* comma-separated, or NULL */

int origin_init(const char *listen, const char *allowed, char *err, size_t cap)
{
	const char *colon = strrchr(listen, ':');
	listen_host = strndup(listen, colon ? (size_t)(colon - listen) : strlen(listen));
	allowed_hosts = allowed ? strdup(allowed) : NULL;
	if (!listen_host || (allowed && !allowed_hosts)) {
		snprintf(err, cap, "out of memory");
		return -1;
	}
	return 0;
}

void origin_release(void)
{
	free(listen_host);
	free(allowed_hosts);
	listen_host = allowed_hosts = NULL;
}

/* The length of Host's name part: "[::1]:8080" -> "[::1]", "a:80" -> "a". */
static size_t name_len(const char *host)
{
	if (host[0] == '[') {
		const char *end = strchr(host, ']');
		return end ? (size_t)(end - host) + 1 : strlen(host);
	}
	return strcspn(host, ":");
}

static bool same_name(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

static bool in_list(const char *name, size_t len, const char *list)
{
	while (list && *list) {
		size_t n = strcspn(list, ",");
		if (n == len && strncasecmp(list, name, n) == 0)
			return true;
		list += n + (list[n] == ',');
	}
	return false;
}

/* The address this connection reached, as a Host would name it ("10.0.0.5",
 * "[fd00::1]"); false when it cannot be told. */
static bool local_address(struct http_req *r, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char addr[INET6_ADDRSTRLEN];

	if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)cap);
		return true;
	}
	if (ss.ss_family != AF_INET6)
		return false;
	const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {         /* a v4 client of a dual-stack socket */
		inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)cap);
		return true;
	}
	inet_ntop(AF_INET6, a6, addr, sizeof addr);
	snprintf(out, cap, "[%s]", addr);
	return true;
}

static bool host_allowed(struct http_req *r, const char *host)
{
	size_t len = name_len(host);
	char local[INET6_ADDRSTRLEN + 2];

	if (same_name(host, len, "localhost") || same_name(host, len, "127.0.0.1") || same_name(host, len, "[::1]"))
		return true;
	if (same_name(host, len, listen_host) || in_list(host, len, allowed_hosts))
		return true;
	return local_address(r, local, sizeof local) && same_name(host, len, local);
}

/* Origin is the server's own: "http://" or "https://" and then Host. */
static bool own_origin(const char *origin, const char *host)
{
	const char *rest = strncasecmp(origin, "http://", 7) == 0 ? origin + 7
			 : strncasecmp(origin, "https://", 8) == 0 ? origin + 8 : NULL;
	return rest && host && strcasecmp(rest, host) == 0;
}

enum MHD_Result origin_check(struct http_req *r)
{
	const char *host = http_header(r, MHD_HTTP_HEADER_HOST);
	const char *origin = http_header(r, MHD_HTTP_HEADER_ORIGIN);
	bool write = strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 &&
		     strcmp(r->method, "OPTIONS") != 0;

	if (host && !host_allowed(r, host))
		return http_reply_error(r, 421, "misdirected_request", NULL,
			"this server does not answer to the Host this request names; "
			"list the name in --allowed-hosts to allow it");
	if (write && origin && !http_cors_allowed(r) && !own_origin(origin, host))
		return http_reply_error(r, 403, "forbidden", NULL,
			"writes from this Origin are refused; list it in --cors-origins to allow it");
	return MHD_YES;
}
