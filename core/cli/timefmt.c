#include "cli/timefmt.h"

#include <stdio.h>

void format_local_time(const tz_zone *zone, int64_t epoch_ms, char *out, size_t cap)
{
    if (!epoch_ms) {
        snprintf(out, cap, "-");
        return;
    }
    int64_t seconds = epoch_ms / 1000 - (epoch_ms % 1000 < 0);
    char local[32];
    if (!tz_format(zone, seconds, "%Y-%m-%d %H:%M:%S", local, sizeof local)) {
        snprintf(out, cap, "-");
        return;
    }
    /* %z would give "+0800"; RFC 3339 and people write "+08:00". */
    int32_t offset = tz_offset(zone, seconds, NULL);
    int32_t magnitude = offset < 0 ? -offset : offset;
    snprintf(out, cap, "%s %c%02d:%02d", local, offset < 0 ? '-' : '+', (int)(magnitude / 3600),
             (int)(magnitude % 3600 / 60));
}

void format_duration(int64_t ms, char *out, size_t cap)
{
    static const struct {
        char unit;
        int64_t seconds;
    } units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    int64_t left = ms < 0 ? 0 : ms / 1000;
    size_t used = 0, first = 0;
    snprintf(out, cap, "0s");
    /* The largest unit and the one after it when not 0: "2h5m", and "2h"
     * for 2h0m5s. */
    for (size_t i = 0; i < sizeof units / sizeof units[0] && (!used || i <= first + 1); i++) {
        int64_t n = left / units[i].seconds;
        left %= units[i].seconds;
        if (!n || used >= cap)
            continue;
        if (!used)
            first = i;
        used += (size_t)snprintf(out + used, cap - used, "%lld%c", (long long)n, units[i].unit);
    }
}
