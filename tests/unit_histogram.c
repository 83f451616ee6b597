/* Unit tests of lib/histogram: an observation on a bound counts in that
 * bucket (le is "less or equal"), the text is cumulative with +Inf equal to
 * _count, the sum is in seconds, and labels are joined to le. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/histogram.h"
#include "tests/check.h"

CHECK_MAIN_STATE;

static const uint64_t bounds[] = { 1000, 1000000, 1000000000 };     /* 1 us, 1 ms, 1 s */

static char *text_of(const struct histogram *h, const char *labels)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	histogram_write(f, "t_seconds", labels, h);
	fclose(f);
	return buf;
}

static void test_bounds_are_inclusive_and_cumulative(void)
{
	struct histogram h = HISTOGRAM_INIT(bounds);
	histogram_observe(&h, 1000);            /* on the 1 us bound */
	histogram_observe(&h, 1001);            /* just above: the 1 ms bucket */
	histogram_observe(&h, 2000000000);      /* 2 s: +Inf only */
	char *t = text_of(&h, "");
	CHECK(t);
	CHECK_MSG(strstr(t, "t_seconds_bucket{le=\"1e-06\"} 1\n"), "%s", t);
	CHECK_MSG(strstr(t, "t_seconds_bucket{le=\"0.001\"} 2\n"), "%s", t);
	CHECK_MSG(strstr(t, "t_seconds_bucket{le=\"1\"} 2\n"), "%s", t);
	CHECK_MSG(strstr(t, "t_seconds_bucket{le=\"+Inf\"} 3\n"), "%s", t);
	CHECK_MSG(strstr(t, "t_seconds_count 3\n"), "%s", t);
	CHECK_MSG(strstr(t, "t_seconds_sum 2.000002001\n"), "%s", t);
	free(t);
}

static void test_labels_precede_le(void)
{
	struct histogram h = HISTOGRAM_INIT(bounds);
	char *t = text_of(&h, "route=\"/x\"");
	CHECK(t);
	CHECK_MSG(strstr(t, "t_seconds_bucket{route=\"/x\",le=\"+Inf\"} 0\n"), "%s", t);
	CHECK_MSG(strstr(t, "t_seconds_sum{route=\"/x\"} 0.000000000\n"), "%s", t);
	CHECK_MSG(strstr(t, "t_seconds_count{route=\"/x\"} 0\n"), "%s", t);
	free(t);
}

int main(void)
{
	RUN(test_bounds_are_inclusive_and_cumulative);
	RUN(test_labels_precede_le);
	return CHECK_EXIT();
}
