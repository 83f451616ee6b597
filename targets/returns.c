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

int spawnd_return_json(const char *json)
{
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
