/* Times and durations as the command line's tables show them: in the
 * configured zone with its offset, and humanised. */
#ifndef HERALD_CLI_TIMEFMT_H
#define HERALD_CLI_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "lua/tz.h"

#define LOCAL_TIME_SIZE 48

/* "2026-11-21 13:22:46 +08:00": the instant in the zone (NULL: UTC) with
 * its offset then; "-" for 0, no such time. */
void format_local_time(const tz_zone *zone, int64_t epoch_ms, char *out, size_t cap);

#define DURATION_SIZE 24

/* "3m12s", "2h5m", "4d3h", "45s": the largest unit and the next one
 * unless it is 0 ("2h" for 2h0m5s); under a second (or negative) is
 * "0s". */
void format_duration(int64_t ms, char *out, size_t cap);

#endif
