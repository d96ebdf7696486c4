/* Time zones from TZif files: fixed and DST zones, the POSIX footer after
 * the last transition, fixed offsets and refused names. */
#include <stdint.h>

#include "harness.h"
#include "lua/tz.h"

/* 2026-11-21T05:22:46Z */
#define ALERT_EPOCH INT64_C(1795238566)

static const char *format(const tz_zone *zone, int64_t epoch, const char *fmt)
{
    static char out[256];
    tz_format(zone, epoch, fmt, out, sizeof out);
    return out;
}

TEST(shanghai)
{
    char err[256] = "";
    tz_zone *zone = tz_load("Asia/Shanghai", err, sizeof err);
    if (!zone)
        FAIL_AT("tz_load: %s", err);
    CHECK_STR(tz_name(zone), "Asia/Shanghai");
    const char *abbrev = NULL;
    CHECK_INT(tz_offset(zone, ALERT_EPOCH, &abbrev), 8 * 3600);
    CHECK_STR(abbrev, "CST");
    CHECK_STR(format(zone, ALERT_EPOCH, "%Y-%m-%d %H:%M:%S %z %Z"), "2026-11-21 13:22:46 +0800 CST");
    /* 1800 precedes every transition: local mean time, type 0. */
    CHECK_INT(tz_offset(zone, INT64_C(-5364662400), &abbrev), 29143);
    CHECK_STR(abbrev, "LMT");
    tz_free(zone);
}

TEST(utc_and_null_zone)
{
    char err[256] = "";
    tz_zone *zone = tz_load("UTC", err, sizeof err);
    CHECK(zone != NULL);
    const char *abbrev = NULL;
    CHECK_INT(tz_offset(zone, ALERT_EPOCH, &abbrev), 0);
    CHECK_STR(abbrev, "UTC");
    CHECK_STR(format(zone, ALERT_EPOCH, "%H:%M:%S %z %Z"), "05:22:46 +0000 UTC");
    CHECK_STR(format(NULL, ALERT_EPOCH, "%H:%M %Z"), "05:22 UTC");
    tz_free(zone);
}

TEST(new_york_both_sides_of_dst)
{
    char err[256] = "";
    tz_zone *zone = tz_load("America/New_York", err, sizeof err);
    if (!zone)
        FAIL_AT("tz_load: %s", err);
    const char *abbrev = NULL;
    CHECK_INT(tz_offset(zone, INT64_C(1768478400), &abbrev), -5 * 3600); /* 2026-01-15 */
    CHECK_STR(abbrev, "EST");
    CHECK_INT(tz_offset(zone, INT64_C(1784116800), &abbrev), -4 * 3600); /* 2026-07-15 */
    CHECK_STR(abbrev, "EDT");
    /* Spring forward at 2026-03-08 07:00Z, fall back at 2026-11-01 06:00Z. */
    CHECK_STR(format(zone, INT64_C(1772953199), "%H:%M:%S %Z"), "01:59:59 EST");
    CHECK_STR(format(zone, INT64_C(1772953200), "%H:%M:%S %Z"), "03:00:00 EDT");
    CHECK_STR(format(zone, INT64_C(1793512799), "%H:%M:%S %z"), "01:59:59 -0400");
    CHECK_STR(format(zone, INT64_C(1793512800), "%H:%M:%S %z"), "01:00:00 -0500");
    /* 2100 lies past the file's transitions: the POSIX footer decides. */
    CHECK_STR(format(zone, INT64_C(4118126400), "%Y-%m-%d %H:%M %Z"), "2100-07-01 08:00 EDT");
    CHECK_STR(format(zone, INT64_C(4102488000), "%Y-%m-%d %H:%M %Z"), "2100-01-01 07:00 EST");
    tz_free(zone);
}

TEST(southern_hemisphere_footer)
{
    char err[256] = "";
    tz_zone *zone = tz_load("Australia/Sydney", err, sizeof err);
    if (!zone)
        FAIL_AT("tz_load: %s", err);
    CHECK_INT(tz_offset(zone, INT64_C(4103654400), NULL), 11 * 3600); /* 2100-01-15 */
    CHECK_INT(tz_offset(zone, INT64_C(4119292800), NULL), 10 * 3600); /* 2100-07-15 */
    tz_free(zone);
}

TEST(fixed_offsets)
{
    static const struct {
        const char *name;
        int32_t offset;
        const char *rendered;
    } cases[] = {
        {"+08:00", 28800, "13:22 +0800 +08"},
        {"+0800", 28800, "13:22 +0800 +08"},
        {"+8", 28800, "13:22 +0800 +08"},
        {"-0530", -19800, "23:52 -0530 -0530"},
        {"-05:30", -19800, "23:52 -0530 -0530"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        tz_zone *zone = tz_load(cases[i].name, err, sizeof err);
        if (!zone)
            FAIL_AT("tz_load(%s): %s", cases[i].name, err);
        int32_t offset = tz_offset(zone, ALERT_EPOCH, NULL);
        char rendered[256];
        snprintf(rendered, sizeof rendered, "%s", format(zone, ALERT_EPOCH, "%H:%M %z %Z"));
        tz_free(zone);
        CHECK_INT(offset, cases[i].offset);
        CHECK_STR(rendered, cases[i].rendered);
    }
}

TEST(bad_names_refused)
{
    static const char *const names[] = {
        "../../etc/passwd", "/etc/localtime", "Asia/../../etc/passwd", "Nowhere/Atlantis",
        "",                 "+25:00",         "+8:5",                  "+123",
        "Asia/Shanghai ",   "-",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char err[256] = "";
        tz_zone *zone = tz_load(names[i], err, sizeof err);
        if (zone) {
            tz_free(zone);
            FAIL_AT("tz_load(\"%s\") accepted", names[i]);
        }
        if (!err[0])
            FAIL_AT("tz_load(\"%s\") gave no message", names[i]);
    }
    char err[256] = "";
    CHECK(tz_load("Nowhere/Atlantis", err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "Nowhere/Atlantis");
}

TEST(local_zone_loads)
{
    char err[256] = "";
    tz_zone *zone = tz_load("Local", err, sizeof err);
    if (!zone)
        FAIL_AT("tz_load(Local): %s", err);
    CHECK_STR(tz_name(zone), "Local");
    tz_free(zone);
}

TEST(format_edges)
{
    char err[256] = "";
    tz_zone *zone = tz_load("Asia/Shanghai", err, sizeof err);
    CHECK(zone != NULL);
    /* "%%z" is a literal "%z", not an offset. */
    CHECK_STR(format(zone, ALERT_EPOCH, "%%z %z"), "%z +0800");
    /* Without %z or %Z the format goes to strftime as it is: "%%z" and
     * "%%Z" are literals there too. */
    CHECK_STR(format(zone, ALERT_EPOCH, "%%z %H:%M"), "%z 13:22");
    CHECK_STR(format(zone, ALERT_EPOCH, "%%%z"), "%+0800");
    CHECK_STR(format(zone, ALERT_EPOCH, "%%Z"), "%Z");
    CHECK_STR(format(zone, ALERT_EPOCH, ""), "");
    char small[8];
    CHECK_INT(tz_format(zone, ALERT_EPOCH, "%Y-%m-%d %H:%M:%S", small, sizeof small), 0);
    CHECK_STR(small, "");
    CHECK_INT(tz_format(zone, INT64_MAX, "%Y", small, sizeof small), 0);
    tz_free(zone);
}

RUN_TESTS(CASE(shanghai), CASE(utc_and_null_zone), CASE(new_york_both_sides_of_dst),
          CASE(southern_hemisphere_footer), CASE(fixed_offsets), CASE(bad_names_refused),
          CASE(local_zone_loads), CASE(format_edges))
