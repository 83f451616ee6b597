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

static bool capturing, has_value;
static char *kept;                      /* the value, in one buffer reused by every task */
static size_t kept_len, kept_cap;

void target_return_capture(bool on) { capturing = on; }

const char *target_return_take(size_t *len)
{
	if (!has_value)
		return NULL;
	has_value = false;
	*len = kept_len;
	return kept;
}

/* Keeps text (len bytes) as the value. false: out of memory. */
static bool keep(const char *text, size_t len)
{
	if (len + 1 > kept_cap) {
		size_t cap = kept_cap ? kept_cap : 64;
		while (cap < len + 1)
			cap *= 2;
		char *grown = realloc(kept, cap);
		if (!grown)
			return false;
		kept = grown;
		kept_cap = cap;
	}
	memcpy(kept, text, len);
	kept[len] = '\0';
	kept_len = len;
	has_value = true;
	return true;
}

/* The length of json when it is a plain integer of at most 15 digits (its
 * own compact form: what cJSON would print back), read without a parse;
 * else 0. */
static size_t quick_integer(const char *json)
{
	const char *d = json + (*json == '-');
	size_t n = 0;
	while (n <= 15 && d[n] >= '0' && d[n] <= '9')
		n++;
	if (n == 0 || n > 15 || d[n] || (n > 1 && *d == '0') || (*json == '-' && n == 1 && *d == '0'))
		return 0;
	return (size_t)(d + n - json);
}

int spawnd_return_json(const char *json)
{
	size_t quick = json && capturing ? quick_integer(json) : 0;
	if (quick)                      /* a pool's map of integers: no parse, no allocation per task */
		return keep(json, quick) ? 0 : -ENOMEM;
	cJSON *v = json ? cJSON_Parse(json) : NULL;
	if (!v)
		return -EINVAL;
	char *text = number_print_json(v);
	cJSON_Delete(v);
	if (!text)
		return -ENOMEM;
	if (capturing) {
		int r = keep(text, strlen(text)) ? 0 : -ENOMEM;
		free(text);
		return r;
	}
	fflush(stdout);         /* after what the target printed before */
	int r = fdio_write_all(STDOUT_FILENO, text, strlen(text)) == 0 &&
		fdio_write_all(STDOUT_FILENO, "\n", 1) == 0 ? 0 : -EIO;
	free(text);
	return r;
}
