/* Quiet hours in the configuration: time_intervals and the receivers'
 * mute_time_intervals, active_time_intervals and muted, validated
 * strictly, each error naming the key. */
#include "harness.h"

#include "config/conf.h"
#include "fixtures.h"

#define RECEIVER "default_receiver = \"console\"\n"

static const char *const night =
    "time_intervals = { night = { { times = { { start_time = \"22:00\", end_time = \"24:00\" },"
    " { start_time = \"00:00\", end_time = \"08:00\" } }, weekdays = { \"monday:friday\" },"
    " location = \"Asia/Shanghai\" } },\n"
    "  weekend = { { weekdays = { \"saturday\", \"sunday\" } } } }\n";

/* Loads night plus `rest`; returns the error ("" when it loaded). */
static const char *load(const fixture *fx, const char *intervals, const char *rest, config *c,
                        char *err, size_t cap)
{
    char body[2048];
    snprintf(body, sizeof body, "%s%s%s", intervals, RECEIVER, rest);
    char *path = fixture_config(fx, NULL, NULL, body);
    err[0] = '\0';
    int rc = config_load(path, c, err, cap);
    free(path);
    if (rc == 0 && strstr(rest, "keep") == NULL)
        config_free(c);
    return err;
}

#define CHECK_LOAD_FAILS(intervals, receivers, expected)                                    \
    do {                                                                                    \
        config c_;                                                                          \
        char err_[1024];                                                                    \
        CHECK_CONTAINS(load(fx, intervals, receivers, &c_, err_, sizeof err_), expected);   \
    } while (0)

FIXTURE_TEST(intervals_and_receivers_load)
{
    config c;
    char err[1024];
    CHECK_STR(load(fx, night,
                   "receivers = { console = { channel = \"console\","
                   " mute_time_intervals = { \"night\", \"weekend\" } },\n"
                   "  day = { channel = \"console\", active_time_intervals = { \"weekend\" },"
                   " muted = \"drop\" } } -- keep\n",
                   &c, err, sizeof err),
              "");
    CHECK_INT(c.time_intervals_len, 2);
    CHECK_STR(c.time_intervals[0].name, "night");
    const time_interval *n = &c.time_intervals[0];
    CHECK_INT(n->len, 1);
    CHECK_INT(n->entries[0].len[INTERVAL_TIMES], 2);
    CHECK_INT(n->entries[0].ranges[INTERVAL_TIMES][0].hi, 1440);
    CHECK_STR(tz_name(n->entries[0].location), "Asia/Shanghai");
    const receiver *console = config_receiver(&c, "console");
    CHECK_INT(console->quiet.mute_len, 2);
    CHECK(console->quiet.mute[1] == &c.time_intervals[1]);
    CHECK_INT(console->quiet.drop, 0);
    const receiver *day = config_receiver(&c, "day");
    CHECK_INT(day->quiet.active_len, 1);
    CHECK_INT(day->quiet.drop, 1);
    config_free(&c);
}

FIXTURE_TEST(errors_name_the_key)
{
    const char *console = "receivers = { console = { channel = \"console\" } }\n";
    CHECK_LOAD_FAILS(night,
                     "receivers = { console = { channel = \"console\","
                     " mute_time_intervals = { \"weekend\", \"nite\" } } }\n",
                     "receivers.console.mute_time_intervals[2]: no time interval \"nite\" in "
                     "time_intervals (have: night, weekend)");
    CHECK_LOAD_FAILS("",
                     "receivers = { console = { channel = \"console\","
                     " active_time_intervals = { \"office\" } } }\n",
                     "receivers.console.active_time_intervals[1]: no time interval \"office\"");
    CHECK_LOAD_FAILS(night,
                     "receivers = { console = { channel = \"console\", muted = \"mute\" } }\n",
                     "receivers.console.muted: expected \"hold\" or \"drop\"");
    CHECK_LOAD_FAILS(night,
                     "receivers = { console = { channel = \"console\", muted = \"drop\" } }\n",
                     "receivers.console.muted: \"drop\" needs mute_time_intervals");
    CHECK_LOAD_FAILS("time_intervals = { n = { { times = { { start_time = \"25:00\","
                     " end_time = \"26:00\" } } } } }\n",
                     console,
                     "time_intervals.n[1].times[1].start_time: \"25:00\" is not a time");
    CHECK_LOAD_FAILS("time_intervals = { n = { { times = { { start_time = \"08:00\","
                     " end_time = \"07:00\" } } } } }\n",
                     console, "time_intervals.n[1].times[1]: start_time 08:00 is not before");
    CHECK_LOAD_FAILS("time_intervals = { n = { { times = { { start_time = \"08:00\" } } } } }\n",
                     console, "time_intervals.n[1].times[1].end_time: missing");
    CHECK_LOAD_FAILS("time_intervals = { n = { { weekdays = { \"friday:monday\" } } } }\n",
                     console,
                     "time_intervals.n[1].weekdays[1]: \"friday:monday\": the range ends before "
                     "it starts");
    CHECK_LOAD_FAILS("time_intervals = { n = { {}, { days_of_month = { \"0\" } } } }\n", console,
                     "time_intervals.n[2].days_of_month[1]: \"0\": expected a day of month");
    CHECK_LOAD_FAILS("time_intervals = { n = { { months = { \"smarch\" } } } }\n", console,
                     "time_intervals.n[1].months[1]: \"smarch\": expected a month");
    CHECK_LOAD_FAILS("time_intervals = { n = { { years = { \"2027:2025\" } } } }\n", console,
                     "time_intervals.n[1].years[1]");
    CHECK_LOAD_FAILS("time_intervals = { n = { { location = \"Mars/Olympus\" } } }\n", console,
                     "time_intervals.n[1].location:");
    CHECK_LOAD_FAILS("time_intervals = { n = { { weekday = { \"monday\" } } } }\n", console,
                     "time_intervals.n[1].weekday: unknown key");
    CHECK_LOAD_FAILS("time_intervals = { n = {} }\n", console,
                     "time_intervals.n: must list at least one interval");
    CHECK_LOAD_FAILS("time_intervals = { n = { weekdays = { \"monday\" } } }\n", console,
                     "time_intervals.n: expected a list of interval tables");
}

RUN_TESTS(CASE(intervals_and_receivers_load), CASE(errors_name_the_key))
