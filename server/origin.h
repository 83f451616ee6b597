/* origin — where a request says it is going (Host) and where it comes from
 * (Origin), checked so that a web page the operator visits can neither
 * drive spawnd (a form POST needs no CORS preflight) nor read it through DNS
 * rebinding, with or without tokens.
 *
 * Host must name this server: a loopback name (localhost, 127.0.0.1, [::1]),
 * the host of --listen, the address the connection reached (so a server on
 * 0.0.0.0 answers to its own addresses), or a name of --allowed-hosts; the
 * port is not compared. Else 421 misdirected_request. A request without Host
 * (HTTP/1.0) passes: browsers always send one.
 * A write (any method but GET, HEAD, OPTIONS) with an Origin header must come
 * from an origin of --cors-origins or from the server's own origin
 * (http(s)://HOST as the request names it); else 403 forbidden. Requests
 * without Origin (curl, the clients) pass.
 *
 * Threads: origin_init() at startup; origin_check() from any HTTP thread.
 */
#ifndef SPAWND_ORIGIN_H
#define SPAWND_ORIGIN_H

#include <stddef.h>

#include "server/http.h"

/* listen: HOST:PORT as given; allowed_hosts: comma-separated names or NULL.
 * Both are copied. 0 or -1 with err (out of memory). */
int origin_init(const char *listen, const char *allowed_hosts, char *err, size_t cap);
void origin_release(void);

/* Replies 421 or 403 when r may not go on; otherwise does nothing. */
enum MHD_Result origin_check(struct http_req *r);

#endif
