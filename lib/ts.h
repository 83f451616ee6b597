/* ts — the clocks spawnd uses: wall time for records (RFC 3339 UTC with
 * milliseconds, as API.md requires) and the monotonic clock for deadlines. */
#ifndef SPAWND_TS_H
#define SPAWND_TS_H

#include <stdint.h>

#define TS_RFC3339_LEN 64

int64_t ts_wall_ms(void);
int64_t ts_mono_ms(void);
/* Writes e.g. "2026-11-22T02:34:22.123Z" into out (at least TS_RFC3339_LEN). */
void ts_format(int64_t wall_ms, char out[TS_RFC3339_LEN]);

#endif
