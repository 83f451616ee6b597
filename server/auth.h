/* auth — bearer tokens with roles (API.md "Authentication").
 *
 * Tokens come from a file (--tokens-file), one "ROLE TOKEN" a line: admin
 * may do everything, read may only GET (and HEAD). Only their SHA-256
 * digests are kept in memory; a presented token is hashed the same way and
 * compared with every digest in constant time, so neither the token nor
 * which entry it matched leaks through timing. No token text is ever put in
 * a message, a log line or a metric: a bad line is named by its number.
 *
 * Threads: auth_init() at startup (single-threaded); auth_reload() from the
 * signal loop; auth_check() from any HTTP thread. The set is swapped under a
 * lock, so a reload takes effect for the next request that is checked.
 */
#ifndef SPAWND_AUTH_H
#define SPAWND_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http.h"

/* Loads the tokens file (NULL: no tokens, everything open) and refuses a
 * non-loopback listen address without tokens unless insecure. 0, or -1 with
 * a message in err naming the file and line (or the address). */
int auth_init(const char *tokens_file, const char *listen, bool insecure, char *err, size_t cap);

/* Re-reads the tokens file (SIGHUP). An unreadable or invalid file keeps the
 * current set; either way the outcome is logged. No-op without a file. */
void auth_reload(void);

/* Roles as auth_token_role() and auth_request_role() answer them. */
enum auth_role { AUTH_ROLE_NONE, AUTH_ROLE_READ, AUTH_ROLE_ADMIN };

/* Whether tokens are configured at all. */
bool auth_enabled(void);
/* The role of a token (AUTH_ROLE_NONE: not valid), and its digest, which
 * names it to a session (server/session.h) without keeping its text. */
int auth_token_role(const char *token, uint8_t digest[32]);
/* The role r authenticates as: its bearer token, else its session cookie;
 * AUTH_ROLE_ADMIN when no tokens are configured. */
int auth_request_role(struct http_req *r);

/* Frees the set. */
void auth_release(void);

/* Replies 401 (no or a wrong token) or 403 (a read token on a write) when r
 * may not go on; otherwise does nothing (r->replied stays false). Requests
 * to a public route (is_public: /healthz) and OPTIONS (CORS preflights carry
 * no credentials) pass, as does everything when no tokens are configured.
 * Without an Authorization header, a session cookie (server/session.h)
 * stands for its token; a write with one must also pass
 * session_write_allowed() (else 403), against cross-site request forgery. */
enum MHD_Result auth_check(struct http_req *r, bool is_public);

/* True when tokens are configured and r carries an admin token (an
 * operator: server/connlimit.h keeps slots for it). */
bool auth_is_admin(struct http_req *r);

#endif
