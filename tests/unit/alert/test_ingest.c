#include "harness.h"
#include "util/units.h"

#include "alert/alert.h"
#include "alert/ingest.h"
#include "testutil.h"
#include "util/clock.h"

static char *fixture(const char *name, size_t *len)
{
    strbuf path = STRBUF_INIT;
    sb_printf(&path, "%s/tests/fixtures/%s", SOURCE_ROOT, name);
    char *text = test_read(sb_str(&path), len);
    sb_free(&path);
    return text;
}

static int parse(const char *json, alert_batch *b, char *err, size_t cap)
{
    return ingest_alertmanager(json, strlen(json), b, err, cap);
}

TEST(fixture_firing_1)
{
    size_t len;
    char *json = fixture("am-firing-1.json", &len);
    alert_batch b;
    char err[256];
    int rc = ingest_alertmanager(json, len, &b, err, sizeof err);
    free(json);
    CHECK_INT(rc, 0);
    CHECK_INT(b.len, 1);
    CHECK_INT(b.status, ALERT_FIRING);
    CHECK_STR(b.am_receiver, "capture");
    CHECK_STR(b.external_url, "http://vm:19093");
    CHECK_STR(b.alerts[0].fingerprint, "60f314997491ddb1");
    CHECK_STR(labelset_get(&b.alerts[0].labels, "instance"), "10.0.0.11:9100");
    CHECK_CONTAINS(labelset_get(&b.alerts[0].annotations, "description"), "CPU load is > 80%");
    CHECK_INT(b.alerts[0].ends_at, 0); /* Alertmanager's zero time */
    /* 2026-11-21T05:22:46.39Z */
    CHECK(b.alerts[0].starts_at > 1795238566.38 && b.alerts[0].starts_at < 1795238566.40);
    CHECK_STR(labelset_get(&b.group_labels, "alertname"), "InstanceDown");
    CHECK_STR(labelset_get(&b.common_labels, "severity"), "critical");
    alert_batch_free(&b);
}

TEST(every_fixture_parses)
{
    static const struct {
        const char *name;
        size_t alerts;
        alert_status status;
    } fixtures[] = {{"am-firing-1.json", 1, ALERT_FIRING},
                    {"am-firing-5.json", 5, ALERT_FIRING},
                    {"am-resolved-1.json", 1, ALERT_RESOLVED},
                    {"am-resolved-5.json", 5, ALERT_RESOLVED}};
    for (size_t i = 0; i < 4; i++) {
        size_t len;
        char *json = fixture(fixtures[i].name, &len);
        alert_batch b;
        char err[256];
        int rc = ingest_alertmanager(json, len, &b, err, sizeof err);
        free(json);
        if (rc)
            FAIL_AT("%s: %s", fixtures[i].name, err);
        CHECK_INT(b.len, fixtures[i].alerts);
        CHECK_INT(b.status, fixtures[i].status);
        for (size_t a = 0; a < b.len; a++) {
            CHECK_INT(b.alerts[a].status, fixtures[i].status);
            CHECK(b.alerts[a].starts_at > 0);
            if (fixtures[i].status == ALERT_RESOLVED)
                CHECK(b.alerts[a].ends_at > b.alerts[a].starts_at);
            /* Our fingerprint is Alertmanager's. */
            char computed[17];
            alert_fingerprint(&b.alerts[a].labels, computed);
            CHECK_STR(computed, b.alerts[a].fingerprint);
        }
        alert_batch_free(&b);
    }
}

TEST(unknown_fields_and_grafana_superset_accepted)
{
    const char *json =
        "{\"receiver\":\"x\",\"status\":\"firing\",\"orgId\":1,\"title\":\"[FIRING:1]\","
        "\"state\":\"alerting\",\"message\":\"m\",\"notification_reason\":\"new\","
        "\"routeLabels\":{\"a\":\"b\"},\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\"},"
        "\"annotations\":{},\"startsAt\":\"2026-01-01T00:00:00+08:00\",\"values\":{\"B\":1.5},"
        "\"dashboardURL\":\"http://g/d\",\"silenceURL\":\"\",\"valueString\":\"x\"}],\"version\":\"1\"}";
    alert_batch b;
    char err[256];
    if (parse(json, &b, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(b.len, 1);
    CHECK_INT((long long)b.alerts[0].starts_at, 1767196800); /* 2025-12-31T16:00:00Z */
    /* No fingerprint in the payload: computed. */
    CHECK_INT(strlen(b.alerts[0].fingerprint), 16);
    /* commonLabels absent: computed from the alerts. */
    CHECK_STR(labelset_get(&b.common_labels, "alertname"), "A");
    /* Grafana's fields are kept for the templates. */
    CHECK_STR(labelset_get(&b.grafana, "title"), "[FIRING:1]");
    CHECK_STR(labelset_get(&b.grafana, "message"), "m");
    CHECK_STR(labelset_get(&b.grafana, "state"), "alerting");
    CHECK_STR(labelset_get(&b.alerts[0].grafana, "dashboardURL"), "http://g/d");
    CHECK_STR(labelset_get(&b.alerts[0].grafana, "silenceURL"), "");
    CHECK_STR(labelset_get(&b.alerts[0].grafana, "valueString"), "x");
    CHECK(labelset_get(&b.alerts[0].grafana, "panelURL") == NULL);
    CHECK_INT(b.alerts[0].values_len, 1);
    CHECK_STR(b.alerts[0].values[0].name, "B");
    CHECK(b.alerts[0].values[0].value == 1.5);
    alert_batch_free(&b);
}

TEST(grafana_fields_of_the_wrong_type_are_named)
{
    static const struct {
        const char *alert_fields;
        const char *error;
    } cases[] = {
        {"\"values\":[1]", "alerts[0].values: expected an object of numbers, got an array"},
        {"\"values\":{\"B\":\"1\"}", "alerts[0].values.B: expected a number, got a string"},
        {"\"imageURL\":5", "alerts[0].imageURL: expected a string, got a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"alerts\":[{\"labels\":{\"a\":\"b\"},%s}]}",
                 cases[i].alert_fields);
        alert_batch b;
        char err[256] = "";
        CHECK_INT(parse(json, &b, err, sizeof err), -1);
        CHECK_STR(err, cases[i].error);
    }
    alert_batch b;
    char err[256] = "";
    CHECK_INT(parse("{\"message\":{},\"alerts\":[]}", &b, err, sizeof err), -1);
    CHECK_STR(err, "message: expected a string, got an object");
}

TEST(receiver_regex_quoting_removed)
{
    alert_batch b;
    char err[256];
    if (parse("{\"receiver\":\"team\\\\.a\",\"alerts\":[{\"labels\":{\"alertname\":\"A\"}}]}", &b,
              err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_STR(b.am_receiver, "team.a");
    alert_batch_free(&b);
}

TEST(errors_name_the_field)
{
    static const struct {
        const char *json;
        const char *error;
    } cases[] = {
        {"{\"alerts\":[", "body: malformed JSON at byte 10"},
        {"", "body: malformed JSON at byte 0"},
        /* a second value would be lost behind a 200 */
        {"{\"alerts\":[]} {\"alerts\":[]}", "body: malformed JSON at byte 14"},
        {"{\"alerts\":[]}\n garbage", "body: malformed JSON at byte 15"},
        /* JSON is UTF-8: a stray byte, an overlong form, a surrogate */
        {"{\"alerts\":[{\"labels\":{\"a\":\"\xff\"}}]}", "body: not valid UTF-8 at byte 27"},
        {"{\"alerts\":[{\"labels\":{\"a\":\"\xc0\xaf\"}}]}", "body: not valid UTF-8 at byte 27"},
        {"{\"alerts\":[{\"labels\":{\"a\":\"\xed\xa0\x80\"}}]}", "body: not valid UTF-8 at byte 27"},
        /* cJSON would end the string at the NUL and drop the rest */
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\\u0000hidden\"}}]}",
         "body: \\u0000 at byte 28: a NUL character cannot be carried in a text"},
        {"{\"alerts\":[{\"labels\":{\"a\\u0000\":\"b\"}}]}", "body: \\u0000 at byte 24"},
        /* which of two equal keys would win is a guess */
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\",\"a\":\"c\"}}]}",
         "alerts[0].labels.a: the key appears twice"},
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\"},\"annotations\":{\"s\":\"1\",\"s\":\"1\"}}]}",
         "alerts[0].annotations.s: the key appears twice"},
        /* at every level: a second "alerts" would be ignored behind a 200 */
        {"{\"alerts\":[],\"alerts\":[{\"labels\":{\"a\":\"b\"}}]}",
         "alerts: the key appears twice"},
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\"},\"status\":\"firing\",\"status\":\"resolved\"}]}",
         "alerts[0].status: the key appears twice"},
        {"{\"alerts\":[],\"x\":{\"y\":[1,{\"\":0,\"\":1}]}}", "x.y[1].\"\": the key appears twice"},
        {"{\"\x01\":[{\"endsAt\":\"\",\"endsAt\":\"\"}]}", "\"\\u0001\"[0].endsAt: the key appears twice"},
        {"[]", "body: expected an Alertmanager webhook object, got an array"},
        {"{}", "alerts: missing"},
        {"{\"alerts\":{}}", "alerts: expected an array, got an object"},
        {"{\"alerts\":[1]}", "alerts[0]: expected an object, got a number"},
        {"{\"alerts\":[{}]}", "alerts[0].labels: missing"},
        {"{\"alerts\":[{\"labels\":{}}]}", "alerts[0].labels: must not be empty"},
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\"}},{\"labels\":{\"severity\":3}}]}",
         "alerts[1].labels.severity: expected a string, got a number"},
        /* the index's digits in order */
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\"}},{\"labels\":{\"a\":\"b\"}},"
         "{\"labels\":{\"a\":\"b\"}},{\"labels\":{\"a\":\"b\"}},{\"labels\":{\"a\":\"b\"}},"
         "{\"labels\":{\"a\":\"b\"}},{\"labels\":{\"a\":\"b\"}},{\"labels\":{\"a\":\"b\"}},"
         "{\"labels\":{\"a\":\"b\"}},{\"labels\":{\"a\":\"b\"}},{\"labels\":{\"a\":\"b\"}},"
         "{\"labels\":{\"a\":\"b\"}},{\"labels\":{\"a\":\"b\"}},{\"labels\":{\"x\":1}}]}",
         "alerts[13].labels.x: expected a string, got a number"},
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\"},\"annotations\":[]}]}",
         "alerts[0].annotations: expected an object, got an array"},
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\"},\"status\":\"burning\"}]}",
         "alerts[0].status: expected \"firing\" or \"resolved\", got \"burning\""},
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\"},\"startsAt\":\"yesterday\"}]}",
         "alerts[0].startsAt: \"yesterday\" is not an RFC 3339 time"},
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\"},\"endsAt\":5}]}",
         "alerts[0].endsAt: expected an RFC 3339 time string, got a number"},
        {"{\"alerts\":[],\"status\":1}", "status: expected \"firing\" or \"resolved\", got a number"},
        {"{\"alerts\":[],\"commonLabels\":\"x\"}", "commonLabels: expected an object, got a string"},
        {"{\"alerts\":[],\"truncatedAlerts\":-1}", "truncatedAlerts: expected a number from 0"},
        {"{\"alerts\":[],\"truncatedAlerts\":1e300}", "truncatedAlerts: expected a number from 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        alert_batch b;
        char err[256] = "";
        if (parse(cases[i].json, &b, err, sizeof err) == 0) {
            alert_batch_free(&b);
            FAIL_AT("accepted %s", cases[i].json);
        }
        CHECK_CONTAINS(err, cases[i].error);
    }
}

/* A bad time or status is quoted up to a whole character: here the
 * three bytes of 告 straddle the quote's limit, after text of words. */
TEST(a_quoted_value_is_cut_before_a_character)
{
    static const struct {
        const char *member;
        size_t limit; /* what the message quotes at most */
    } cases[] = {{"startsAt", 64}, {"status", 32}};
    static const char words[] = "yesterday ";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[64];
        size_t len = cases[i].limit - 2; /* 告 starts here and ends past the limit */
        for (size_t k = 0; k < len; k++)
            text[k] = words[k % (sizeof words - 1)];
        text[len] = '\0';
        char body[256], quoted[80], err[256] = "";
        snprintf(body, sizeof body, "{\"alerts\":[{\"labels\":{\"a\":\"b\"},\"%s\":\"%s告z\"}]}",
                 cases[i].member, text);
        snprintf(quoted, sizeof quoted, "\"%s\"", text);
        alert_batch b;
        if (parse(body, &b, err, sizeof err) == 0) {
            alert_batch_free(&b);
            FAIL_AT("accepted %s", body);
        }
        CHECK_CONTAINS(err, quoted);
    }
}

TEST(escaped_backslash_before_u0000_is_text)
{
    /* "\\u0000" in JSON is a backslash followed by the text u0000 */
    alert_batch b;
    char err[256] = "";
    if (parse("{\"alerts\":[{\"labels\":{\"path\":\"C:\\\\u0000\\\\x\"}}]}", &b, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_STR(labelset_get(&b.alerts[0].labels, "path"), "C:\\u0000\\x");
    alert_batch_free(&b);
}

TEST(empty_alert_list_is_valid)
{
    alert_batch b;
    char err[256];
    CHECK_INT(parse("{\"alerts\":[]}", &b, err, sizeof err), 0);
    CHECK_INT(b.len, 0);
    alert_batch_free(&b);
}

TEST(prometheus_alert_list)
{
    const char *json = "[{\"labels\":{\"alertname\":\"Up\",\"job\":\"a\"}},"
                       "{\"labels\":{\"alertname\":\"Up\",\"job\":\"b\"},\"startsAt\":\"2026-11-21T00:00:00Z\","
                       "\"endsAt\":\"2026-11-21T01:00:00Z\"},"
                       "{\"labels\":{\"alertname\":\"Up\",\"job\":\"c\"},\"endsAt\":\"2026-11-21T03:00:00Z\"}]";
    double now = 1795226400; /* 2026-11-21T02:00:00Z */
    alert_batch b;
    char err[256];
    if (ingest_prometheus(json, strlen(json), now, &b, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(b.len, 3);
    CHECK_INT(b.alerts[0].status, ALERT_FIRING);   /* no endsAt */
    CHECK_INT(b.alerts[0].starts_at, now);         /* no startsAt: now */
    CHECK_INT(b.alerts[1].status, ALERT_RESOLVED); /* endsAt in the past */
    CHECK_INT(b.alerts[2].status, ALERT_FIRING);   /* endsAt in the future */
    CHECK_INT(b.status, ALERT_FIRING);
    CHECK_STR(labelset_get(&b.common_labels, "alertname"), "Up");
    CHECK(labelset_get(&b.common_labels, "job") == NULL);
    CHECK(strcmp(b.alerts[0].fingerprint, b.alerts[1].fingerprint) != 0);
    alert_batch_free(&b);

    CHECK_INT(ingest_prometheus("{}", 2, now, &b, err, sizeof err), -1);
    CHECK_CONTAINS(err, "body: expected an array of alerts, got an object");
    const char *twice = "[{\"labels\":{\"a\":\"b\"},\"labels\":{\"a\":\"c\"}}]";
    CHECK_INT(ingest_prometheus(twice, strlen(twice), now, &b, err, sizeof err), -1);
    CHECK_CONTAINS(err, "alerts[0].labels: the key appears twice");
    CHECK_INT(ingest_prometheus("[{\"labels\":{\"a\":1}}]", 20, now, &b, err, sizeof err), -1);
    CHECK_CONTAINS(err, "alerts[0].labels.a: expected a string");
}

/* The same alert whatever the case of its fingerprint's hex digits, so
 * dedup and the history see one alert (found by tests/unit/fuzz/test_fuzz.c). */
TEST(fingerprint_in_capitals_is_the_same_alert)
{
    static const char json[] =
        "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\"},"
        "\"fingerprint\":\"CE1F09905C578A96\"}]}";
    alert_batch b;
    char err[256];
    if (ingest_alertmanager(json, strlen(json), &b, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_STR(b.alerts[0].fingerprint, "ce1f09905c578a96");
    alert_batch_free(&b);
}

/* A webhook alert without startsAt started when it arrived, not in 1970
 * (a template would show 1970-01-01). */
TEST(webhook_alert_without_start_starts_now)
{
    static const char json[] =
        "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\"}}]}";
    alert_batch b;
    char err[256];
    /* The clock ingest reads. time() reads the coarse clock, which just
     * after a second begins may still show the second before. */
    double before = (double)wall_ms() / 1000.0;
    if (ingest_alertmanager(json, strlen(json), &b, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK(b.alerts[0].starts_at >= before && b.alerts[0].starts_at <= (double)wall_ms() / 1000.0);
    alert_batch_free(&b);
}

TEST(ingest_any_tells_formats_apart)
{
    alert_batch b;
    char err[256];
    const char *list = "  [{\"labels\":{\"a\":\"b\"}}]";
    CHECK_INT(ingest_any(list, strlen(list), 0, &b, err, sizeof err), 0);
    CHECK_INT(b.len, 1);
    alert_batch_free(&b);
    CHECK_INT(ingest_any("{\"alerts\":[]}", 13, 0, &b, err, sizeof err), 0);
    alert_batch_free(&b);
}

TEST(rfc3339)
{
    double t;
    CHECK_INT(parse_rfc3339("2026-11-21T05:22:46Z", &t), 0);
    CHECK_INT((long long)t, 1795238566);
    CHECK_INT(parse_rfc3339("2026-11-21T13:22:46+08:00", &t), 0);
    CHECK_INT((long long)t, 1795238566);
    CHECK_INT(parse_rfc3339("2026-11-21T05:22:46.755Z", &t), 0);
    CHECK(t > 1795238566.75 && t < 1795238566.76);
    CHECK_INT(parse_rfc3339("0001-01-01T00:00:00Z", &t), 0);
    CHECK_INT(t, 0);
    CHECK_INT(parse_rfc3339("2026-11-21", &t), -1);
    CHECK_INT(parse_rfc3339("2026-13-21T05:22:46Z", &t), -1);
    CHECK_INT(parse_rfc3339("2026-11-21T05:22:46", &t), -1);
    CHECK_INT(parse_rfc3339("2026-11-21T05:22:46Zjunk", &t), -1);
    char text[RFC3339_MS_SIZE];
    format_rfc3339_ms(1795238566390LL, text, sizeof text);
    CHECK_STR(text, "2026-11-21T05:22:46.390Z");
    format_rfc3339_ms(1795238566005LL, text, sizeof text);
    CHECK_STR(text, "2026-11-21T05:22:46.005Z");
    format_rfc3339_ms(-1, text, sizeof text);
    CHECK_STR(text, "1969-12-31T23:59:59.999Z");
    /* dates that do not exist are refused, not rolled over */
    CHECK_INT(parse_rfc3339("2026-02-31T00:00:00Z", &t), -1);
    CHECK_INT(parse_rfc3339("2026-02-29T00:00:00Z", &t), -1);
    CHECK_INT(parse_rfc3339("2028-02-29T00:00:00Z", &t), 0);
    CHECK_INT(parse_rfc3339("2026-04-31T00:00:00Z", &t), -1);
    CHECK_INT(parse_rfc3339("2026-11-21T05:22:46+99:99", &t), -1);
}

/* Labels stay sorted, and setting a label again replaces its value, even
 * with its own value or a longer one. */
TEST(labelset_set_keeps_order_and_replaces)
{
    labelset set = {0};
    labelset_set(&set, "severity", "warning");
    labelset_set(&set, "alertname", "Disk");
    labelset_set(&set, "instance", "db1");
    labelset_set(&set, "severity", labelset_get(&set, "severity"));
    labelset_set(&set, "instance", "db1.example.org:9100");
    CHECK_INT(set.len, 3);
    CHECK_STR(set.items[0].name, "alertname");
    CHECK_STR(set.items[1].name, "instance");
    CHECK_STR(set.items[1].value, "db1.example.org:9100");
    CHECK_STR(set.items[2].name, "severity");
    CHECK_STR(labelset_get(&set, "severity"), "warning");
    CHECK(labelset_get(&set, "env") == NULL);
    labelset_free(&set);
    CHECK_INT(set.len, 0);
}

/* A set filled at once is sorted as labelset_set keeps it, and takes
 * replacements and new labels after; freeing it frees each kind of text
 * once (the ASan build would see a leak or a double free). */
TEST(labelset_filled_at_once_sorts_and_takes_changes)
{
    static const char *const pairs[] = {"severity", "warning", "alertname", "Disk",
                                        "instance", "db1"};
    labelset set = {0};
    labelset_fill(&set, pairs, 3);
    CHECK_INT(set.len, 3);
    CHECK_STR(set.items[0].name, "alertname");
    CHECK_STR(set.items[1].name, "instance");
    CHECK_STR(set.items[2].name, "severity");
    CHECK_STR(labelset_get(&set, "instance"), "db1");
    labelset_set(&set, "instance", "db1.example.org:9100");
    labelset_set(&set, "severity", labelset_get(&set, "severity"));
    labelset_set(&set, "env", "prod");
    CHECK_INT(set.len, 4);
    CHECK_STR(set.items[1].name, "env");
    CHECK_STR(labelset_get(&set, "instance"), "db1.example.org:9100");
    CHECK_STR(labelset_get(&set, "severity"), "warning");
    CHECK_STR(labelset_get(&set, "alertname"), "Disk");
    for (size_t i = 0; i < set.len; i++) /* the lengths Lua and the JSON take */
        CHECK(set.items[i].name_len == strlen(set.items[i].name) &&
              set.items[i].value_len == strlen(set.items[i].value));
    labelset_free(&set);
    CHECK_INT(set.len, 0);
    labelset_fill(&set, pairs, 0);
    CHECK(set.len == 0 && set.items == NULL);
}

RUN_TESTS(CASE(fixture_firing_1), CASE(labelset_set_keeps_order_and_replaces),
          CASE(labelset_filled_at_once_sorts_and_takes_changes),
          CASE(grafana_fields_of_the_wrong_type_are_named), CASE(every_fixture_parses),
          CASE(fingerprint_in_capitals_is_the_same_alert),
          CASE(webhook_alert_without_start_starts_now),
          CASE(unknown_fields_and_grafana_superset_accepted), CASE(receiver_regex_quoting_removed),
          CASE(errors_name_the_field), CASE(a_quoted_value_is_cut_before_a_character),
          CASE(escaped_backslash_before_u0000_is_text),
          CASE(empty_alert_list_is_valid), CASE(prometheus_alert_list),
          CASE(ingest_any_tells_formats_apart), CASE(rfc3339))
