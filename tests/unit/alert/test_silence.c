#include "harness.h"

#include <stdlib.h>

#include "alert/silence.h"

#define HOUR_MS (3600 * 1000LL)
/* 2026-11-21T05:00:00Z */
#define NOW_MS 1795237200000LL

static labelset labels(const char *alertname, const char *instance)
{
    labelset set = {0};
    labelset_set(&set, "alertname", alertname);
    if (instance)
        labelset_set(&set, "instance", instance);
    return set;
}

/* A compiled set of these silences: {id, matchers, starts, ends}. */
static silence_set compile(const silence *items, size_t len)
{
    silence_rows rows = {(silence *)items, len};
    silence_set set;
    silence_set_build(&rows, &set);
    return set;
}

TEST(matching_takes_alertmanager_matchers_and_the_time_window)
{
    const silence items[] = {
        {"s-host", "alertname=\"HostDown\", instance=~\"10.0.0.*\"", NOW_MS, NOW_MS + HOUR_MS,
         "alice", "", NOW_MS},
        {"s-disk", "alertname=DiskFull", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS, "bob", "",
         NOW_MS},
    };
    silence_set set = compile(items, 2);
    CHECK_INT(set.len, 2);
    labelset host = labels("HostDown", "10.0.0.7"), other = labels("HostDown", "110.0.0.7"),
             bare = labels("HostDown", NULL), disk = labels("DiskFull", "db1");
    CHECK_STR(silence_set_match(&set, &host, NOW_MS), "s-host");
    CHECK_STR(silence_set_match(&set, &host, NOW_MS + HOUR_MS - 1), "s-host");
    /* the end is outside the window, and so is before the start */
    CHECK(silence_set_match(&set, &host, NOW_MS + HOUR_MS) == NULL);
    CHECK(silence_set_match(&set, &host, NOW_MS - 1) == NULL);
    /* the regular expression matches the whole value; an absent label is empty */
    CHECK(silence_set_match(&set, &other, NOW_MS) == NULL);
    CHECK(silence_set_match(&set, &bare, NOW_MS) == NULL);
    CHECK(silence_set_match(&set, &disk, NOW_MS) == NULL);
    CHECK_STR(silence_set_match(&set, &disk, NOW_MS + HOUR_MS), "s-disk");
    CHECK(silence_set_match(NULL, &disk, NOW_MS) == NULL);
    labelset_free(&host);
    labelset_free(&other);
    labelset_free(&bare);
    labelset_free(&disk);
    silence_set_free(&set);
}

TEST(a_stored_silence_whose_matchers_no_longer_parse_is_left_out)
{
    const silence items[] = {
        {"bad", "alertname=~\"(\"", NOW_MS, NOW_MS + HOUR_MS, "x", "", NOW_MS},
        {"good", "alertname=A", NOW_MS, NOW_MS + HOUR_MS, "x", "", NOW_MS},
    };
    silence_set set = compile(items, 2);
    CHECK_INT(set.len, 1);
    CHECK_STR(set.items[0].id, "good");
    silence_set_free(&set);
}

TEST(active_is_from_start_until_before_the_end)
{
    silence s = {"id", "alertname=A", NOW_MS, NOW_MS + 10, "x", "", NOW_MS};
    CHECK_INT(silence_active(&s, NOW_MS - 1), 0);
    CHECK_INT(silence_active(&s, NOW_MS), 1);
    CHECK_INT(silence_active(&s, NOW_MS + 9), 1);
    CHECK_INT(silence_active(&s, NOW_MS + 10), 0);
}

static void check_matchers(const char *text, const char *error_needle)
{
    matcher_set set = {0};
    char err[512] = "";
    int rc = silence_matchers_parse(text, &set, err, sizeof err);
    if (!error_needle) {
        CHECK_INT(rc, 0);
        CHECK(set.len > 0);
    } else {
        CHECK_INT(rc, -1);
        CHECK_INT(set.len, 0);
        CHECK_CONTAINS(err, error_needle);
    }
    matchers_free(&set);
}

TEST(matchers_that_match_everything_are_refused)
{
    check_matchers("alertname=HostDown", NULL);
    check_matchers("severity!=\"\"", NULL);
    check_matchers("job=~\".+\", severity!=info", NULL);
    check_matchers("job=~\".*\"", "would silence almost every alert");
    check_matchers("severity!=critical", "would silence almost every alert");
    check_matchers("job=~\".*\", instance=\"\"", "would silence almost every alert");
    check_matchers("", "matchers: no matcher given");
    check_matchers("{}", "matchers: no matcher given");
    check_matchers("alertname=\"A", "matchers: alertname: the quoted value has no closing quote");
}

TEST(the_end_comes_from_a_duration_or_a_time_never_both)
{
    int64_t ends = 0;
    char err[256] = "";
    CHECK_INT(silence_end("2h", NULL, NOW_MS, &silence_cli_words, &ends, err, sizeof err), 0);
    CHECK_INT(ends, NOW_MS + 2 * HOUR_MS);
    CHECK_INT(silence_end(NULL, "2026-11-21T18:00:00+08:00", NOW_MS, &silence_cli_words, &ends,
                          err, sizeof err),
              0);
    CHECK_INT(ends, NOW_MS + 5 * HOUR_MS);
    CHECK_INT(silence_end("2h", "2026-11-21T18:00:00+08:00", NOW_MS, &silence_cli_words, &ends,
                          err, sizeof err),
              -1);
    CHECK_CONTAINS(err, "give either --duration or --until, not both");
    CHECK_INT(silence_end(NULL, NULL, NOW_MS, &silence_api_words, &ends, err, sizeof err), -1);
    CHECK_CONTAINS(err, "(duration, such as 2h) or until when (endsAt");
    CHECK_INT(silence_end("0s", NULL, NOW_MS, &silence_cli_words, &ends, err, sizeof err), -1);
    CHECK_CONTAINS(err, "--duration: expected a positive duration");
    CHECK_INT(silence_end("400d", NULL, NOW_MS, &silence_cli_words, &ends, err, sizeof err), -1);
    CHECK_CONTAINS(err, "longer than a year");
    CHECK_INT(silence_end(NULL, "2026-11-21T04:00:00Z", NOW_MS, &silence_api_words, &ends, err,
                          sizeof err),
              -1);
    CHECK_CONTAINS(err, "endsAt: 2026-11-21T04:00:00Z has already passed");
    CHECK_INT(silence_end(NULL, "tomorrow", NOW_MS, &silence_cli_words, &ends, err, sizeof err),
              -1);
    CHECK_CONTAINS(err, "--until: expected an RFC 3339 time");
}

static int from_json(const char *body, silence *out, char *err, size_t err_cap)
{
    return silence_from_json(body, strlen(body), NOW_MS, out, err, err_cap);
}

TEST(an_api_request_becomes_a_silence_with_a_fresh_id)
{
    silence a, b;
    char err[512] = "";
    const char *body = "{\"matchers\":\"alertname=\\\"HostDown\\\"\",\"duration\":\"90m\","
                       "\"createdBy\":\"alice\",\"comment\":\"rack 3\"}";
    CHECK_INT(from_json(body, &a, err, sizeof err), 0);
    CHECK_INT(from_json(body, &b, err, sizeof err), 0);
    CHECK_STR(a.matchers, "alertname=\"HostDown\"");
    CHECK_INT(a.starts_ms, NOW_MS);
    CHECK_INT(a.ends_ms, NOW_MS + 90 * 60 * 1000);
    CHECK_STR(a.created_by, "alice");
    CHECK_STR(a.comment, "rack 3");
    CHECK_INT(a.created_ms, NOW_MS);
    CHECK_INT(strlen(a.id), SILENCE_ID_SIZE - 1);
    CHECK(a.id[14] == '4'); /* a version 4 UUID */
    CHECK(strcmp(a.id, b.id) != 0);
    silence_free(&a);
    silence_free(&b);

    CHECK_INT(from_json("{\"matchers\":\"alertname=A\",\"endsAt\":\"2026-11-21T06:00:00Z\","
                        "\"createdBy\":\"x\"}",
                        &a, err, sizeof err),
              0);
    CHECK_INT(a.ends_ms, NOW_MS + HOUR_MS);
    CHECK_STR(a.comment, "");
    silence_free(&a);
}

static void check_refused(const char *body, const char *needle)
{
    silence s;
    char err[512] = "";
    CHECK_INT(from_json(body, &s, err, sizeof err), -1);
    CHECK_CONTAINS(err, needle);
    CHECK(s.id == NULL);
}

TEST(a_bad_api_request_names_the_field)
{
    check_refused("{\"matchers\":\"alertname=A\",\"duration\":\"1h\"}", "createdBy: say who");
    check_refused("{\"matchers\":\"alertname=A\",\"duration\":\"1h\",\"createdBy\":\"\"}",
                  "createdBy: say who");
    check_refused("{\"duration\":\"1h\",\"createdBy\":\"x\"}", "matchers: missing");
    check_refused("{\"matchers\":[\"a=b\"],\"duration\":\"1h\",\"createdBy\":\"x\"}",
                  "matchers: expected a string");
    check_refused("{\"matchers\":\"alertname=A\",\"duration\":7200,\"createdBy\":\"x\"}",
                  "duration: expected a string");
    check_refused("{\"matchers\":\"a=b\",\"matchers\":\"c=d\",\"duration\":\"1h\","
                  "\"createdBy\":\"x\"}",
                  "matchers: the key appears twice");
    check_refused("{\"matchers\":\"alertname=A\",", "body: not JSON");
    check_refused("[]", "body: expected a JSON object");
    check_refused("{\"matchers\":\"alertname=A\",\"duration\":\"1h\",\"createdBy\":\"x\","
                  "\"startsAt\":\"2026-11-21T06:00:00Z\"}",
                  "startsAt: not a field of a silence");
    check_refused("{\"matchers\":\"alertname=A\",\"duration\":\"1h\",\"endsAt\":"
                  "\"2026-11-21T06:00:00Z\",\"createdBy\":\"x\"}",
                  "give either duration or endsAt, not both");
}

RUN_TESTS(CASE(matching_takes_alertmanager_matchers_and_the_time_window),
          CASE(a_stored_silence_whose_matchers_no_longer_parse_is_left_out),
          CASE(active_is_from_start_until_before_the_end),
          CASE(matchers_that_match_everything_are_refused),
          CASE(the_end_comes_from_a_duration_or_a_time_never_both),
          CASE(an_api_request_becomes_a_silence_with_a_fresh_id),
          CASE(a_bad_api_request_names_the_field))
