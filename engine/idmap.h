/* idmap — an intrusive hash table of nodes keyed by an id string: the
 * engine's index of live records (proc_table) and the in-memory store's.
 * Not thread-safe (its owner's lock). Ownership: the map links nodes but
 * never frees them; node->id points into the node's owner and must not
 * change while the node is in the map.
 */
#ifndef SPAWND_IDMAP_H
#define SPAWND_IDMAP_H

#include <stddef.h>

struct idmap_node {
	struct idmap_node *next;
	const char *id;
};

struct idmap {
	struct idmap_node **buckets;
	size_t nbuckets, count;
};

int idmap_init(struct idmap *m);        /* 0 or -ENOMEM */
void idmap_release(struct idmap *m);    /* frees the table, not the nodes */
void idmap_add(struct idmap *m, struct idmap_node *n);
struct idmap_node *idmap_find(const struct idmap *m, const char *id);
void idmap_del(struct idmap *m, struct idmap_node *n);

#endif
