/* returns — see returns.h. The value is checked and printed compact by
 * cJSON, so a pool worker's result frame stays one line whatever the target
 * passed (spaces, newlines). */
#include "lib/number.h"
#include "targets/returns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "include/spawnd_target.h"
#include "lib/fdio.h"

static bool capturing;
static char *kept;

void target_return_capture(bool on) { capturing = on; }

char *target_return_take(void)
{
	char *v = kept;
	kept = NULL;
	return v;
}

/* json as its own compact form when it is a plain integer of at most 15
 * digits (what cJSON would print back), without a parse; else NULL. */
static char *quick_integer(const char *json)
{
	const char *d = json + (*json == '-');
	size_t n = strspn(d, "0123456789");
	if (n == 0 || n > 15 || d[n] || (n > 1 && *d == '0') || (*json == '-' && n == 1 && *d == '0'))
		return NULL;
	return strdup(json);
}

int spawnd_return_json(const char *json)
{
	char *quick = json ? quick_integer(json) : NULL;
	if (quick && capturing) {       /* a pool's map of integers: no parse per task */
		free(kept);
		kept = quick;
		return 0;
	}
	free(quick);
	cJSON *v = json ? cJSON_Parse(json) : NULL;
	if (!v)
		return -EINVAL;
	char *text = number_print_json(v);
	cJSON_Delete(v);
	if (!text)
		return -ENOMEM;
	if (capturing) {
		free(kept);
		kept = text;
		return 0;
	}
	fflush(stdout);         /* after what the target printed before */
	int r = fdio_write_all(STDOUT_FILENO, text, strlen(text)) == 0 &&
		fdio_write_all(STDOUT_FILENO, "\n", 1) == 0 ? 0 : -EIO;
	free(text);
	return r;
}
