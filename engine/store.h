/* store — where process records live, behind a small interface so that the
 * in-memory table can be backed by a durable store later.
 *
 * Records are kept newest first. Ids are unique for the life of the state
 * folder (they embed the creation time in milliseconds and a counter).
 * Not thread-safe: the engine lock serialises every call.
 * Ownership: the store links records but never frees them; store_remove()
 * unlinks, and the caller frees.
 */
#ifndef SPAWND_STORE_H
#define SPAWND_STORE_H

#include <stdint.h>

struct store_entry {
	char id[32];
	uint64_t seq;                           /* creation order, increasing */
	struct store_entry *newer, *older;      /* list, newest first */
	struct store_entry *hash_next;
};

int store_init(void);
void store_release(void);
void store_insert(struct store_entry *e);     /* becomes the newest */
struct store_entry *store_find(const char *id);
void store_remove(struct store_entry *e);
struct store_entry *store_newest(void);
/* The newest entry created before seq (cursor paging), or NULL. */
struct store_entry *store_older_than(uint64_t seq);
long store_count(void);

#endif
