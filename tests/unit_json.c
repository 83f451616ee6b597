/* unit_json — numbers read from JSON and printed back (lib/number.h), and
 * the UTF-8 check that keeps invalid text out of requests and responses. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/utf8.h"
#include "lib/number.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

static void int64_refuses_what_does_not_fit(void)
{
	int64_t i = 42;

	CHECK(!number_int64(NAN, &i));
	CHECK(!number_int64(INFINITY, &i));
	CHECK(!number_int64(-INFINITY, &i));
	CHECK(!number_int64(9223372036854775808.0, &i));     /* 2^63 */
	CHECK(!number_int64(9.3e15 * 1000.0, &i));
	CHECK(!number_int64(-9223372036854777856.0, &i));    /* the double below -2^63 */
	CHECK(!number_int64(1.5, &i));
	CHECK(!number_int64(-0.1, &i));
	CHECK_INT(i, 42);                                     /* untouched when refused */
	CHECK(number_int64(-9223372036854775808.0, &i));
	CHECK(i == INT64_MIN);
	CHECK(number_int64(9223372036854774784.0, &i));      /* the largest double below 2^63 */
	CHECK(i == 9223372036854774784LL);
	CHECK(number_int64(-0.0, &i));
	CHECK_INT(i, 0);
}

static void safe_integers_stop_below_2_53(void)
{
	CHECK(number_is_safe_integer(9007199254740991.0));
	CHECK(number_is_safe_integer(-9007199254740991.0));
	CHECK(number_is_safe_integer(0));
	/* 2^53 is refused too: 2^53 + 1 reads as 2^53, so 2^53 cannot be trusted. */
	CHECK(!number_is_safe_integer(9007199254740992.0));
	CHECK(!number_is_safe_integer(-9007199254740992.0));
	CHECK(!number_is_safe_integer(9.3e15));
	CHECK(!number_is_safe_integer(2.5));
	CHECK(!number_is_safe_integer(NAN));
}

static void ms_saturates(void)
{
	CHECK_INT(number_ms(1.5), 1500);
	CHECK_INT(number_ms(0.0004), 0);
	CHECK_INT(number_ms(0.0005), 1);
	CHECK_INT(number_ms(0), 0);
	CHECK_INT(number_ms(-1), 0);
	CHECK_INT(number_ms(NAN), 0);
	CHECK_INT(number_ms(NUMBER_SECONDS_MAX), 1000000000000LL);
	CHECK_INT(number_ms(9.3e15), 1000000000000LL);
	CHECK_INT(number_ms(INFINITY), 1000000000000LL);
}

#define CHECK_FORMAT(d, text) do { char buf_[32]; number_format(buf_, sizeof buf_, (d)); \
		CHECK_STR(buf_, text); CHECK(strtod(buf_, NULL) == (d)); } while (0)

static void format_is_exact_and_short(void)
{
	CHECK_FORMAT(0.0, "0");
	CHECK_FORMAT(255.0, "255");
	CHECK_FORMAT(-7.0, "-7");
	CHECK_FORMAT(0.5, "0.5");
	CHECK_FORMAT(0.1, "0.1");
	CHECK_FORMAT(-1.5, "-1.5");
	CHECK_FORMAT(1e300, "1e+300");
	CHECK_FORMAT(1.0 / 3.0, "0.3333333333333333");
	CHECK_FORMAT(0.1 + 0.2, "0.30000000000000004");
	/* cJSON prints these in %.15g form, which reads back as another integer. */
	CHECK_FORMAT(4503599627370497.0, "4503599627370497");
	CHECK_FORMAT(4503599627370501.0, "4503599627370501");
	CHECK_FORMAT(9007199254740991.0, "9007199254740991");
	CHECK_FORMAT(-9007199254740991.0, "-9007199254740991");
	CHECK_FORMAT(-9223372036854775808.0, "-9223372036854775808");
}

#define CHECK_INT_TEXT(v, text) do { char buf_[NUMBER_INT64_TEXT_MAX + 1]; \
		CHECK_INT((long long)number_int64_text(buf_, (v)), (long long)strlen(text)); CHECK_STR(buf_, text); } while (0)

static void int64_text_every_width(void)
{
	CHECK_INT_TEXT(0, "0");
	CHECK_INT_TEXT(9, "9");
	CHECK_INT_TEXT(10, "10");
	CHECK_INT_TEXT(99, "99");
	CHECK_INT_TEXT(100, "100");
	CHECK_INT_TEXT(-1, "-1");
	CHECK_INT_TEXT(-100, "-100");
	CHECK_INT_TEXT(1234567, "1234567");
	CHECK_INT_TEXT(INT64_MAX, "9223372036854775807");
	CHECK_INT_TEXT(INT64_MIN, "-9223372036854775808");
}

static void print_json_keeps_every_digit(void)
{
	const char *in = "{\"a\":[9007199254740991,{\"b\":0.1,\"c\":4503599627370501}],\"s\":\"x\",\"t\":true,"
			 "\"n\":null,\"e\":[],\"o\":{}}";
	cJSON *j = cJSON_Parse(in);
	CHECK(j);
	char *text = number_print_json(j);
	char *plain = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	int same = text && strcmp(text, in) == 0;
	/* The reason for number_print_json(): cJSON's own printing loses digits here. */
	int cjson_exact = plain && strcmp(plain, in) == 0;
	char shown[512];
	snprintf(shown, sizeof shown, "%s", text ? text : "(null)");
	free(text);
	free(plain);
	CHECK_MSG(same, "printed %s", shown);
	CHECK_MSG(!cjson_exact, "cJSON printed the numbers exactly: this test no longer shows the need");
	text = number_print_json(cJSON_GetObjectItem(NULL, "x"));
	CHECK(text == NULL);
}

static void print_json_of_a_bare_number(void)
{
	cJSON *n = cJSON_CreateNumber(9007199254740991.0);
	char *text = number_print_json(n);
	cJSON_Delete(n);
	int ok = text && strcmp(text, "9007199254740991") == 0;
	free(text);
	CHECK(ok);
}

static void utf8_valid_checks_every_sequence(void)
{
	CHECK(utf8_valid("", 0));
	CHECK(utf8_valid("plain ascii", 11));
	CHECK(utf8_valid("a\0b", 3));                        /* NUL is valid UTF-8 */
	CHECK(utf8_valid("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", 15));
	CHECK(!utf8_valid("\xff", 1));
	CHECK(!utf8_valid("a\x80", 2));                      /* lone continuation */
	CHECK(!utf8_valid("\xC0\xAF", 2));                   /* overlong '/' */
	CHECK(!utf8_valid("\xED\xA0\x80", 3));               /* surrogate */
	CHECK(!utf8_valid("\xF4\x90\x80\x80", 4));           /* above U+10FFFF */
	CHECK(!utf8_valid("\xE2\x82", 2));                   /* cut short */
}

int main(void)
{
	RUN(int64_refuses_what_does_not_fit);
	RUN(safe_integers_stop_below_2_53);
	RUN(ms_saturates);
	RUN(format_is_exact_and_short);
	RUN(int64_text_every_width);
	RUN(print_json_keeps_every_digit);
	RUN(print_json_of_a_bare_number);
	RUN(utf8_valid_checks_every_sequence);
	return CHECK_EXIT();
}
