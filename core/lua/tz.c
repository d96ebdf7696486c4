/* Time zones read straight from TZif files (RFC 8536), so formatting in the
 * configured zone never touches the process-wide TZ variable or the libc's
 * single cached zone, and several zones can coexist across threads. */
#include "lua/tz.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/strbuf.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define LOCALTIME_PATH "/etc/localtime"
/* Real TZif files are a few KiB; anything far larger is not one. */
#define TZIF_MAX_BYTES (1u << 20)
#define ABBREV_CAP 16
/* About two million years either side of 1970: far beyond any real use and
 * small enough that no calendar arithmetic below can overflow. */
#define EPOCH_LIMIT ((int64_t)1 << 46)

typedef struct tz_type {
    int32_t utoff;
    bool is_dst;
    const char *abbrev; /* points into tz_zone.abbrevs */
} tz_type;

/* A POSIX TZ rule date: Jn (1..365, Feb 29 never counted), n (0..365) or
 * Mm.w.d (day d of week w of month m; w = 5 means the last). */
typedef struct tz_rule_date {
    enum { RULE_JULIAN1, RULE_JULIAN0, RULE_MONTH_WEEK_DAY } kind;
    int day, week, month;
    int32_t time; /* seconds after local midnight, may be negative or > 24h */
} tz_rule_date;

/* The TZif footer: the rule for instants after the last transition. */
typedef struct tz_rule {
    bool present;
    bool has_dst;
    tz_type std, dst;
    tz_rule_date start, end;
    char std_abbrev[ABBREV_CAP], dst_abbrev[ABBREV_CAP];
} tz_rule;

struct tz_zone {
    char *name;
    size_t transition_count;
    int64_t *transition_times;
    uint8_t *transition_types;
    size_t type_count;
    tz_type *types;
    char *abbrevs;
    tz_rule rule;
};

static tz_zone *zone_fixed(const char *name, int32_t utoff, const char *abbrev)
{
    tz_zone *zone = xcalloc(1, sizeof *zone);
    zone->name = xstrdup(name);
    zone->type_count = 1;
    zone->types = xcalloc(1, sizeof *zone->types);
    zone->abbrevs = xstrdup(abbrev);
    zone->types[0] = (tz_type){utoff, false, zone->abbrevs};
    return zone;
}

/* "+8", "+08", "+0800", "+08:00", "-5:30". Hours up to 18 (a superset of
 * every offset ever used, as java.time allows). */
static bool parse_fixed_offset(const char *text, int32_t *utoff)
{
    int sign = text[0] == '-' ? -1 : 1;
    const char *p = text + 1;
    int digits = 0, hours = 0, minutes = 0;
    while (isdigit((unsigned char)p[digits]))
        digits++;
    if (digits == 1 || digits == 2) {
        hours = atoi(p);
        p += digits;
        if (*p == ':') {
            p++;
            if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
                return false;
            minutes = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
        }
    } else if (digits == 4) {
        hours = (p[0] - '0') * 10 + (p[1] - '0');
        minutes = (p[2] - '0') * 10 + (p[3] - '0');
        p += 4;
    } else {
        return false;
    }
    if (*p != '\0' || hours > 18 || minutes > 59)
        return false;
    *utoff = sign * (hours * 3600 + minutes * 60);
    return true;
}

/* tzdata's own style for fixed zones: "+08", "-0530". */
static void fixed_abbrev(int32_t utoff, char out[ABBREV_CAP])
{
    int32_t magnitude = utoff < 0 ? -utoff : utoff;
    char sign = utoff < 0 ? '-' : '+';
    int hours = (int)(magnitude / 3600), minutes = (int)(magnitude % 3600 / 60);
    if (minutes)
        snprintf(out, ABBREV_CAP, "%c%02d%02d", sign, hours, minutes);
    else
        snprintf(out, ABBREV_CAP, "%c%02d", sign, hours);
}

/* ---- POSIX TZ footer ---------------------------------------------------- */

static const char *parse_rule_abbrev(const char *p, char out[ABBREV_CAP])
{
    size_t len = 0;
    if (*p == '<') {
        p++;
        while (*p && *p != '>') {
            if (len + 1 < ABBREV_CAP)
                out[len++] = *p;
            p++;
        }
        if (*p != '>')
            return NULL;
        p++;
    } else {
        while (isalpha((unsigned char)*p)) {
            if (len + 1 < ABBREV_CAP)
                out[len++] = *p;
            p++;
        }
    }
    out[len] = '\0';
    return len >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]], hours up to 167 (RFC 8536 extension). */
static const char *parse_rule_hms(const char *p, int32_t *seconds)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return NULL;
    long parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        char *end;
        parts[i] = strtol(p, &end, 10);
        if (end == p || parts[i] > 167)
            return NULL;
        p = end;
        if (*p != ':' || i == 2)
            break;
        p++;
    }
    *seconds = sign * (int32_t)(parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return p;
}

static const char *parse_rule_date(const char *p, tz_rule_date *date)
{
    char *end;
    if (*p == 'M') {
        date->kind = RULE_MONTH_WEEK_DAY;
        date->month = (int)strtol(p + 1, &end, 10);
        if (*end != '.')
            return NULL;
        date->week = (int)strtol(end + 1, &end, 10);
        if (*end != '.')
            return NULL;
        date->day = (int)strtol(end + 1, &end, 10);
        if (date->month < 1 || date->month > 12 || date->week < 1 || date->week > 5 ||
            date->day < 0 || date->day > 6)
            return NULL;
    } else if (*p == 'J') {
        date->kind = RULE_JULIAN1;
        date->day = (int)strtol(p + 1, &end, 10);
        if (end == p + 1 || date->day < 1 || date->day > 365)
            return NULL;
    } else if (isdigit((unsigned char)*p)) {
        date->kind = RULE_JULIAN0;
        date->day = (int)strtol(p, &end, 10);
        if (date->day > 365)
            return NULL;
    } else {
        return NULL;
    }
    p = end;
    date->time = 2 * 3600;
    if (*p == '/')
        p = parse_rule_hms(p + 1, &date->time);
    return p;
}

/* Parses e.g. "CST-8", "EST5EDT,M3.2.0,M11.1.0", "<+0330>-3:30". POSIX
 * offsets count west, TZif offsets east, hence the negations. */
static bool parse_rule(const char *text, tz_rule *rule)
{
    int32_t west;
    const char *p = parse_rule_abbrev(text, rule->std_abbrev);
    if (!p || !(p = parse_rule_hms(p, &west)))
        return false;
    rule->std = (tz_type){-west, false, rule->std_abbrev};
    rule->present = true;
    if (*p == '\0')
        return true;
    if (!(p = parse_rule_abbrev(p, rule->dst_abbrev)))
        return false;
    rule->has_dst = true;
    rule->dst = (tz_type){rule->std.utoff + 3600, true, rule->dst_abbrev};
    if (*p != ',' && *p != '\0') {
        if (!(p = parse_rule_hms(p, &west)))
            return false;
        rule->dst.utoff = -west;
    }
    /* No dates: POSIX leaves them to the implementation; use the US rules
     * as glibc's posixrules file does. */
    rule->start = (tz_rule_date){RULE_MONTH_WEEK_DAY, 0, 2, 3, 7200};
    rule->end = (tz_rule_date){RULE_MONTH_WEEK_DAY, 0, 1, 11, 7200};
    if (*p == '\0')
        return true;
    if (*p != ',' || !(p = parse_rule_date(p + 1, &rule->start)))
        return false;
    if (*p != ',' || !(p = parse_rule_date(p + 1, &rule->end)))
        return false;
    return *p == '\0';
}

static bool is_leap(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Days from 1970-01-01 to year-month-day (proleptic Gregorian). */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static int64_t rule_date_days(const tz_rule_date *date, int64_t year)
{
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t jan1 = days_from_civil(year, 1, 1);
    switch (date->kind) {
    case RULE_JULIAN1:
        return jan1 + date->day - 1 + (is_leap(year) && date->day >= 60);
    case RULE_JULIAN0:
        return jan1 + date->day;
    case RULE_MONTH_WEEK_DAY:
    default: {
        int64_t first = days_from_civil(year, date->month, 1);
        int first_weekday = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
        int day = 1 + (date->day - first_weekday + 7) % 7 + (date->week - 1) * 7;
        int length = month_days[date->month - 1] + (date->month == 2 && is_leap(year));
        while (day > length)
            day -= 7;
        return first + day - 1;
    }
    }
}

static const tz_type *rule_type_at(const tz_rule *rule, int64_t epoch_s)
{
    if (!rule->has_dst || epoch_s > EPOCH_LIMIT || epoch_s < -EPOCH_LIMIT)
        return &rule->std;
    int64_t local_days = (epoch_s + rule->std.utoff) / 86400 - ((epoch_s + rule->std.utoff) % 86400 < 0);
    /* Civil year of that day: inverse of days_from_civil, year part only. */
    int64_t z = local_days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t day_of_era = z - era * 146097;
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t year = year_of_era + era * 400 + (day_of_year >= 306);

    /* The start is given in standard time, the end in daylight time. */
    int64_t start = rule_date_days(&rule->start, year) * 86400 + rule->start.time - rule->std.utoff;
    int64_t end = rule_date_days(&rule->end, year) * 86400 + rule->end.time - rule->dst.utoff;
    bool in_dst = start < end ? (epoch_s >= start && epoch_s < end)
                              : !(epoch_s >= end && epoch_s < start); /* southern hemisphere */
    return in_dst ? &rule->dst : &rule->std;
}

/* ---- TZif --------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

static bool read_header(const unsigned char *p, size_t len, tzif_counts *c)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chars = be32(p + 40);
    return true;
}

static size_t block_size(const tzif_counts *c, size_t time_bytes)
{
    return c->time * time_bytes + c->time + c->type * 6 + c->chars +
           c->leap * (time_bytes + 4) + c->isstd + c->isut;
}

/* Returns NULL with a reason in *why. */
static tz_zone *parse_tzif(const char *name, const unsigned char *data, size_t len, const char **why)
{
    tzif_counts c;
    if (!read_header(data, len, &c)) {
        *why = "not a TZif file";
        return NULL;
    }
    if (data[4] < '2') {
        *why = "TZif version 1 is not supported";
        return NULL;
    }
    /* Counts are 32-bit; every product below stays far from overflow
     * because the file size is capped. */
    if (c.time > TZIF_MAX_BYTES || c.type > 256 || c.chars > TZIF_MAX_BYTES ||
        c.leap > TZIF_MAX_BYTES || c.isstd > 256 || c.isut > 256) {
        *why = "corrupt TZif header";
        return NULL;
    }
    size_t v1_end = 44 + block_size(&c, 4);
    if (v1_end > len || !read_header(data + v1_end, len - v1_end, &c)) {
        *why = "truncated TZif file";
        return NULL;
    }
    const unsigned char *p = data + v1_end + 44;
    size_t body = block_size(&c, 8);
    if (c.time > TZIF_MAX_BYTES || c.type == 0 || c.type > 256 || c.chars == 0 ||
        c.chars > TZIF_MAX_BYTES || c.leap > TZIF_MAX_BYTES || c.isstd > 256 || c.isut > 256 ||
        body > len - v1_end - 44) {
        *why = "corrupt TZif data";
        return NULL;
    }

    tz_zone *zone = xcalloc(1, sizeof *zone);
    zone->name = xstrdup(name);
    zone->transition_count = c.time;
    zone->transition_times = xcalloc(c.time ? c.time : 1, sizeof *zone->transition_times);
    zone->transition_types = xcalloc(c.time ? c.time : 1, 1);
    zone->type_count = c.type;
    zone->types = xcalloc(c.type, sizeof *zone->types);
    zone->abbrevs = xcalloc(c.chars + 1, 1);

    for (uint32_t i = 0; i < c.time; i++)
        zone->transition_times[i] = be64(p + 8 * i);
    p += 8 * c.time;
    memcpy(zone->transition_types, p, c.time);
    p += c.time;
    const unsigned char *type_records = p;
    p += 6 * c.type;
    memcpy(zone->abbrevs, p, c.chars);
    p += c.chars + 12 * c.leap + c.isstd + c.isut;

    for (uint32_t i = 0; i < c.time; i++) {
        if (zone->transition_types[i] >= c.type ||
            (i && zone->transition_times[i] <= zone->transition_times[i - 1])) {
            *why = "corrupt TZif transitions";
            tz_free(zone);
            return NULL;
        }
    }
    for (uint32_t i = 0; i < c.type; i++) {
        const unsigned char *record = type_records + 6 * i;
        if (record[5] >= c.chars) {
            *why = "corrupt TZif abbreviation index";
            tz_free(zone);
            return NULL;
        }
        zone->types[i] = (tz_type){(int32_t)be32(record), record[4] != 0,
                                   zone->abbrevs + record[5]};
    }

    /* Footer: "\n<POSIX TZ>\n". An empty or unparsable one just means the
     * last transition's type stays in force. */
    const unsigned char *data_end = data + len;
    if (p < data_end && *p == '\n') {
        const unsigned char *close = memchr(p + 1, '\n', (size_t)(data_end - p - 1));
        if (close && close > p + 1) {
            char *footer = xstrndup((const char *)p + 1, (size_t)(close - p - 1));
            if (!parse_rule(footer, &zone->rule))
                memset(&zone->rule, 0, sizeof zone->rule);
            free(footer);
        }
    }
    return zone;
}

static tz_zone *load_file(const char *name, const char *path, char *err, size_t err_cap)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        if (errno == ENOENT)
            fail(err, err_cap, "time zone \"%s\": %s: unknown zone (no such file)", name, path);
        else
            fail_errno(err, err_cap, errno, "time zone \"%s\": %s", name, path);
        return NULL;
    }
    unsigned char *data = xmalloc(TZIF_MAX_BYTES);
    size_t len = fread(data, 1, TZIF_MAX_BYTES, file);
    bool read_failed = ferror(file);
    fclose(file);
    const char *why = read_failed ? "read error" : NULL;
    tz_zone *zone = why ? NULL : parse_tzif(name, data, len, &why);
    free(data);
    if (!zone)
        fail(err, err_cap, "time zone \"%s\": %s: %s", name, path, why);
    return zone;
}

static bool valid_zone_name(const char *name)
{
    if (name[0] == '\0' || name[0] == '/' || strstr(name, ".."))
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
            return false;
    return true;
}

tz_zone *tz_load(const char *name, char *err, size_t err_cap)
{
    if (!name) {
        fail(err, err_cap, "time zone name missing");
        return NULL;
    }
    if (strcmp(name, "UTC") == 0)
        return zone_fixed(name, 0, "UTC");
    if (name[0] == '+' || name[0] == '-') {
        int32_t utoff;
        if (!parse_fixed_offset(name, &utoff)) {
            fail(err, err_cap, "time zone \"%s\": bad fixed offset (use +08:00, -0530 or +8)",
                 name);
            return NULL;
        }
        char abbrev[ABBREV_CAP];
        fixed_abbrev(utoff, abbrev);
        return zone_fixed(name, utoff, abbrev);
    }
    if (strcmp(name, "Local") == 0) {
        /* Without /etc/localtime the C library's local time is UTC too. */
        FILE *probe = fopen(LOCALTIME_PATH, "rb");
        if (!probe && errno == ENOENT)
            return zone_fixed(name, 0, "UTC");
        if (probe)
            fclose(probe);
        return load_file(name, LOCALTIME_PATH, err, err_cap);
    }
    if (!valid_zone_name(name)) {
        fail(err, err_cap, "time zone \"%s\": not a zone name", name);
        return NULL;
    }
    strbuf path = STRBUF_INIT;
    sb_printf(&path, "%s/%s", ZONEINFO_DIR, name);
    tz_zone *zone = load_file(name, sb_str(&path), err, err_cap);
    sb_free(&path);
    return zone;
}

void tz_free(tz_zone *zone)
{
    if (!zone)
        return;
    free(zone->name);
    free(zone->transition_times);
    free(zone->transition_types);
    free(zone->types);
    free(zone->abbrevs);
    free(zone);
}

const char *tz_name(const tz_zone *zone) { return zone ? zone->name : "UTC"; }

static const tz_type utc_type = {0, false, "UTC"};

static const tz_type *type_at(const tz_zone *zone, int64_t epoch_s)
{
    if (!zone)
        return &utc_type;
    size_t count = zone->transition_count;
    /* RFC 8536: type 0 governs instants before the first transition. */
    if (count == 0 || epoch_s < zone->transition_times[0])
        return count == 0 && zone->rule.present ? rule_type_at(&zone->rule, epoch_s)
                                                : &zone->types[0];
    if (epoch_s >= zone->transition_times[count - 1] && zone->rule.present)
        return rule_type_at(&zone->rule, epoch_s);
    size_t low = 0, high = count; /* last transition <= epoch_s is in [low, high) */
    while (high - low > 1) {
        size_t mid = low + (high - low) / 2;
        if (zone->transition_times[mid] <= epoch_s)
            low = mid;
        else
            high = mid;
    }
    return &zone->types[zone->transition_types[low]];
}

int32_t tz_offset(const tz_zone *zone, int64_t epoch_s, const char **abbrev)
{
    const tz_type *type = type_at(zone, epoch_s);
    if (abbrev)
        *abbrev = type->abbrev;
    return type->utoff;
}

/* Whether fmt has %z or %Z; "%%" is skipped whole, so "%%z" has neither. */
static int names_zone(const char *fmt)
{
    for (const char *p = strchr(fmt, '%'); p && p[1]; p = strchr(p + 2, '%'))
        if (p[1] == 'z' || p[1] == 'Z')
            return 1;
    return 0;
}

/* fmt with %z as +hhmm and %Z as the abbreviation (its % doubled); every
 * other conversion, "%%" included, is copied for strftime. */
static void rewrite_zone(const char *fmt, int32_t utoff, const char *abbrev, strbuf *out)
{
    for (const char *p = fmt; *p; p++) {
        if (p[0] != '%' || p[1] == '\0') {
            sb_putc(out, *p);
            continue;
        }
        p++;
        if (*p == 'z') {
            int32_t magnitude = utoff < 0 ? -utoff : utoff;
            sb_printf(out, "%c%02d%02d", utoff < 0 ? '-' : '+', (int)(magnitude / 3600),
                      (int)(magnitude % 3600 / 60));
        } else if (*p == 'Z') {
            for (const char *a = abbrev; *a; a++) {
                if (*a == '%')
                    sb_putc(out, '%');
                sb_putc(out, *a);
            }
        } else {
            sb_putc(out, '%');
            sb_putc(out, *p);
        }
    }
}

size_t tz_format(const tz_zone *zone, int64_t epoch_s, const char *fmt, char *out, size_t cap)
{
    if (!cap)
        return 0;
    out[0] = '\0';
    if (epoch_s > EPOCH_LIMIT || epoch_s < -EPOCH_LIMIT)
        return 0;
    const char *abbrev;
    int32_t utoff = tz_offset(zone, epoch_s, &abbrev);
    time_t local = (time_t)(epoch_s + utoff);
    struct tm tm;
    if (!gmtime_r(&local, &tm))
        return 0;

    /* Substitute %z and %Z ourselves: strftime would report the broken-down
     * time as UTC. A format without them, as most are, goes as it is. */
    strbuf rewritten = STRBUF_INIT;
    if (names_zone(fmt))
        rewrite_zone(fmt, utoff, abbrev, &rewritten);
    const char *format = rewritten.data ? sb_str(&rewritten) : fmt;
    size_t written = *format ? strftime(out, cap, format, &tm) : 0;
    sb_free(&rewritten);
    if (written == 0)
        out[0] = '\0';
    return written;
}
