/* healthcheck — `spawnd healthcheck`: is the server at --listen answering?
 *
 * For a container's HEALTHCHECK, which runs inside the image, where there is
 * no curl: one GET /healthz over a plain TCP socket to the listen address
 * (a wildcard address, 0.0.0.0 or [::], is reached through its loopback).
 * Nothing here exits or logs; the caller prints and exits.
 */
#ifndef SPAWND_HEALTHCHECK_H
#define SPAWND_HEALTHCHECK_H

#include <stddef.h>

/* GET /healthz at listen ("HOST:PORT", as --listen takes it) within timeout_ms.
 * Returns 0 when it answered 200, with its body (NUL-terminated, cut to cap)
 * in out; -1 otherwise, with the reason in out ("connect 127.0.0.1:8080:
 * Connection refused", "answered 503", "no answer within 5 s"). */
int healthcheck_run(const char *listen, int timeout_ms, char *out, size_t cap);

#endif
