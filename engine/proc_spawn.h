/* proc_spawn — creating records (proc_spawn() in proc.h) and asking the fork
 * server for their workers. */
#ifndef SPAWND_PROC_SPAWN_H
#define SPAWND_PROC_SPAWN_H

/* Starts every record that was given a slot under the lock (proc_table's
 * start list). Call WITHOUT the lock: a fork takes a while. */
void proc_start_collected(void);

#endif
