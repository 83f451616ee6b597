/* store_mem — the in-memory store: a hash table by id and a list newest first. */
#include "engine/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct store_entry **buckets;
static size_t nbuckets;
static struct store_entry *newest, *oldest;
static long count;

static size_t hash_id(const char *id)
{
	size_t h = 1469598103934665603u;        /* FNV-1a */
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211u;
	return h;
}

int store_init(void)
{
	nbuckets = 1024;
	buckets = calloc(nbuckets, sizeof *buckets);
	return buckets ? 0 : -ENOMEM;
}

void store_release(void)
{
	free(buckets);
	buckets = NULL;
	newest = oldest = NULL;
	count = 0;
}

static void rehash(void)
{
	size_t n = nbuckets * 2;
	struct store_entry **b = calloc(n, sizeof *b);
	if (!b)
		return;                 /* keep the old table: slower, still correct */
	for (struct store_entry *e = newest; e; e = e->older) {
		size_t i = hash_id(e->id) & (n - 1);
		e->hash_next = b[i];
		b[i] = e;
	}
	free(buckets);
	buckets = b;
	nbuckets = n;
}

void store_insert(struct store_entry *e)
{
	if ((size_t)count >= nbuckets)
		rehash();
	size_t i = hash_id(e->id) & (nbuckets - 1);
	e->hash_next = buckets[i];
	buckets[i] = e;
	e->newer = NULL;
	e->older = newest;
	if (newest)
		newest->newer = e;
	else
		oldest = e;
	newest = e;
	count++;
}

struct store_entry *store_find(const char *id)
{
	if (!buckets)
		return NULL;
	for (struct store_entry *e = buckets[hash_id(id) & (nbuckets - 1)]; e; e = e->hash_next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

void store_remove(struct store_entry *e)
{
	struct store_entry **pp = &buckets[hash_id(e->id) & (nbuckets - 1)];
	while (*pp && *pp != e)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = e->hash_next;
	if (e->newer) e->newer->older = e->older; else newest = e->older;
	if (e->older) e->older->newer = e->newer; else oldest = e->newer;
	e->newer = e->older = e->hash_next = NULL;
	count--;
}

struct store_entry *store_newest(void) { return newest; }

struct store_entry *store_older_than(uint64_t seq)
{
	/* Pages are read from the newest end; walk from the nearer end. */
	struct store_entry *e = oldest;
	if (!e || e->seq >= seq)
		return NULL;
	if (newest->seq < seq)
		return newest;
	if (seq - oldest->seq < newest->seq - seq) {
		while (e->newer && e->newer->seq < seq)
			e = e->newer;
		return e;
	}
	for (e = newest; e && e->seq >= seq; e = e->older)
		;
	return e;
}

long store_count(void) { return count; }
