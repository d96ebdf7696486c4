/* Quiet hours: named time intervals with Alertmanager's semantics, and
 * whether a receiver is muted at an instant and until when. Pure: the
 * configuration reads them (config/quiet_hours.c), the dispatcher asks.
 *
 * An entry matches an instant when every field it gives matches the
 * instant's civil time in its location (absent fields match all); a
 * named interval matches when any of its entries does. */
#ifndef HERALD_TIME_INTERVAL_H
#define HERALD_TIME_INTERVAL_H

#include <stddef.h>
#include <stdint.h>

#include "lua/tz.h"

/* Both ends included, except for times, whose end is not (minutes of the
 * day, 0 to 1440). Days of month may count back from the month's end
 * (-1: its last day). */
typedef struct interval_range {
    int lo, hi;
} interval_range;

typedef enum interval_field {
    INTERVAL_TIMES,
    INTERVAL_WEEKDAYS,      /* 0 sunday .. 6 saturday */
    INTERVAL_DAYS_OF_MONTH, /* 1..31 or -31..-1 */
    INTERVAL_MONTHS,        /* 1..12 */
    INTERVAL_YEARS,
    INTERVAL_FIELDS
} interval_field;

typedef struct interval_entry {
    interval_range *ranges[INTERVAL_FIELDS];
    size_t len[INTERVAL_FIELDS];    /* 0: the field is absent, it matches all */
    tz_zone *location;              /* NULL: UTC */
} interval_entry;

typedef struct time_interval {
    char *name;
    interval_entry *entries;
    size_t len;
} time_interval;

/* "22:00" into minutes of the day; "24:00" only when is_end. Returns 0,
 * or -1 with why. */
int interval_parse_time(const char *text, int is_end, int *minutes, char *why, size_t why_cap);
/* One item of weekdays, days_of_month, months or years: a value or
 * "first:last" (names for weekdays and months, case-insensitive). */
int interval_parse_range(interval_field field, const char *text, interval_range *out, char *why,
                         size_t why_cap);
/* Adds a range to the entry's field. */
void interval_entry_add(interval_entry *e, interval_field field, interval_range range);
void time_interval_free(time_interval *t);

int interval_entry_matches(const interval_entry *e, int64_t epoch_s);
int time_interval_matches(const time_interval *t, int64_t epoch_s);

/* A receiver's mute_time_intervals and active_time_intervals, pointing
 * into the configuration's intervals. */
typedef struct quiet_hours {
    const time_interval **mute;
    size_t mute_len;
    const time_interval **active;
    size_t active_len;
    int drop;          /* muted = "drop": not held but dropped */
} quiet_hours;

static inline int quiet_hours_set(const quiet_hours *q) { return q->mute_len || q->active_len; }

/* Whether the receiver is muted at that instant: in one of its mute
 * intervals (*why names it), or outside all of its active ones (*why
 * names the first). */
int quiet_hours_muted(const quiet_hours *q, int64_t epoch_s, const char **why);

/* The first instant after epoch_s at which quiet_hours_muted says
 * otherwise, found from boundary to boundary (the entries' times, their
 * days' midnights and their zones' offset changes), never by stepping
 * through time. When none comes within QUIET_HORIZON_STEPS boundaries
 * (a mute for ever, or for years), *found is 0 and the last boundary
 * looked at is returned: the answer is the same until then. */
#define QUIET_HORIZON_STEPS 4000
int64_t quiet_hours_next_change(const quiet_hours *q, int64_t epoch_s, int *found);

#endif
