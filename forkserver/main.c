/* forkserver/main — the spawnd-forkserver executable (see serve.c). spawnd
 * starts it with its channels on fds 3 and 4 (forkserver/wire.h):
 *   spawnd-forkserver [--no-spare] [--plugins DIR]
 * It is not meant to be run by hand. It loads the same plugins as spawnd (so a
 * plugin target's function exists here, where workers are forked), then serves.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "forkserver/internal.h"
#include "targets/plugin.h"

int main(int argc, char **argv)
{
	static char error[300];
	const char *ready_error = NULL;

	bool spare = true;
	int i = 1;

	(void)prctl(PR_SET_NAME, "spawnd-fork");    /* a name for ps and the tests; cannot fail */
	if (i < argc && strcmp(argv[i], "--no-spare") == 0) {
		spare = false;
		i++;
	}
	if (i + 2 == argc && strcmp(argv[i], "--plugins") == 0) {
		char why[256];
		if (plugin_load_dir(argv[i + 1], why, sizeof why) < 0) {
			snprintf(error, sizeof error, "--plugins %s", why);
			ready_error = error;
		}
	} else if (i != argc) {
		fprintf(stderr, "spawnd-forkserver is started by spawnd, not by hand\n");
		return 2;
	}
	forkserver_serve(FORKSERVER_CTL_FD, FORKSERVER_EVT_FD, spare, ready_error);
}
