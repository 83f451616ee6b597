/* proc_retention — removes ended records past their keep (a count and an
 * age, struct proc_config), oldest first, with their output files, from a
 * thread of its own. Not for use outside engine/.
 *
 * Lifecycle: proc_retention_start() after the engine thread runs;
 * proc_retention_stop() (joins the thread) before the engine stops. Both from
 * the thread that runs proc_init()/proc_shutdown(), without the engine lock.
 */
#ifndef SPAWND_PROC_RETENTION_H
#define SPAWND_PROC_RETENTION_H

/* Starts the thread (nothing when no limit is set). 0 or -errno. */
int proc_retention_start(void);
void proc_retention_stop(void);
/* One pass now, in the caller's thread: removes up to limit expired records.
 * Returns how many were removed, or -errno. No lock held. */
int proc_retention_pass(int limit);

#endif
