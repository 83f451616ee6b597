/* persist — the shared objects' rows in the store seam (engine/store.h
 * "Shared objects"). An object's row is {"options", "fence": the reserved
 * high-water mark of its fences, "state": the kind's}; it is written on
 * create and on the kind's durable changes, never per grant (a fence is
 * reserved ahead, holders.c), and entries (a queue's items) are rows of their
 * own. Writes are queued under the engine lock (the store's rule); a reply
 * that reports a change waits for its write first (objects_sync()), so what
 * a client was told survives a kill -9; the timer thread syncs each tick
 * what changed with no reply (a lapse, an ended worker), so that it is on
 * disk within a tick (the SQLite store's writer commits it within 10 ms
 * anyway). Grants are not stored: the holders of
 * a run before are gone (their processes were lost), so they are released.
 *
 * Everything but objects_sync() runs with the objects lock held.
 */
#define _GNU_SOURCE
#include "lib/number.h"
#include "objects/internal.h"

#include <errno.h>
#include <stdlib.h>

#include "engine/engine.h"
#include "engine/store.h"
#include "lib/log.h"

static struct store *store;
static uint64_t written_seq;    /* the store's seq of the last write; atomic: objects_sync() reads it unlocked */

static void note_write(int r, const struct obj *o, const char *what)
{
	if (r < 0)
		log_event(LOG_ERROR, "store write failed", "kind=%s name=%s what=%s: it may not survive a restart",
			  o->kind->folder, o->name, what);
	__atomic_store_n(&written_seq, store_queued(store), __ATOMIC_RELEASE);
}

void obj_save(struct obj *o)
{
	if (o->persist_as)
		o = o->persist_as;
	if (o->removed || o->in_memory || !store || !store->ops->object_put)
		return;
	cJSON *row = cJSON_CreateObject();
	cJSON_AddItemToObject(row, "options", cJSON_Duplicate(o->options, true));
	cJSON_AddNumberToObject(row, "fence", (double)o->fence_reserved);
	if (o->kind->save)
		cJSON_AddItemToObject(row, "state", o->kind->save(o));
	char *text = number_print_json(row);
	cJSON_Delete(row);
	engine_lock();
	int r = text ? store->ops->object_put(store, o->kind->folder, o->name, text) : -ENOMEM;
	note_write(r, o, "object");
	engine_unlock();
	free(text);
}

void obj_entry_put(struct obj *o, const char *key, const char *value)
{
	if (o->removed || o->in_memory || !store || !store->ops->entry_put)
		return;
	engine_lock();
	note_write(store->ops->entry_put(store, o->kind->folder, o->name, key, value), o, "entry");
	engine_unlock();
}

void obj_entry_remove(struct obj *o, const char *key)
{
	if (o->removed || o->in_memory || !store || !store->ops->entry_remove)
		return;
	engine_lock();
	note_write(store->ops->entry_remove(store, o->kind->folder, o->name, key), o, "entry");
	engine_unlock();
}

int objects_sync(void)
{
	struct store *s = __atomic_load_n(&store, __ATOMIC_ACQUIRE);
	return s ? store_sync(s, __atomic_load_n(&written_seq, __ATOMIC_ACQUIRE)) : 0;
}

static void load_object(void *ctx, const char *folder, const char *name, const char *state)
{
	const struct obj_kind *k = obj_kind_of(folder);
	cJSON *row = cJSON_Parse(state);
	struct obj_call c = { 0 };
	struct obj *o = k && row ? obj_new(k, name, cJSON_GetObjectItemCaseSensitive(row, "options"), &c) : NULL;
	(void)ctx;
	if (!o) {
		log_event(LOG_ERROR, "a stored shared object cannot be taken up again", "kind=%s name=%s error=\"%s\"",
			  folder, name, c.message);
		cJSON_Delete(row);
		return;
	}
	const cJSON *fence = cJSON_GetObjectItemCaseSensitive(row, "fence");
	/* Fences never go back: the next one is past anything handed out before. */
	o->fence = o->fence_reserved = cJSON_IsNumber(fence) ? (uint64_t)fence->valuedouble : 0;
	if (k->load)
		k->load(o, cJSON_GetObjectItemCaseSensitive(row, "state"));
	cJSON_Delete(row);
	objects_link(o);
}

static void load_entry(void *ctx, const char *folder, const char *name, const char *key, const char *value)
{
	struct obj *o = obj_find(folder, name);
	cJSON *v = cJSON_Parse(value);
	(void)ctx;
	if (o && v && o->kind->load_entry)
		o->kind->load_entry(o, key, v);
	cJSON_Delete(v);
}

void obj_store_remove(struct obj *o)
{
	if (o->in_memory || !store || !store->ops->object_remove)
		return;
	engine_lock();
	note_write(store->ops->object_remove(store, o->kind->folder, o->name), o, "remove");
	engine_unlock();
}

int obj_store_load(struct store *s)
{
	static const struct store_objects_visitor visitor = { load_object, load_entry };
	__atomic_store_n(&store, s, __ATOMIC_RELEASE);
	/* A store opened again counts its writes from its own start: a mark
	 * left from the one before would be waited for for ever. */
	__atomic_store_n(&written_seq, s ? store_queued(s) : 0, __ATOMIC_RELEASE);
	if (!s || !s->ops->objects_load)
		return 0;
	engine_lock();
	int r = s->ops->objects_load(s, &visitor, NULL);
	engine_unlock();
	return r;
}
