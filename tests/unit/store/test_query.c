/* What readers may ask of the store, checked once: the API's and the
 * CLI's texts, their defaults, and the messages each asker gets. */
#include "harness.h"

#include "store/query.h"

#define NOW 1795238566000LL
#define DAY (24LL * 3600 * 1000)

TEST(history_defaults)
{
    history_filter f;
    char err[256];
    CHECK_INT(query_history(&(query_args){0}, QUERY_API, NOW, &f, err, sizeof err), 0);
    CHECK_INT(f.limit, 100);
    CHECK_INT(f.since_ms, 0);
    CHECK_INT(f.until_ms, 0);
    CHECK(f.alertname == NULL && f.receiver == NULL && f.status == NULL);
}

TEST(history_takes_what_is_given)
{
    query_args args = {.alertname = "DiskFull", .receiver = "ops", .status = "resolved",
                       .since = "2h", .until = "1795238566000", .limit = "10000"};
    history_filter f;
    char err[256];
    CHECK_INT(query_history(&args, QUERY_CLI, NOW, &f, err, sizeof err), 0);
    CHECK_STR(f.alertname, "DiskFull");
    CHECK_STR(f.receiver, "ops");
    CHECK_STR(f.status, "resolved");
    CHECK_INT(f.since_ms, NOW - 2 * 3600 * 1000);
    CHECK_INT(f.until_ms, NOW);
    CHECK_INT(f.limit, 10000);
}

TEST(top_defaults_and_keys)
{
    history_top t;
    char err[256];
    CHECK_INT(query_top(&(query_args){0}, QUERY_API, NOW, &t, err, sizeof err), 0);
    CHECK_STR(t.by, "alertname");
    CHECK_INT(t.since_ms, NOW - DAY);
    CHECK_INT(t.limit, 10);
    CHECK_INT(query_top(&(query_args){0}, QUERY_CLI, NOW, &t, err, sizeof err), 0);
    CHECK_INT(t.limit, 100);
    /* any label name, and receiver */
    const char *keys[] = {"alertname", "instance", "severity", "receiver", "project",
                          "_x", "Team_2", "__name__"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        CHECK_INT(query_top(&(query_args){.by = keys[i], .since = "7d", .limit = "3"}, QUERY_API,
                            NOW, &t, err, sizeof err),
                  0);
        CHECK_STR(t.by, keys[i]);
        CHECK_INT(t.since_ms, NOW - 7 * DAY);
        CHECK_INT(t.limit, 3);
    }
}

/* Prometheus's rule, [a-zA-Z_][a-zA-Z0-9_]*: anything else is named back. */
TEST(top_refuses_what_is_not_a_label_name)
{
    const char *bad[] = {"", "2xx", "project-name", "a.b", "label name", "é", "x\"y", "$.a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        history_top t;
        char err[256], want[256];
        CHECK_INT(query_top(&(query_args){.by = bad[i]}, QUERY_API, NOW, &t, err, sizeof err),
                  -1);
        snprintf(want, sizeof want,
                 "by: expected a label name (letters, digits and \"_\", not starting with a "
                 "digit) or \"receiver\", got \"%s\"",
                 bad[i]);
        CHECK_STR(err, want);
        CHECK_INT(query_top(&(query_args){.by = bad[i]}, QUERY_CLI, NOW, &t, err, sizeof err),
                  -1);
        snprintf(want, sizeof want,
                 "--by: expected a label name (letters, digits and _, not starting with a "
                 "digit) or receiver, got \"%s\"",
                 bad[i]);
        CHECK_STR(err, want);
    }
}

/* Each answered row names its number "count": a label of that name
 * would make a row with the key twice. */
TEST(top_refuses_a_label_named_count)
{
    history_top t;
    char err[256];
    CHECK_INT(query_top(&(query_args){.by = "count"}, QUERY_API, NOW, &t, err, sizeof err), -1);
    CHECK_STR(err, "by: a label named \"count\" cannot be counted: each row's number is named "
                   "\"count\"");
    CHECK_INT(query_top(&(query_args){.by = "count"}, QUERY_CLI, NOW, &t, err, sizeof err), -1);
    CHECK_STR(err, "--by: a label named count cannot be counted: each row's number is named "
                   "count");
    CHECK_INT(query_top(&(query_args){.by = "counts"}, QUERY_CLI, NOW, &t, err, sizeof err), 0);
}

TEST(queue_limit)
{
    int limit;
    char err[256];
    CHECK_INT(query_queue(NULL, QUERY_API, &limit, err, sizeof err), 0);
    CHECK_INT(limit, 100);
    CHECK_INT(query_queue("1", QUERY_API, &limit, err, sizeof err), 0);
    CHECK_INT(limit, 1);
    const char *bad[] = {"0", "10001", "abc", "5x", "", "-3"};
    for (int i = 0; i < 6; i++) {
        CHECK_INT(query_queue(bad[i], QUERY_CLI, &limit, err, sizeof err), -1);
        char want[128];
        snprintf(want, sizeof want, "--limit: expected a number from 1 to 10000, got \"%s\"",
                 bad[i]);
        CHECK_STR(err, want);
    }
}

/* The API answers JSON, so it quotes values; the CLI names its options. */
TEST(messages_name_the_parameter_as_each_asker_spells_it)
{
    static const struct {
        query_args args;
        const char *api, *cli;
    } cases[] = {
        {{.limit = "0"}, "limit: expected a number from 1 to 10000, got \"0\"",
         "--limit: expected a number from 1 to 10000, got \"0\""},
        {{.status = "bogus"}, "status: expected \"firing\" or \"resolved\", got \"bogus\"",
         "--status: expected firing or resolved, got \"bogus\""},
        {{.by = "labels{}"},
         "by: expected a label name (letters, digits and \"_\", not starting with a digit) or "
         "\"receiver\", got \"labels{}\"",
         "--by: expected a label name (letters, digits and _, not starting with a digit) or "
         "receiver, got \"labels{}\""},
        {{.since = "yesterday"},
         "since: expected a duration with its unit such as \"24h\", an RFC 3339 time or epoch "
         "milliseconds, got \"yesterday\"",
         "--since/--until: expected a duration with its unit such as 24h, an RFC 3339 time or "
         "epoch milliseconds, got \"yesterday\""},
        {{.until = "3600"},
         "until: expected a duration with its unit such as \"24h\", an RFC 3339 time or epoch "
         "milliseconds, got \"3600\"",
         "--since/--until: expected a duration with its unit such as 24h, an RFC 3339 time or "
         "epoch milliseconds, got \"3600\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        history_filter f;
        history_top t;
        char err[256];
        CHECK_INT(query_history(&cases[i].args, QUERY_API, NOW, &f, err, sizeof err), -1);
        CHECK_STR(err, cases[i].api);
        CHECK_INT(query_top(&cases[i].args, QUERY_CLI, NOW, &t, err, sizeof err), -1);
        CHECK_STR(err, cases[i].cli);
    }
}

/* A typo in a parameter the query does not use is still a typo. */
TEST(every_given_text_is_checked)
{
    history_top t;
    history_filter f;
    char err[256];
    CHECK_INT(query_top(&(query_args){.status = "firin"}, QUERY_CLI, NOW, &t, err, sizeof err),
              -1);
    CHECK_STR(err, "--status: expected firing or resolved, got \"firin\"");
    CHECK_INT(query_history(&(query_args){.by = "host-"}, QUERY_CLI, NOW, &f, err, sizeof err),
              -1);
    CHECK_STR(err, "--by: expected a label name (letters, digits and _, not starting with a "
                   "digit) or receiver, got \"host-\"");
}

RUN_TESTS(CASE(history_defaults), CASE(history_takes_what_is_given), CASE(top_defaults_and_keys),
          CASE(top_refuses_what_is_not_a_label_name), CASE(top_refuses_a_label_named_count),
          CASE(queue_limit), CASE(messages_name_the_parameter_as_each_asker_spells_it),
          CASE(every_given_text_is_checked))
