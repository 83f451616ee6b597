/* framing — the request-smuggling checks on a request's header block, made
 * before any body byte is read (QUALITY.md 8).
 *
 * libmicrohttpd 0.9.75 reads the first Content-Length of several, prefers
 * Transfer-Encoding to Content-Length, and reads a body of any other
 * transfer coding ("gzip", "chunked, gzip") until the connection closes. A
 * front proxy may read the same bytes differently (the last Content-Length,
 * or Content-Length over Transfer-Encoding), so such a request could carry a
 * second, hidden one past the proxy. These are refused instead (RFC 9112
 * 6.3): more than one Content-Length, Transfer-Encoding or Host; both
 * Transfer-Encoding and Content-Length; a Transfer-Encoding other than
 * "chunked"; HTTP/1.1 without Host.
 */
#ifndef SPAWND_FRAMING_H
#define SPAWND_FRAMING_H

#include <microhttpd.h>

/* NULL when conn's request is framed unambiguously; else why, and in
 * *field the header to name ("Content-Length", "Transfer-Encoding", "Host"). */
const char *framing_problem(struct MHD_Connection *conn, const char *version, const char **field);

#endif
