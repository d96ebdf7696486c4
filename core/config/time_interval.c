#include "config/time_interval.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/strbuf.h"

static const char *const weekday_names[] = {"sunday",   "monday", "tuesday", "wednesday",
                                            "thursday", "friday", "saturday"};
static const char *const month_names[] = {"january", "february", "march",     "april",
                                          "may",     "june",     "july",      "august",
                                          "september", "october", "november", "december"};

int interval_parse_time(const char *text, int is_end, int *minutes, char *why, size_t why_cap)
{
    int hours = 0, mins = 0;
    size_t len = strlen(text);
    int shape = len == 5 && text[2] == ':';
    for (size_t i = 0; shape && i < len; i++)
        shape = text[i] == ':' || isdigit((unsigned char)text[i]);
    if (shape)
        shape = sscanf(text, "%d:%d", &hours, &mins) == 2;
    if (!shape || mins > 59 || hours > 24 || (hours == 24 && (mins || !is_end))) {
        snprintf(why, why_cap, "\"%s\" is not a time from 00:00 to %s (HH:MM)", text,
                 is_end ? "24:00" : "23:59");
        return -1;
    }
    *minutes = hours * 60 + mins;
    return 0;
}

/* A name of `names`, or a number from lo to hi (for months also). */
static int parse_value(interval_field field, const char *text, int *out)
{
    const char *const *names = field == INTERVAL_WEEKDAYS ? weekday_names
                               : field == INTERVAL_MONTHS ? month_names
                                                          : NULL;
    size_t names_len = field == INTERVAL_WEEKDAYS ? 7 : 12;
    for (size_t i = 0; names && i < names_len; i++)
        if (strcasecmp(text, names[i]) == 0) {
            *out = field == INTERVAL_WEEKDAYS ? (int)i : (int)i + 1;
            return 0;
        }
    if (field == INTERVAL_WEEKDAYS)
        return -1;
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || isspace((unsigned char)*text) || *text == '+')
        return -1;
    if ((field == INTERVAL_MONTHS && (v < 1 || v > 12)) ||
        (field == INTERVAL_DAYS_OF_MONTH && (v == 0 || v < -31 || v > 31)) ||
        (field == INTERVAL_YEARS && (v < 1 || v > 9999)))
        return -1;
    *out = (int)v;
    return 0;
}

static const char *field_expects(interval_field field)
{
    switch (field) {
    case INTERVAL_WEEKDAYS: return "a weekday (\"monday\") or a range (\"monday:friday\")";
    case INTERVAL_DAYS_OF_MONTH:
        return "a day of month from 1 to 31 or -31 to -1 (from the end), or a range (\"1:5\", "
               "\"-3:-1\")";
    case INTERVAL_MONTHS:
        return "a month (\"january\" or 1 to 12) or a range (\"january:march\", \"1:3\")";
    case INTERVAL_YEARS: return "a year (\"2026\") or a range (\"2025:2027\")";
    default: return "?";
    }
}

int interval_parse_range(interval_field field, const char *text, interval_range *out, char *why,
                         size_t why_cap)
{
    char first[32], last[32];
    const char *colon = strchr(text, ':');
    size_t first_len = colon ? (size_t)(colon - text) : strlen(text);
    const char *last_text = colon ? colon + 1 : text;
    int ok = first_len < sizeof first && strlen(last_text) < sizeof last &&
             !(colon && strchr(last_text, ':'));
    if (ok) {
        memcpy(first, text, first_len);
        first[first_len] = '\0';
        snprintf(last, sizeof last, "%s", last_text);
        ok = parse_value(field, first, &out->lo) == 0 && parse_value(field, last, &out->hi) == 0;
    }
    if (!ok) {
        snprintf(why, why_cap, "\"%s\": expected %s", text, field_expects(field));
        return -1;
    }
    if (field == INTERVAL_DAYS_OF_MONTH && out->lo < 0 && out->hi > 0) {
        snprintf(why, why_cap, "\"%s\": a range that starts from the month's end must end "
                               "there too (\"-3:-1\")", text);
        return -1;
    }
    if ((out->lo > 0) == (out->hi > 0) && out->lo > out->hi) {
        snprintf(why, why_cap, "\"%s\": the range ends before it starts", text);
        return -1;
    }
    return 0;
}

void interval_entry_add(interval_entry *e, interval_field field, interval_range range)
{
    e->ranges[field] = xrealloc(e->ranges[field], (e->len[field] + 1) * sizeof *e->ranges[field]);
    e->ranges[field][e->len[field]++] = range;
}

void time_interval_free(time_interval *t)
{
    for (size_t i = 0; i < t->len; i++) {
        for (int f = 0; f < INTERVAL_FIELDS; f++)
            free(t->entries[i].ranges[f]);
        tz_free(t->entries[i].location);
    }
    free(t->entries);
    free(t->name);
}

/* ---- matching -------------------------------------------------------------- */

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[month - 1] + (month == 2 && leap);
}

static int day_of_month_matches(const interval_range *r, const struct tm *tm)
{
    int length = days_in_month(tm->tm_year + 1900, tm->tm_mon + 1);
    int lo = r->lo < 0 ? length + r->lo + 1 : r->lo;
    int hi = r->hi < 0 ? length + r->hi + 1 : r->hi;
    return tm->tm_mday >= lo && tm->tm_mday <= hi;
}

static int field_matches(const interval_entry *e, interval_field f, const struct tm *tm)
{
    if (!e->len[f])
        return 1;
    int value = f == INTERVAL_TIMES      ? tm->tm_hour * 60 + tm->tm_min
                : f == INTERVAL_WEEKDAYS ? tm->tm_wday
                : f == INTERVAL_MONTHS   ? tm->tm_mon + 1
                                         : tm->tm_year + 1900;
    for (size_t i = 0; i < e->len[f]; i++) {
        const interval_range *r = &e->ranges[f][i];
        if (f == INTERVAL_DAYS_OF_MONTH ? day_of_month_matches(r, tm)
            : f == INTERVAL_TIMES       ? value >= r->lo && value < r->hi
                                        : value >= r->lo && value <= r->hi)
            return 1;
    }
    return 0;
}

/* The civil time of the instant in the entry's zone. */
static void civil(const interval_entry *e, int64_t epoch_s, struct tm *tm)
{
    time_t local = (time_t)(epoch_s + tz_offset(e->location, epoch_s, NULL));
    gmtime_r(&local, tm);
}

int interval_entry_matches(const interval_entry *e, int64_t epoch_s)
{
    struct tm tm;
    civil(e, epoch_s, &tm);
    for (int f = 0; f < INTERVAL_FIELDS; f++)
        if (!field_matches(e, (interval_field)f, &tm))
            return 0;
    return 1;
}

int time_interval_matches(const time_interval *t, int64_t epoch_s)
{
    for (size_t i = 0; i < t->len; i++)
        if (interval_entry_matches(&t->entries[i], epoch_s))
            return 1;
    return 0;
}

int quiet_hours_muted(const quiet_hours *q, int64_t epoch_s, const char **why)
{
    for (size_t i = 0; i < q->mute_len; i++)
        if (time_interval_matches(q->mute[i], epoch_s)) {
            *why = q->mute[i]->name;
            return 1;
        }
    for (size_t i = 0; i < q->active_len; i++)
        if (time_interval_matches(q->active[i], epoch_s))
            return 0;
    *why = q->active_len ? q->active[0]->name : NULL;
    return q->active_len > 0;
}

/* ---- the next change ------------------------------------------------------- */

/* The first instant in (after, before] whose offset differs from the one
 * at `after` (before's does): offsets only change at transitions. */
static int64_t offset_change(const tz_zone *zone, int64_t after, int64_t before)
{
    int32_t offset = tz_offset(zone, after, NULL);
    while (before - after > 1) {
        int64_t mid = after + (before - after) / 2;
        if (tz_offset(zone, mid, NULL) == offset)
            after = mid;
        else
            before = mid;
    }
    return before;
}

/* The entry's next boundary after epoch_s: one of its times today, else
 * its zone's next midnight, or an offset change before either. */
static int64_t entry_next_boundary(const interval_entry *e, int64_t epoch_s)
{
    int32_t offset = tz_offset(e->location, epoch_s, NULL);
    int64_t local = epoch_s + offset;
    int64_t second_of_day = ((local % 86400) + 86400) % 86400;
    int64_t next = 86400;
    for (size_t i = 0; i < e->len[INTERVAL_TIMES]; i++) {
        int64_t start = e->ranges[INTERVAL_TIMES][i].lo * 60LL;
        int64_t end = e->ranges[INTERVAL_TIMES][i].hi * 60LL;
        if (start > second_of_day && start < next)
            next = start;
        if (end > second_of_day && end < next)
            next = end;
    }
    int64_t at = epoch_s + (next - second_of_day);
    if (tz_offset(e->location, at, NULL) != offset)
        return offset_change(e->location, epoch_s, at);
    return at;
}

static void soonest_in(const time_interval *const *set, size_t len, int64_t epoch_s,
                       int64_t *soonest)
{
    for (size_t i = 0; i < len; i++)
        for (size_t k = 0; k < set[i]->len; k++) {
            int64_t at = entry_next_boundary(&set[i]->entries[k], epoch_s);
            if (at < *soonest)
                *soonest = at;
        }
}

int64_t quiet_hours_next_change(const quiet_hours *q, int64_t epoch_s, int *found)
{
    const char *why;
    int muted = quiet_hours_muted(q, epoch_s, &why);
    int64_t at = epoch_s;
    *found = 0;
    for (int step = 0; step < QUIET_HORIZON_STEPS; step++) {
        int64_t next = INT64_MAX;
        soonest_in(q->mute, q->mute_len, at, &next);
        soonest_in(q->active, q->active_len, at, &next);
        if (next == INT64_MAX)
            return at; /* no entries: nothing ever changes */
        at = next;
        if (quiet_hours_muted(q, at, &why) != muted) {
            *found = 1;
            return at;
        }
    }
    return at;
}
