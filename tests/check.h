/* check.h — the one test protocol of spawnd's test binaries (unit and API).
 *
 * Each test binary runs its cases in order and prints one line per case:
 *   "PASS <case>"  or  "FAIL <case>: <file>:<line>: <message>"
 * and exits 1 if any case failed. tests/run.sh adds the lines up and prints
 * the closing "N passed, N failed". A case is a function; CHECK* record the
 * first failure of the current case and return from it.
 */
#ifndef SPAWND_CHECK_H
#define SPAWND_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

extern int check_failed_cases;
extern char check_failure[1024];

/* Records a failure message (cut to the buffer: that is intended). */
static inline void check_record(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void check_record(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(check_failure, sizeof check_failure, "%s:%d: ", file, line);
	if (n < 0 || (size_t)n >= sizeof check_failure)
		return;
	va_start(ap, fmt);
	vsnprintf(check_failure + n, sizeof check_failure - (size_t)n, fmt, ap);
	va_end(ap);
}

#define CHECK_FAIL(...) do { check_record(__FILE__, __LINE__, __VA_ARGS__); return; } while (0)
#define CHECK(cond) do { if (!(cond)) CHECK_FAIL("%s", #cond); } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) CHECK_FAIL(__VA_ARGS__); } while (0)
#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
		if (a_ != b_) CHECK_FAIL("%s == %lld, expected %s == %lld", #a, a_, #b, b_); } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) \
			CHECK_FAIL("%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	} while (0)

/* Runs one case and prints its line. */
#define RUN(fn) do { \
		check_failure[0] = '\0'; fn(); \
		if (check_failure[0]) { check_failed_cases++; printf("FAIL %s: %s\n", #fn, check_failure); } \
		else printf("PASS %s\n", #fn); \
		fflush(stdout); \
	} while (0)

/* Define these once per test binary (in the file with main()). */
#define CHECK_MAIN_STATE int check_failed_cases; char check_failure[1024]
#define CHECK_EXIT() (check_failed_cases ? 1 : 0)

#endif
