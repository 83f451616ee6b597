/* worker — see worker.h.
 *
 * Design: the live tokens are a small hash table of digests (chained, bucket
 * chosen by the digest's first bytes: the digest of a random 256-bit token is
 * itself uniform, and knowing a bucket tells nothing about a token). Every
 * entry of the bucket is compared with nettle's memeql_sec(), without an
 * early exit. The table holds only live workers: ending one removes its entry,
 * so a token stops working the moment its worker ends.
 *
 * The end hook rides on the engine's batch of waiters to fire: a one-shot
 * waiter on a private queue, woken at once, so the hook runs where every
 * other callback of that transition runs, after the lock is dropped.
 */
#define _GNU_SOURCE
#include "engine/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "engine/engine.h"
#include "lib/container.h"
#include "lib/log.h"

#define BUCKETS 1024

struct live_token {
	struct live_token *next;
	uint8_t digest[WORKER_DIGEST_LEN];
	char id[WORKER_ID_MAX];
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct live_token *buckets[BUCKETS];
static void (*end_hook)(const char *id);
static char url[256];

static void digest_of(const char *text, size_t len, uint8_t out[WORKER_DIGEST_LEN])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, (const uint8_t *)text);
	sha256_digest(&ctx, WORKER_DIGEST_LEN, out);
}

static size_t bucket_of(const uint8_t digest[WORKER_DIGEST_LEN])
{
	return ((size_t)digest[0] << 8 | digest[1]) % BUCKETS;
}

int worker_token_new(char text[WORKER_TOKEN_LEN + 1], uint8_t digest[WORKER_DIGEST_LEN])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[32];
	ssize_t n = getrandom(raw, sizeof raw, 0);
	if (n != (ssize_t)sizeof raw)
		return n < 0 ? -errno : -EIO;
	memcpy(text, WORKER_TOKEN_PREFIX, 4);
	for (size_t i = 0; i < sizeof raw; i++) {
		text[4 + 2 * i] = hex[raw[i] >> 4];
		text[5 + 2 * i] = hex[raw[i] & 15];
	}
	text[WORKER_TOKEN_LEN] = '\0';
	explicit_bzero(raw, sizeof raw);
	digest_of(text, WORKER_TOKEN_LEN, digest);
	return 0;
}

int worker_token_add(const uint8_t digest[WORKER_DIGEST_LEN], const char *id)
{
	struct live_token *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	memcpy(t->digest, digest, WORKER_DIGEST_LEN);
	snprintf(t->id, sizeof t->id, "%s", id);
	size_t b = bucket_of(digest);
	pthread_mutex_lock(&table_lock);
	t->next = buckets[b];
	buckets[b] = t;
	pthread_mutex_unlock(&table_lock);
	return 0;
}

bool worker_token_shaped(const char *text)
{
	return strncmp(text, WORKER_TOKEN_PREFIX, 4) == 0;
}

bool worker_token_find(const char *text, char id[WORKER_ID_MAX])
{
	uint8_t digest[WORKER_DIGEST_LEN];
	bool found = false;
	digest_of(text, strlen(text), digest);
	pthread_mutex_lock(&table_lock);
	for (struct live_token *t = buckets[bucket_of(digest)]; t; t = t->next) {
		/* No early exit: every entry of the bucket costs the same. */
		bool same = memeql_sec(digest, t->digest, WORKER_DIGEST_LEN) != 0;
		if (same && !found) {
			snprintf(id, WORKER_ID_MAX, "%s", t->id);
			found = true;
		}
	}
	pthread_mutex_unlock(&table_lock);
	return found;
}

bool worker_running(const char *id)
{
	bool found = false;
	pthread_mutex_lock(&table_lock);
	for (size_t b = 0; b < BUCKETS && !found; b++)
		for (struct live_token *t = buckets[b]; t && !found; t = t->next)
			found = strcmp(t->id, id) == 0;
	pthread_mutex_unlock(&table_lock);
	return found;
}

void worker_token_drop(const uint8_t digest[WORKER_DIGEST_LEN])
{
	pthread_mutex_lock(&table_lock);
	for (struct live_token **pp = &buckets[bucket_of(digest)]; *pp; pp = &(*pp)->next) {
		if (memcmp((*pp)->digest, digest, WORKER_DIGEST_LEN) == 0) {
			struct live_token *t = *pp;
			*pp = t->next;
			free(t);
			break;
		}
	}
	pthread_mutex_unlock(&table_lock);
}

struct ended {
	struct proc_waiter waiter;
	struct waitq q;
	char id[WORKER_ID_MAX];
};

static void ended_fired(struct proc_waiter *w)
{
	struct ended *e = container_of(w, struct ended, waiter);
	if (end_hook)
		end_hook(e->id);
	free(e);
}

void worker_ended(const uint8_t digest[WORKER_DIGEST_LEN], const char *id)
{
	worker_token_drop(digest);
	if (!end_hook)
		return;
	struct ended *e = calloc(1, sizeof *e);
	if (!e) {
		log_event(LOG_ERROR, "out of memory: what an ended worker held is not released", "id=%s", id);
		return;
	}
	snprintf(e->id, sizeof e->id, "%s", id);
	engine_arm(&e->q, &e->waiter, -1, 0, ended_fired);
	engine_wake_all(&e->q);
}

void worker_set_end_hook(void (*fn)(const char *id)) { end_hook = fn; }
void worker_set_url(const char *u)
{
	engine_lock();
	snprintf(url, sizeof url, "%s", u);
	engine_unlock();
}

const char *worker_url(void) { return url; }

static char socket_path[128];

void worker_set_socket(const char *path)
{
	engine_lock();
	snprintf(socket_path, sizeof socket_path, "%s", path);
	engine_unlock();
}

const char *worker_socket(void) { return socket_path; }
