/* fdclose — closes every fd from a number up, in a new child, so that it
 * keeps only the fds it was given.
 *
 * Safe where only syscalls may run: after fork() in a threaded process, and
 * in a CLONE_VM child (it writes errno and its own stack, nothing else).
 */
#ifndef SPAWND_FDCLOSE_H
#define SPAWND_FDCLOSE_H

/* Closes every open fd >= lowfd. 0, or -errno if some may still be open. */
int fdclose_from(unsigned lowfd);

#endif
