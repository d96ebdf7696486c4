#include "util/units.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int parse_duration_ms(const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !isfinite(v) || v < 0)
        return -1;
    double scale;
    if (strcmp(end, "ms") == 0)
        scale = 1;
    else if (*end == '\0' || strcmp(end, "s") == 0)
        scale = 1000;
    else if (strcmp(end, "m") == 0)
        scale = 60e3;
    else if (strcmp(end, "h") == 0)
        scale = 3600e3;
    else if (strcmp(end, "d") == 0)
        scale = 86400e3;
    else
        return -1;
    if (v * scale > 9e15)
        return -1;
    *out = (int64_t)(v * scale);
    return 0;
}

int parse_size_bytes(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !isfinite(v) || v < 0)
        return -1;
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {{"", 1}, {"B", 1}, {"KiB", 1024.0}, {"MiB", 1048576.0},
                 {"GiB", 1073741824.0}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].suffix) == 0) {
            if (v * units[i].scale > 1e15)
                return -1;
            *out = (size_t)(v * units[i].scale);
            return 0;
        }
    return -1;
}

static int parse_digits(const char **p, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += count;
    *out = v;
    return 0;
}

int parse_rfc3339(const char *text, double *epoch)
{
    const char *p = text;
    int year, mon, day, hour, min, sec;
    if (parse_digits(&p, 4, &year) || *p++ != '-' || parse_digits(&p, 2, &mon) ||
        *p++ != '-' || parse_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (parse_digits(&p, 2, &hour) || *p++ != ':' || parse_digits(&p, 2, &min) ||
        *p++ != ':' || parse_digits(&p, 2, &sec))
        return -1;
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon < 1 || mon > 12 || day < 1 || day > month_days[mon - 1] ||
        (mon == 2 && day == 29 && !leap) || hour > 23 || min > 59 || sec > 60)
        return -1;
    double fraction = 0, scale = 0.1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9') {
            fraction += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (parse_digits(&p, 2, &oh) || *p++ != ':' || parse_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset = sign * (oh * 3600L + om * 60L);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    if (year == 1) { /* Go's zero time: Alertmanager's "no end yet" */
        *epoch = 0;
        return 0;
    }
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
                    .tm_hour = hour, .tm_min = min, .tm_sec = sec};
    *epoch = (double)timegm(&tm) - (double)offset + fraction;
    return 0;
}

void format_rfc3339_ms(int64_t epoch_ms, char *out, size_t cap)
{
    /* Floor division, so a time before 1970 still has 0-999 ms. */
    int64_t ms = epoch_ms % 1000;
    if (ms < 0)
        ms += 1000;
    time_t seconds = (time_t)((epoch_ms - ms) / 1000);
    struct tm tm;
    char date[24];
    if (!gmtime_r(&seconds, &tm) || !strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(date, sizeof date, "0000-00-00T00:00:00");
    snprintf(out, cap, "%s.%03dZ", date, (int)ms);
}

int parse_time_ms(const char *text, int64_t now_ms, int64_t *out)
{
    double epoch;
    int64_t ago;
    char *end;
    errno = 0;
    long long ms = strtoll(text, &end, 10);
    if (*text && !*end) {
        /* A bare number is epoch milliseconds; anything smaller would be
         * guesswork (epoch seconds, or a duration without its unit). */
        if (errno || ms <= 100000000000LL)
            return -1;
        *out = ms;
        return 0;
    }
    if (parse_rfc3339(text, &epoch) == 0) {
        *out = (int64_t)(epoch * 1000);
        return 0;
    }
    if (parse_duration_ms(text, &ago) == 0) {
        *out = now_ms - ago;
        return 0;
    }
    return -1;
}
