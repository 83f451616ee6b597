/* fuzz_body — libFuzzer over JSON bodies and argument validation: the input
 * is a request body. It goes through server/body.c's strict parser (the one
 * body_json() applies to every request: depth, duplicate keys, NUL, numbers)
 * and, when it parses to an object, its "args" through target_validate()
 * against every builtin target's schema, the way POST /processes does. What
 * must hold: a body is accepted or refused with a reason, never both; a
 * validation gives a canonical object or details, never both or neither.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/body.h"
#include "targets/args.h"
#include "targets/builtin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void validate_all(const cJSON *args)
{
	size_t count;
	const struct target *builtins = builtin_targets(&count);
	for (size_t i = 0; i < count; i++) {
		cJSON *canonical = NULL, *details = NULL;
		int r = target_validate(&builtins[i], args, &canonical, &details);
		if ((r == 0) != (canonical != NULL) || (r == -EINVAL) != (details != NULL) ||
		    (r == 0 && !cJSON_IsObject(canonical)))
			abort();
		cJSON_Delete(canonical);
		cJSON_Delete(details);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[512] = "";
	char *text = malloc(size + 1);      /* body_parse_text() wants a NUL after len bytes */
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cJSON *j = body_parse_text(text, size, why, sizeof why);
	if ((j != NULL) == (why[0] != '\0'))
		abort();
	if (cJSON_IsObject(j))
		validate_all(cJSON_GetObjectItemCaseSensitive(j, "args"));
	cJSON_Delete(j);
	free(text);
	return 0;
}
