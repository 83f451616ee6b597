/* proc_table — the live records: their index by id, the lists the engine
 * walks (queued, running, lingering), the list of records to start once the
 * lock is dropped, the counters, and the store every record is written to.
 * Engine lock held for every call but open/close.
 *
 * Ownership: the table links records; proc_table_remove() unlinks one (from
 * the index and the store) and the caller frees it.
 */
#ifndef SPAWND_PROC_TABLE_H
#define SPAWND_PROC_TABLE_H

#include "engine/proc_record.h"
#include "engine/store.h"

/* ENDED: exited or failed, kept until the store has their last write. */
enum proc_list_id { PROC_LIST_NONE = -1, PROC_LIST_QUEUED, PROC_LIST_RUNNING, PROC_LIST_LINGERING, PROC_LIST_ENDED,
		    PROC_LISTS };

/* Keeps cfg, makes the output folder, opens the store. 0 or -errno. */
int proc_table_open(const struct proc_config *cfg, const struct store_ops *ops);
const struct proc_config *proc_table_config(void);
const char *proc_table_output_dir(void);
void proc_table_close(void);            /* the records must be removed first */

/* Indexes p and inserts it in the store. 0 or -errno (then nothing is kept). */
int proc_table_insert(struct proc *p);
/* Writes p's durable fields to the store (its byte counts brought up to date). */
void proc_table_update(struct proc *p);
void proc_table_remove(struct proc *p);
/* A durable store: p's output streams that are in memory only (no spill
 * file) go into its row, and every stream's capture times, queued before
 * the final update (so an answer that waits for that update has the output
 * on disk). */
void proc_table_save_output(struct proc *p);
/* Unlinks p from the index and its list: its record stays in the store. */
void proc_table_forget(struct proc *p);
/* A durable store: frees the ended records (PROC_LIST_ENDED) whose last
 * write is on disk and that nobody waits on; from then on the store is all
 * there is of them (proc_stored.h). true: some still wait for the store
 * (call again soon). */
bool proc_table_evict(void);
/* Indexes p, whose record is in the store already (recovery). */
int proc_table_index(struct proc *p);
struct proc *proc_table_find(const char *id);
/* Some record, NULL: none. For release only: remove each one before asking again. */
struct proc *proc_table_any(void);
struct store *proc_table_store(void);

void proc_table_move(struct proc *p, enum proc_list_id from, enum proc_list_id to);
struct proc *proc_table_first(enum proc_list_id l);     /* then p->list_next */
long proc_table_count(enum proc_list_id l);

void proc_table_push_start(struct proc *p);
struct proc *proc_table_pop_start(void);

uint64_t proc_table_next_key(void);
long proc_table_next_name(void);        /* N of the next Process-N */
void proc_table_count_start(bool ok);   /* total_started or total_failed */
void proc_table_stats(struct proc_stats *st);

#endif
