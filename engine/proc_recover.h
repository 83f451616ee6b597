/* proc_recover — what a durable store needs beyond writing records: the
 * worker's start time (so a recycled pid is never signalled), what a queued
 * record needs to start in a later run, and taking up a store's records at
 * start (proc_recover()). Not for use outside engine/.
 */
#ifndef SPAWND_PROC_RECOVER_H
#define SPAWND_PROC_RECOVER_H

#include <stdint.h>
#include <sys/types.h>

#include "engine/proc_record.h"

/* p's launch text (store_record.launch_text): its args, environment, argv
 * and stdin as JSON. NULL: no memory. */
char *proc_launch_text(const struct proc *p);
/* At start, before the engine thread runs: records that were running when
 * the last run ended become lost (their process groups killed if they
 * still exist, checked by start time), queued ones are queued again (or
 * started: they go on the start list). 0 or -errno (the store cannot be read). */
int proc_recover(void);

#endif
