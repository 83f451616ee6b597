/* session — browser sessions (API.md "Authentication"): EventSource cannot
 * send an Authorization header, so a browser trades its token once
 * (POST /session) for a random session id in an HttpOnly, SameSite=Strict
 * cookie. The table keeps only SHA-256 digests: of the session id (so a
 * memory dump holds no usable cookie) and of the token it was made from (so
 * the session's role is the token's role *now*: a token revoked by a reload
 * ends its sessions at the next request). Sessions expire SESSION_TTL_S
 * after they are made, and live in memory only: a restart logs browsers out.
 *
 * Threads: any HTTP thread (a mutex guards the table).
 */
#ifndef SPAWND_SESSION_H
#define SPAWND_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "server/http.h"

#define SESSION_COOKIE "spawnd_session"
#define SESSION_TTL_S (12 * 3600)
#define SESSION_MAX 1024                /* then the one closest to expiry goes */
#define SESSION_ID_HEX 64
#define SESSION_DIGEST 32
/* A write made with a session cookie must carry this header (any value) or
 * an Origin of this server: a cross-site page can send neither. */
#define SESSION_CSRF_HEADER "X-Spawnd-CSRF"

/* Makes a session for the token whose digest is given: its id (hex,
 * NUL-terminated) for the cookie, its expiry (wall clock ms). 0 or -errno
 * (-EIO: no randomness). */
int session_create(const uint8_t token_digest[SESSION_DIGEST], char id[SESSION_ID_HEX + 1], int64_t *expires_ms);

/* The session r's cookie names, if it exists and has not expired: 0 with
 * its token's digest and expiry; -ENOENT otherwise. */
int session_lookup(struct http_req *r, uint8_t token_digest[SESSION_DIGEST], int64_t *expires_ms);

/* Ends the session r's cookie names (if any). */
void session_remove(struct http_req *r);

/* The Set-Cookie value that sets id (NULL: one that clears the cookie). */
void session_cookie(const char *id, char *out, size_t cap);

/* True when r, a write made with a session cookie, shows it comes from this
 * server's own page: the CSRF header, or an Origin equal to http(s)://Host. */
bool session_write_allowed(struct http_req *r);

#endif
