/* /metrics: the totals, the per-receiver outcome families and the gauges
 * the caller reads. */
#include "harness.h"

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

/* The gauges come last, after every counter family, as they always did. */
TEST(gauges_follow_the_counters)
{
    strbuf out = STRBUF_INIT;
    metrics_render(&out, &(metrics_gauges){.outbox_queued = 7, .outbox_in_flight = 3,
                                           .connections_open = 5});
    const char *text = sb_str(&out);
    CHECK_CONTAINS(text, "# TYPE herald_outbox_queued gauge\nherald_outbox_queued 7\n");
    CHECK_CONTAINS(text, "# TYPE herald_outbox_in_flight gauge\nherald_outbox_in_flight 3\n");
    CHECK_CONTAINS(text, "# TYPE herald_connections_open gauge\nherald_connections_open 5\n");
    const char *disk_full = "# TYPE herald_store_disk_full gauge\nherald_store_disk_full 0\n";
    CHECK_INT(strlen(strstr(text, disk_full)), strlen(disk_full)); /* the end of the text */
    CHECK(strstr(text, "herald_outbox_queued") > strstr(text, "herald_receiver_dead_letters_total"));
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

RUN_TESTS(CASE(receiver_outcomes_are_counted_per_receiver_and_in_the_totals),
          CASE(labelled_counters_form_one_family),
          CASE(gauges_follow_the_counters))
