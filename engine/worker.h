/* worker — what a running worker is to the rest of spawnd: its own token
 * (SPAWND_TOKEN, API.md "Authentication") and the moment it ends.
 *
 * Every record gets a token when it is made (worker_token_new(): one
 * getrandom() of 256 bits, nothing else on the start path); the table keeps
 * only its SHA-256 digest, from worker_token_add() until worker_ended(), which
 * the engine calls the moment the worker's leader exits (or the record fails
 * or never starts). A token is "spw_" and 64 hex digits, so a worker's token is
 * told apart from a tokens-file token without a lookup, and a stale one is
 * refused (401) even on a server without a tokens file.
 *
 * worker_ended() also queues the end hook (worker_set_end_hook(): the shared
 * objects release what the worker held), which runs on the engine's batch,
 * outside the engine lock, right after the transition that ended it.
 *
 * Threads: the token table has a lock of its own (taken under the engine lock,
 * never the other way round); worker_token_find() is called from HTTP threads.
 * Tokens are never logged.
 */
#ifndef SPAWND_WORKER_H
#define SPAWND_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WORKER_TOKEN_PREFIX "spw_"
#define WORKER_TOKEN_LEN 68             /* "spw_" + 64 hex digits */
#define WORKER_DIGEST_LEN 32
#define WORKER_ID_MAX 32

/* A new token in text (NUL-terminated) and its digest. 0 or -errno. */
int worker_token_new(char text[WORKER_TOKEN_LEN + 1], uint8_t digest[WORKER_DIGEST_LEN]);
/* The token of digest is valid for worker id from now on. 0 or -ENOMEM. */
int worker_token_add(const uint8_t digest[WORKER_DIGEST_LEN], const char *id);
/* Removes the token of digest without running the end hook (a record freed
 * before it ever ran: nothing can be held by it). */
void worker_token_drop(const uint8_t digest[WORKER_DIGEST_LEN]);
/* True when text has a worker token's shape (the prefix). */
bool worker_token_shaped(const char *text);
/* True and the worker's id when text is the token of a worker that runs
 * (compared in constant time over the whole digest). */
bool worker_token_find(const char *text, char id[WORKER_ID_MAX]);

/* True while worker id's token is valid (it runs). */
bool worker_running(const char *id);
/* The worker of id and digest has ended: its token is refused from now on and
 * the end hook is queued on the engine's batch (engine lock held). */
void worker_ended(const uint8_t digest[WORKER_DIGEST_LEN], const char *id);
/* fn(id) runs once for every worker that ends, outside the engine lock. Set
 * once, before the engine starts. */
void worker_set_end_hook(void (*fn)(const char *id));

/* SPAWND_URL: where a worker reaches this server (set once it listens;
 * takes the engine lock). worker_url() with the engine lock held. */
void worker_set_url(const char *url);
const char *worker_url(void);

/* SPAWND_SOCKET: the unix socket workers reach this server through
 * (server/worker_socket.h), "" when there is none. Same locking as the URL. */
void worker_set_socket(const char *path);
const char *worker_socket(void);

#endif
