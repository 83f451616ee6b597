/* stdin_pump — copies a file, or spawnctl's own stdin, into a process's
 * stdin (POST /processes/ID/stdin), on a thread of its own so that output can
 * be followed meanwhile; stdin is closed (eof=true) at the end of the input.
 *
 * Ownership: the pump reads fd but does not close it. stdin_pump_join() or
 * stdin_pump_stop() ends the thread and frees the pump.
 */
#ifndef SPAWNCTL_STDIN_PUMP_H
#define SPAWNCTL_STDIN_PUMP_H

struct stdin_pump;

/* Starts copying fd into process id's stdin (the process was created with
 * "stdin_open": true). 0, or -errno. http_init() must have run. */
int stdin_pump_start(const char *id, int fd, struct stdin_pump **out);
/* Waits until all the input is sent (or the process stopped taking it).
 * 0, or -1 when sending failed (the pump said why on stderr). */
int stdin_pump_join(struct stdin_pump *p);
/* Stops the pump where it is (the process has ended) and frees it. */
void stdin_pump_stop(struct stdin_pump *p);

#endif
