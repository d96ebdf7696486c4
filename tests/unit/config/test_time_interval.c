/* Quiet hours' time intervals: Alertmanager's fields parsed strictly,
 * matched in their zones, and the end of a mute found boundary to
 * boundary, across midnights and offset changes. */
#include "harness.h"

#include <time.h>

#include "config/time_interval.h"
#include "util/strbuf.h"

static int64_t utc(int year, int month, int day, int hour, int minute)
{
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
                    .tm_hour = hour, .tm_min = minute};
    return (int64_t)timegm(&tm);
}

/* Adds "first:last" items (NULL-terminated) to the entry's field. */
static int add(interval_entry *e, interval_field field, const char *const *items)
{
    for (; *items; items++) {
        interval_range r;
        char why[256];
        if (interval_parse_range(field, *items, &r, why, sizeof why))
            return -1;
        interval_entry_add(e, field, r);
    }
    return 0;
}

static void add_times(interval_entry *e, const char *start, const char *end)
{
    interval_range r;
    char why[256];
    interval_parse_time(start, 0, &r.lo, why, sizeof why);
    interval_parse_time(end, 1, &r.hi, why, sizeof why);
    interval_entry_add(e, INTERVAL_TIMES, r);
}

static time_interval *new_interval(const char *name, const char *zone)
{
    time_interval *t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    t->entries = xcalloc(1, sizeof *t->entries);
    t->len = 1;
    char err[256];
    if (zone)
        t->entries[0].location = tz_load(zone, err, sizeof err);
    return t;
}

static void drop_interval(time_interval *t)
{
    time_interval_free(t);
    free(t);
}

TEST(times_parse)
{
    int m = -1;
    char why[256];
    CHECK_INT(interval_parse_time("22:00", 0, &m, why, sizeof why), 0);
    CHECK_INT(m, 22 * 60);
    CHECK_INT(interval_parse_time("07:30", 0, &m, why, sizeof why), 0);
    CHECK_INT(m, 7 * 60 + 30);
    CHECK_INT(interval_parse_time("7:30", 0, &m, why, sizeof why), -1); /* HH:MM, as Alertmanager */
    CHECK_INT(interval_parse_time("24:00", 1, &m, why, sizeof why), 0);
    CHECK_INT(m, 1440);
    CHECK_INT(interval_parse_time("24:00", 0, &m, why, sizeof why), -1);
    CHECK_CONTAINS(why, "\"24:00\" is not a time from 00:00 to 23:59");
    CHECK_INT(interval_parse_time("24:01", 1, &m, why, sizeof why), -1);
    CHECK_INT(interval_parse_time("12:60", 0, &m, why, sizeof why), -1);
    CHECK_INT(interval_parse_time("1200", 0, &m, why, sizeof why), -1);
    CHECK_INT(interval_parse_time("-1:00", 0, &m, why, sizeof why), -1);
    CHECK_INT(interval_parse_time("", 0, &m, why, sizeof why), -1);
}

TEST(ranges_parse)
{
    interval_range r;
    char why[256];
    CHECK_INT(interval_parse_range(INTERVAL_WEEKDAYS, "monday:friday", &r, why, sizeof why), 0);
    CHECK(r.lo == 1 && r.hi == 5);
    CHECK_INT(interval_parse_range(INTERVAL_WEEKDAYS, "Sunday", &r, why, sizeof why), 0);
    CHECK(r.lo == 0 && r.hi == 0);
    CHECK_INT(interval_parse_range(INTERVAL_WEEKDAYS, "friday:monday", &r, why, sizeof why), -1);
    CHECK_CONTAINS(why, "the range ends before it starts");
    CHECK_INT(interval_parse_range(INTERVAL_WEEKDAYS, "funday", &r, why, sizeof why), -1);
    CHECK_CONTAINS(why, "\"funday\": expected a weekday");
    CHECK_INT(interval_parse_range(INTERVAL_WEEKDAYS, "1", &r, why, sizeof why), -1);
    CHECK_INT(interval_parse_range(INTERVAL_MONTHS, "january:March", &r, why, sizeof why), 0);
    CHECK(r.lo == 1 && r.hi == 3);
    CHECK_INT(interval_parse_range(INTERVAL_MONTHS, "10:12", &r, why, sizeof why), 0);
    CHECK(r.lo == 10 && r.hi == 12);
    CHECK_INT(interval_parse_range(INTERVAL_MONTHS, "13", &r, why, sizeof why), -1);
    CHECK_INT(interval_parse_range(INTERVAL_DAYS_OF_MONTH, "-3:-1", &r, why, sizeof why), 0);
    CHECK(r.lo == -3 && r.hi == -1);
    CHECK_INT(interval_parse_range(INTERVAL_DAYS_OF_MONTH, "1:-1", &r, why, sizeof why), 0);
    CHECK_INT(interval_parse_range(INTERVAL_DAYS_OF_MONTH, "-1:3", &r, why, sizeof why), -1);
    CHECK_CONTAINS(why, "must end there too");
    CHECK_INT(interval_parse_range(INTERVAL_DAYS_OF_MONTH, "0", &r, why, sizeof why), -1);
    CHECK_INT(interval_parse_range(INTERVAL_DAYS_OF_MONTH, "32", &r, why, sizeof why), -1);
    CHECK_INT(interval_parse_range(INTERVAL_DAYS_OF_MONTH, "5:1", &r, why, sizeof why), -1);
    CHECK_INT(interval_parse_range(INTERVAL_DAYS_OF_MONTH, "-1:-3", &r, why, sizeof why), -1);
    CHECK_INT(interval_parse_range(INTERVAL_YEARS, "2025:2027", &r, why, sizeof why), 0);
    CHECK(r.lo == 2025 && r.hi == 2027);
    CHECK_INT(interval_parse_range(INTERVAL_YEARS, "2027:2025", &r, why, sizeof why), -1);
    CHECK_INT(interval_parse_range(INTERVAL_YEARS, "20x6", &r, why, sizeof why), -1);
    CHECK_INT(interval_parse_range(INTERVAL_YEARS, "1:2:3", &r, why, sizeof why), -1);
}

/* Nights on weekdays in Shanghai: 22:00 to 08:00 as two ranges, the end
 * left out; 2026-12-03 is a Thursday. */
TEST(matches_in_its_zone)
{
    time_interval *night = new_interval("night", "Asia/Shanghai");
    interval_entry *e = &night->entries[0];
    CHECK(e->location != NULL);
    add_times(e, "22:00", "24:00");
    add_times(e, "00:00", "08:00");
    CHECK_INT(add(e, INTERVAL_WEEKDAYS, (const char *[]){"monday:friday", NULL}), 0);
    CHECK_INT(time_interval_matches(night, utc(2026, 12, 3, 15, 0)), 1);  /* Thu 23:00 CST */
    CHECK_INT(time_interval_matches(night, utc(2026, 12, 3, 13, 59)), 0); /* Thu 21:59 */
    CHECK_INT(time_interval_matches(night, utc(2026, 12, 3, 14, 0)), 1);  /* Thu 22:00 */
    CHECK_INT(time_interval_matches(night, utc(2026, 12, 2, 23, 59)), 1); /* Thu 07:59 */
    CHECK_INT(time_interval_matches(night, utc(2026, 12, 3, 0, 0)), 0);   /* Thu 08:00: the end */
    CHECK_INT(time_interval_matches(night, utc(2026, 12, 4, 17, 0)), 0);  /* Sat 01:00 */
    drop_interval(night);
}

TEST(days_of_month_count_back_from_the_end)
{
    time_interval *last = new_interval("last", NULL);
    CHECK_INT(add(&last->entries[0], INTERVAL_DAYS_OF_MONTH, (const char *[]){"-1", NULL}), 0);
    CHECK_INT(time_interval_matches(last, utc(2026, 2, 28, 12, 0)), 1);
    CHECK_INT(time_interval_matches(last, utc(2028, 2, 28, 12, 0)), 0); /* a leap year */
    CHECK_INT(time_interval_matches(last, utc(2028, 2, 29, 12, 0)), 1);
    CHECK_INT(time_interval_matches(last, utc(2026, 4, 30, 0, 0)), 1);
    drop_interval(last);
    time_interval *span = new_interval("span", NULL);
    interval_entry *e = &span->entries[0];
    CHECK_INT(add(e, INTERVAL_DAYS_OF_MONTH, (const char *[]){"1:5", "-3:-2", NULL}), 0);
    CHECK_INT(add(e, INTERVAL_MONTHS, (const char *[]){"december", NULL}), 0);
    CHECK_INT(add(e, INTERVAL_YEARS, (const char *[]){"2026:2027", NULL}), 0);
    CHECK_INT(time_interval_matches(span, utc(2026, 12, 5, 23, 59)), 1);
    CHECK_INT(time_interval_matches(span, utc(2026, 12, 6, 0, 0)), 0);
    CHECK_INT(time_interval_matches(span, utc(2026, 12, 29, 0, 0)), 1);
    CHECK_INT(time_interval_matches(span, utc(2026, 12, 31, 0, 0)), 0);
    CHECK_INT(time_interval_matches(span, utc(2026, 11, 2, 0, 0)), 0);
    CHECK_INT(time_interval_matches(span, utc(2028, 12, 2, 0, 0)), 0);
    drop_interval(span);
}

/* Muted through the night; midnight, where "24:00" meets "00:00", is no
 * end. On Friday night the mute ends at midnight: Saturday is no weekday. */
TEST(next_change_crosses_midnight)
{
    time_interval *night = new_interval("night", "UTC");
    interval_entry *e = &night->entries[0];
    add_times(e, "22:00", "24:00");
    add_times(e, "00:00", "08:00");
    const time_interval *mute[] = {night};
    quiet_hours q = {.mute = mute, .mute_len = 1};
    const char *why = NULL;
    int found = 0;
    CHECK_INT(quiet_hours_muted(&q, utc(2026, 12, 3, 23, 0), &why), 1);
    CHECK_STR(why, "night");
    CHECK_INT(quiet_hours_next_change(&q, utc(2026, 12, 3, 23, 0), &found),
              utc(2026, 12, 4, 8, 0));
    CHECK_INT(found, 1);
    /* not muted: the next change is when it starts */
    CHECK_INT(quiet_hours_next_change(&q, utc(2026, 12, 4, 12, 0), &found),
              utc(2026, 12, 4, 22, 0));
    CHECK_INT(add(e, INTERVAL_WEEKDAYS, (const char *[]){"monday:friday", NULL}), 0);
    CHECK_INT(quiet_hours_next_change(&q, utc(2026, 12, 4, 23, 0), &found),
              utc(2026, 12, 5, 0, 0));
    drop_interval(night);
}

/* Outside its active hours a receiver is muted: on Saturday until
 * Monday 09:00. */
TEST(active_intervals_mute_outside)
{
    time_interval *office = new_interval("office", NULL);
    interval_entry *e = &office->entries[0];
    add_times(e, "09:00", "17:00");
    CHECK_INT(add(e, INTERVAL_WEEKDAYS, (const char *[]){"monday:friday", NULL}), 0);
    const time_interval *active[] = {office};
    quiet_hours q = {.active = active, .active_len = 1};
    const char *why = NULL;
    int found = 0;
    CHECK_INT(quiet_hours_muted(&q, utc(2026, 12, 5, 10, 0), &why), 1);
    CHECK_STR(why, "office");
    CHECK_INT(quiet_hours_next_change(&q, utc(2026, 12, 5, 10, 0), &found),
              utc(2026, 12, 7, 9, 0));
    CHECK_INT(quiet_hours_muted(&q, utc(2026, 12, 7, 9, 0), &why), 0);
    CHECK_INT(quiet_hours_next_change(&q, utc(2026, 12, 7, 9, 0), &found),
              utc(2026, 12, 7, 17, 0));
    drop_interval(office);
}

/* New York springs forward at 02:00 EST (07:00 UTC) on 2026-03-08 and
 * falls back at 02:00 EDT (06:00 UTC) on 2026-11-01: a mute to 03:00
 * ends at the jump; one to 01:30 ends twice on the night it falls back. */
TEST(next_change_follows_offset_changes)
{
    time_interval *t = new_interval("small_hours", "America/New_York");
    interval_entry *e = &t->entries[0];
    CHECK(e->location != NULL);
    add_times(e, "01:00", "02:30");
    const time_interval *mute[] = {t};
    quiet_hours q = {.mute = mute, .mute_len = 1};
    int found = 0;
    CHECK_INT(quiet_hours_next_change(&q, utc(2026, 3, 8, 6, 30), &found), utc(2026, 3, 8, 7, 0));
    CHECK_INT(found, 1);
    e->ranges[INTERVAL_TIMES][0] = (interval_range){0, 90};
    CHECK_INT(quiet_hours_next_change(&q, utc(2026, 11, 1, 4, 0), &found),
              utc(2026, 11, 1, 5, 30));
    /* 01:45 EDT, not muted: at 06:00 UTC it is 01:00 EST again */
    CHECK_INT(quiet_hours_next_change(&q, utc(2026, 11, 1, 5, 45), &found),
              utc(2026, 11, 1, 6, 0));
    CHECK_INT(quiet_hours_next_change(&q, utc(2026, 11, 1, 6, 0), &found),
              utc(2026, 11, 1, 6, 30));
    drop_interval(t);
}

/* An entry with no fields matches always: no end is found, and the answer
 * says how far it looked. A mute by year ends with the year. */
TEST(mutes_without_an_end)
{
    time_interval *always = new_interval("always", NULL);
    const time_interval *mute[] = {always};
    quiet_hours q = {.mute = mute, .mute_len = 1};
    int found = 1;
    int64_t from = utc(2026, 12, 3, 12, 0);
    int64_t until = quiet_hours_next_change(&q, from, &found);
    CHECK_INT(found, 0);
    CHECK(until > from + 365LL * 86400);
    CHECK_INT(add(&always->entries[0], INTERVAL_YEARS, (const char *[]){"2026", NULL}), 0);
    CHECK_INT(quiet_hours_next_change(&q, from, &found), utc(2027, 1, 1, 0, 0));
    CHECK_INT(found, 1);
    drop_interval(always);
}

RUN_TESTS(CASE(times_parse), CASE(ranges_parse), CASE(matches_in_its_zone),
          CASE(days_of_month_count_back_from_the_end), CASE(next_change_crosses_midnight),
          CASE(active_intervals_mute_outside), CASE(next_change_follows_offset_changes),
          CASE(mutes_without_an_end))
