/* proc_loop — the engine thread (see proc_loop.c). */
#ifndef SPAWND_PROC_LOOP_H
#define SPAWND_PROC_LOOP_H

/* Adds the wake eventfd and the fork server's exit channel to the engine's
 * epoll set and starts the thread. 0 or -errno. */
int proc_loop_start(void);
/* Stops and joins the thread (the fds stay open: engine_close() closes them). */
void proc_loop_stop(void);

#endif
