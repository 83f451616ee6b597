/* number — see number.h. Printing goes through cJSON (a copy of the tree whose
 * numbers are replaced by raw text), because cJSON prints a number with %.15g
 * whenever that reads back *approximately* equal, which drops the last digits
 * of integers above about 2^50 (9007199254740991 came out as 9.00719925474099e+15). */
#include "lib/number.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Two digits per division, written from the end of a scratch buffer (a
 * pool map's reply prints one integer per item; snprintf was most of it). */
size_t number_int64_text(char *buf, int64_t v)
{
	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
		"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
		"8081828384858687888990919293949596979899";
	char digits[24], *p = digits + sizeof digits;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	while (u >= 100) {
		p -= 2;
		memcpy(p, pairs + (u % 100) * 2, 2);
		u /= 100;
	}
	if (u >= 10) {
		p -= 2;
		memcpy(p, pairs + u * 2, 2);
	} else {
		*--p = (char)('0' + u);
	}
	size_t len = 0, n = (size_t)(digits + sizeof digits - p);
	if (v < 0)
		buf[len++] = '-';
	memcpy(buf + len, p, n);
	len += n;
	buf[len] = '\0';
	return len;
}

void number_format(char *buf, size_t len, double d)
{
	int64_t i;

	if (number_int64(d, &i)) {
		if (len > NUMBER_INT64_TEXT_MAX)
			number_int64_text(buf, i);
		else
			snprintf(buf, len, "%" PRId64, i);
		return;
	}
	for (int precision = 15; precision <= 17; precision++) {
		snprintf(buf, len, "%.*g", precision, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

/* Replaces every number below parent by a raw item holding its exact text. */
static bool exact_numbers(cJSON *parent)
{
	cJSON *c = parent->child;

	while (c) {
		cJSON *next = c->next;
		if (cJSON_IsNumber(c)) {
			char text[32];
			number_format(text, sizeof text, c->valuedouble);
			cJSON *raw = cJSON_CreateRaw(text);
			if (!raw)
				return false;
			/* The key moves to the replacement (cJSON frees it with the item). */
			raw->string = c->string;
			c->string = NULL;
			if (!cJSON_ReplaceItemViaPointer(parent, c, raw)) {
				c->string = raw->string;
				raw->string = NULL;
				cJSON_Delete(raw);
				return false;
			}
		} else if (c->child && !exact_numbers(c)) {
			return false;
		}
		c = next;
	}
	return true;
}

/* Whether cJSON would print d exactly: an integer below 10^15 in magnitude
 * (its %.15g is its digits), or a number whose %.15g reads back as d. */
static bool cjson_exact(double d)
{
	int64_t i;
	if (number_int64(d, &i))
		return i > -1000000000000000 && i < 1000000000000000;
	char buf[32];
	snprintf(buf, sizeof buf, "%.15g", d);
	return strtod(buf, NULL) == d;
}

/* Whether some number below (or at) item would lose digits in cJSON's print. */
static bool needs_exact(const cJSON *item)
{
	if (cJSON_IsNumber(item))
		return !cjson_exact(item->valuedouble);
	for (const cJSON *c = item->child; c; c = c->next)
		if (needs_exact(c))
			return true;
	return false;
}

char *number_print_json(const cJSON *item)
{
	char *text = NULL;

	if (!item)
		return NULL;
	if (cJSON_IsNumber(item)) {
		char buf[32];
		number_format(buf, sizeof buf, item->valuedouble);
		return strdup(buf);
	}
	if (!needs_exact(item))         /* the common case: no copy */
		return cJSON_PrintUnformatted(item);
	cJSON *copy = cJSON_Duplicate(item, true);
	if (copy && exact_numbers(copy))
		text = cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	return text;
}
