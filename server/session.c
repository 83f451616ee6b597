/* session — see session.h.
 *
 * Why digests and a fixed table: the cookie is a bearer credential, so it is
 * kept like a token (auth.c): hashed, compared in constant time, against
 * every entry. A fixed table bounds the memory a flood of logins can take;
 * when it is full the session closest to its expiry is replaced (its user
 * logs in again), never refused. Expiry is on the wall clock, as the
 * cookie's Max-Age is.
 */
#define _GNU_SOURCE
#include "server/session.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "lib/ts.h"

struct session {
	uint8_t id_digest[SESSION_DIGEST];
	uint8_t token_digest[SESSION_DIGEST];
	int64_t expires_ms;             /* 0: free */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct session table[SESSION_MAX];

static void digest_of(const char *text, size_t len, uint8_t out[SESSION_DIGEST])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, (const uint8_t *)text);
	sha256_digest(&ctx, SESSION_DIGEST, out);
}

/* A free or expired slot, else the one expiring first. Lock held. */
static struct session *slot_for_new(int64_t now)
{
	struct session *best = &table[0];
	for (size_t i = 0; i < SESSION_MAX; i++) {
		if (table[i].expires_ms <= now)
			return &table[i];
		if (table[i].expires_ms < best->expires_ms)
			best = &table[i];
	}
	return best;
}

int session_create(const uint8_t token_digest[SESSION_DIGEST], char id[SESSION_ID_HEX + 1], int64_t *expires_ms)
{
	uint8_t raw[SESSION_ID_HEX / 2];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return -EIO;
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof raw);
	int64_t now = ts_wall_ms();
	pthread_mutex_lock(&lock);
	struct session *s = slot_for_new(now);
	digest_of(id, SESSION_ID_HEX, s->id_digest);
	memcpy(s->token_digest, token_digest, SESSION_DIGEST);
	s->expires_ms = *expires_ms = now + (int64_t)SESSION_TTL_S * 1000;
	pthread_mutex_unlock(&lock);
	return 0;
}

/* The live session whose id has this digest, or NULL. Every entry is
 * compared (no early exit), so the time says nothing of which matched. Lock held. */
static struct session *find(const uint8_t digest[SESSION_DIGEST], int64_t now)
{
	struct session *found = NULL;
	for (size_t i = 0; i < SESSION_MAX; i++) {
		bool same = memeql_sec(digest, table[i].id_digest, SESSION_DIGEST) != 0;
		if (same && table[i].expires_ms > now)
			found = &table[i];
	}
	return found;
}

static bool cookie_digest(struct http_req *r, uint8_t digest[SESSION_DIGEST])
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, SESSION_COOKIE);
	if (!v || strlen(v) != SESSION_ID_HEX)
		return false;
	digest_of(v, SESSION_ID_HEX, digest);
	return true;
}

int session_lookup(struct http_req *r, uint8_t token_digest[SESSION_DIGEST], int64_t *expires_ms)
{
	uint8_t digest[SESSION_DIGEST];
	int ret = -ENOENT;
	if (!cookie_digest(r, digest))
		return -ENOENT;
	pthread_mutex_lock(&lock);
	struct session *s = find(digest, ts_wall_ms());
	if (s) {
		memcpy(token_digest, s->token_digest, SESSION_DIGEST);
		*expires_ms = s->expires_ms;
		ret = 0;
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

void session_remove(struct http_req *r)
{
	uint8_t digest[SESSION_DIGEST];
	if (!cookie_digest(r, digest))
		return;
	pthread_mutex_lock(&lock);
	struct session *s = find(digest, ts_wall_ms());
	if (s)
		memset(s, 0, sizeof *s);
	pthread_mutex_unlock(&lock);
}

void session_cookie(const char *id, char *out, size_t cap)
{
	/* No Secure flag: spawnd serves plain HTTP on loopback by default, where
	 * browsers would drop a Secure cookie. */
	if (id)
		snprintf(out, cap, SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d", id, SESSION_TTL_S);
	else
		snprintf(out, cap, SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}

bool session_write_allowed(struct http_req *r)
{
	const char *origin = http_header(r, MHD_HTTP_HEADER_ORIGIN), *host = http_header(r, MHD_HTTP_HEADER_HOST);
	if (http_header(r, SESSION_CSRF_HEADER))
		return true;
	if (!origin || !host)
		return false;
	const char *rest = strncasecmp(origin, "http://", 7) == 0 ? origin + 7
			 : strncasecmp(origin, "https://", 8) == 0 ? origin + 8 : NULL;
	return rest && strcasecmp(rest, host) == 0;
}
