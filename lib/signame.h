/* signame — signal numbers and their names ("SIGTERM"), for the API's
 * "signal" fields and POST .../signal. A static table; no state.
 */
#ifndef SPAWND_SIGNAME_H
#define SPAWND_SIGNAME_H

const char *signame_name(int sig);         /* "SIGTERM", or NULL if unknown */
int signame_number(const char *name);      /* 15 for "SIGTERM" or "TERM"; -1 if unknown */

#endif
