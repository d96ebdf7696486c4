/* /metrics: the totals, the per-receiver outcome families and the gauges
 * the caller reads. */
#include "harness.h"

#include "util/clock.h"
#include "util/metrics.h"
#include "util/strbuf.h"

TEST(receiver_outcomes_are_counted_per_receiver_and_in_the_totals)
{
    unsigned long long delivered = metrics_get(METRIC_DELIVERIES_OK);
    metrics_count_receiver(METRIC_DELIVERIES_OK, "ops");
    metrics_count_receiver(METRIC_DELIVERIES_OK, "ops");
    metrics_count_receiver(METRIC_DEAD_LETTERS, "db");
    /* a name that needs escaping in a label value */
    metrics_count_receiver(METRIC_DELIVERY_RETRIES, "a\"b\\c\nd");
    CHECK_INT(metrics_get(METRIC_DELIVERIES_OK), delivered + 2);
    strbuf out = STRBUF_INIT;
    metrics_render(&out, &(metrics_gauges){0});
    const char *text = sb_str(&out);
    CHECK_CONTAINS(text, "herald_deliveries_total 2\n");
    CHECK_CONTAINS(text, "# TYPE herald_receiver_deliveries_total counter\n"
                         "herald_receiver_deliveries_total{receiver=\"ops\"} 2\n"
                         "herald_receiver_deliveries_total{receiver=\"db\"} 0\n");
    CHECK_CONTAINS(text, "herald_receiver_dead_letters_total{receiver=\"db\"} 1\n");
    CHECK_CONTAINS(text,
                   "herald_receiver_delivery_retries_total{receiver=\"a\\\"b\\\\c\\nd\"} 1\n");
    sb_free(&out);
}

/* The gauges come after every counter family and the histogram, as they
 * always did; the process metrics end the text. */
TEST(gauges_follow_the_counters)
{
    strbuf out = STRBUF_INIT;
    metrics_render(&out, &(metrics_gauges){.outbox_queued = 7, .outbox_in_flight = 3,
                                           .connections_open = 5,
                                           .oldest_waiting_age_ms = 90250});
    const char *text = sb_str(&out);
    CHECK_CONTAINS(text, "# TYPE herald_outbox_queued gauge\nherald_outbox_queued 7\n");
    CHECK_CONTAINS(text, "# TYPE herald_outbox_in_flight gauge\nherald_outbox_in_flight 3\n");
    CHECK_CONTAINS(text, "# TYPE herald_connections_open gauge\nherald_connections_open 5\n");
    CHECK_CONTAINS(text, "# TYPE herald_store_disk_full gauge\nherald_store_disk_full 0\n");
    CHECK_CONTAINS(text, "# TYPE herald_oldest_waiting_notification_age_seconds gauge\n"
                         "herald_oldest_waiting_notification_age_seconds 90.250\n");
    CHECK(strstr(text, "herald_outbox_queued") > strstr(text, "herald_receiver_dead_letters_total"));
    CHECK(strstr(text, "herald_outbox_queued") > strstr(text, "herald_delivery_latency_seconds"));
    CHECK(strstr(text, "process_start_time_seconds") > strstr(text, "herald_store_disk_full"));
    sb_free(&out);
    metrics_set_store_disk_full(1);
    metrics_render(&out, &(metrics_gauges){0});
    metrics_set_store_disk_full(0);
    CHECK_CONTAINS(sb_str(&out), "\nherald_store_disk_full 1\n");
    sb_free(&out);
}

/* Counters that differ by a label are one family: one HELP and TYPE,
 * then a line per label. */
TEST(labelled_counters_form_one_family)
{
    unsigned long long head = metrics_get(METRIC_CONNECTIONS_HEAD_OVERDUE);
    metrics_count(METRIC_CONNECTIONS_HEAD_OVERDUE);
    strbuf out = STRBUF_INIT;
    metrics_render(&out, &(metrics_gauges){0});
    const char *text = sb_str(&out);
    char want[256];
    snprintf(want, sizeof want,
             "# TYPE herald_connections_overdue_total counter\n"
             "herald_connections_overdue_total{part=\"head\"} %llu\n"
             "herald_connections_overdue_total{part=\"body\"} 0\n",
             head + 1);
    CHECK_CONTAINS(text, want);
    CHECK_CONTAINS(text, "herald_connections_refused_total{reason=\"per_address\"} 0\n"
                         "herald_connections_refused_total{reason=\"limit\"} 0\n");
    const char *help = "# HELP herald_connections_refused_total";
    CHECK(strstr(strstr(text, help) + 1, help) == NULL); /* once */
    sb_free(&out);
}

TEST(build_info_names_the_version)
{
    strbuf out = STRBUF_INIT;
    metrics_render(&out, &(metrics_gauges){0});
    CHECK_CONTAINS(sb_str(&out), "# TYPE herald_build_info gauge\n"
                                 "herald_build_info{version=\"" HERALD_VERSION "\"} 1\n");
    sb_free(&out);
}

/* One histogram per receiver, its label escaped like the counters'. */
TEST(delivery_latency_is_a_histogram_per_receiver)
{
    metrics_observe_delivery("fast", 40);
    metrics_observe_delivery("fast", 60);
    metrics_observe_delivery("slow\"one", 45000);
    strbuf out = STRBUF_INIT;
    metrics_render(&out, &(metrics_gauges){0});
    const char *text = sb_str(&out);
    CHECK_CONTAINS(text, "# TYPE herald_delivery_latency_seconds histogram\n");
    CHECK_CONTAINS(text, "herald_delivery_latency_seconds_bucket{receiver=\"fast\",le=\"0.1\"} 2\n");
    CHECK_CONTAINS(text, "herald_delivery_latency_seconds_sum{receiver=\"fast\"} 0.100\n"
                         "herald_delivery_latency_seconds_count{receiver=\"fast\"} 2\n");
    CHECK_CONTAINS(text, "herald_delivery_latency_seconds_bucket{receiver=\"slow\\\"one\",le=\"30\"} 0\n"
                         "herald_delivery_latency_seconds_bucket{receiver=\"slow\\\"one\",le=\"60\"} 1\n");
    /* a receiver with outcomes but no delivery yet has an empty one */
    CHECK_CONTAINS(text, "herald_delivery_latency_seconds_count{receiver=\"db\"} 0\n");
    sb_free(&out);
}

/* A refused reload leaves the time of the last good one. */
TEST(reload_gauges_keep_the_last_success_time)
{
    metrics_reload_result(1, 1700000000123);
    metrics_reload_result(0, 0);
    strbuf out = STRBUF_INIT;
    metrics_render(&out, &(metrics_gauges){0});
    CHECK_CONTAINS(sb_str(&out), "# TYPE herald_config_last_reload_successful gauge\n"
                                 "herald_config_last_reload_successful 0\n");
    CHECK_CONTAINS(sb_str(&out), "# TYPE herald_config_last_reload_success_timestamp_seconds gauge\n"
                                 "herald_config_last_reload_success_timestamp_seconds 1700000000.123\n");
    sb_reset(&out);
    metrics_reload_result(1, 1700000100000);
    metrics_render(&out, &(metrics_gauges){0});
    CHECK_CONTAINS(sb_str(&out), "herald_config_last_reload_successful 1\n");
    CHECK_CONTAINS(sb_str(&out), "herald_config_last_reload_success_timestamp_seconds 1700000100.000\n");
    sb_free(&out);
}

TEST(dead_letters_are_what_the_store_counted)
{
    metrics_set_dead_letters(3);
    metrics_set_dead_letters(2);
    strbuf out = STRBUF_INIT;
    metrics_render(&out, &(metrics_gauges){0});
    CHECK_CONTAINS(sb_str(&out), "# TYPE herald_dead_letters gauge\nherald_dead_letters 2\n");
    sb_free(&out);
}

/* A target counts while its pause runs; a later pause of the same target
 * is still one target; an ended one is forgotten. */
TEST(paused_targets_count_running_pauses_once_each)
{
    int64_t now = wall_ms();
    metrics_target_paused("aaaa", now + 600000);
    metrics_target_paused("aaaa", now + 900000);
    metrics_target_paused("bbbb", now + 600000);
    metrics_target_paused("cccc", now - 1);
    strbuf out = STRBUF_INIT;
    metrics_render(&out, &(metrics_gauges){0});
    CHECK_CONTAINS(sb_str(&out), "# TYPE herald_paused_targets gauge\nherald_paused_targets 2\n");
    sb_free(&out);
}

RUN_TESTS(CASE(receiver_outcomes_are_counted_per_receiver_and_in_the_totals),
          CASE(labelled_counters_form_one_family), CASE(gauges_follow_the_counters),
          CASE(build_info_names_the_version), CASE(delivery_latency_is_a_histogram_per_receiver),
          CASE(reload_gauges_keep_the_last_success_time),
          CASE(dead_letters_are_what_the_store_counted),
          CASE(paused_targets_count_running_pauses_once_each))
