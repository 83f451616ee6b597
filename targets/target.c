/* target — the readers a target function uses on its canonical arguments.
 *
 * They run in the worker, so they only read: the canonical object was checked
 * by target_validate() in spawnd and printed exactly (lib/number.h), so a
 * value of the wrong type here means a caller bug, answered by the fallback.
 */
#include "targets/target.h"

#include <stdint.h>

#include "lib/number.h"

long long target_arg_int(const cJSON *args, const char *name, long long fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
	int64_t i;

	return cJSON_IsNumber(v) && number_int64(v->valuedouble, &i) ? i : fallback;
}

double target_arg_number(const cJSON *args, const char *name, double fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);

	return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

const char *target_arg_string(const cJSON *args, const char *name, const char *fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : fallback;
}
