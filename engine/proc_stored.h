/* proc_stored — records that only the store has (a durable store's records
 * of an earlier run): read, rendered and removed without a struct proc, their
 * output read from its files (STATE_DIR/output/ID.stdout|stderr, whole from
 * byte 0, see outbuf.h). Not for use outside engine/.
 *
 * Locking: call WITHOUT the engine lock, after finding no live record: each
 * call first waits until the store has every write made so far (so a record
 * removed a moment ago is gone), then reads it with the lock its store needs.
 */
#ifndef SPAWND_PROC_STORED_H
#define SPAWND_PROC_STORED_H

#include <sys/types.h>
#include <cjson/cJSON.h>

#include "engine/proc.h"
#include "engine/store.h"

/* The stored record of id into *out (release it). 0, -ENOENT, -ENOMEM, -EIO. */
int proc_stored_get(const char *id, struct store_record *out);
/* A page of the store (as store_ops.list), read with the lock its store needs. */
int proc_stored_list(const struct store_query *q, struct store_page *out);
/* r as API.md's Process; with PROC_JSON_OUTPUT its inline output from the files. */
cJSON *proc_stored_render(const struct store_record *r, unsigned flags);
/* Up to len bytes of r's stream from offset, from its file: the count, 0 at
 * the end, -errno. */
ssize_t proc_stored_read(const struct store_record *r, enum proc_stream s, uint64_t offset, void *buf, size_t len);
/* The length of r's output file of stream s (0: none). */
uint64_t proc_stored_file_size(const char *id, enum proc_stream s);
/* Unlinks id's output files (STATE_DIR/output/ID.stdout|stderr), if any. */
void proc_stored_unlink_output(const char *id);
/* Removes r from the store and its output files; waits until the removal is
 * on disk. */
void proc_stored_remove(const struct store_record *r);

#endif
