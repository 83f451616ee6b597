/* idmap — see idmap.h. Chained buckets, doubled when as many nodes as
 * buckets; a failed doubling keeps the old table (slower, still correct). */
#include "engine/idmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash_id(const char *id)
{
	size_t h = (size_t)1469598103934665603u;        /* FNV-1a */
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * (size_t)1099511628211u;
	return h;
}

int idmap_init(struct idmap *m)
{
	m->nbuckets = 1024;
	m->count = 0;
	m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
	return m->buckets ? 0 : -ENOMEM;
}

void idmap_release(struct idmap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = m->count = 0;
}

static void grow(struct idmap *m)
{
	size_t n = m->nbuckets * 2;
	struct idmap_node **b = calloc(n, sizeof *b);
	if (!b)
		return;
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct idmap_node *e = m->buckets[i], *next; e; e = next) {
			next = e->next;
			size_t j = hash_id(e->id) & (n - 1);
			e->next = b[j];
			b[j] = e;
		}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

void idmap_add(struct idmap *m, struct idmap_node *n)
{
	if (m->count >= m->nbuckets)
		grow(m);
	size_t i = hash_id(n->id) & (m->nbuckets - 1);
	n->next = m->buckets[i];
	m->buckets[i] = n;
	m->count++;
}

struct idmap_node *idmap_find(const struct idmap *m, const char *id)
{
	if (!m->buckets)
		return NULL;
	for (struct idmap_node *e = m->buckets[hash_id(id) & (m->nbuckets - 1)]; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

void idmap_del(struct idmap *m, struct idmap_node *n)
{
	struct idmap_node **pp = &m->buckets[hash_id(n->id) & (m->nbuckets - 1)];
	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = n->next;
		m->count--;
	}
	n->next = NULL;
}
