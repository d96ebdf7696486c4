/* /metrics: the totals and the per-receiver outcome families. */
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
    metrics_render(&out);
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

RUN_TESTS(CASE(receiver_outcomes_are_counted_per_receiver_and_in_the_totals))
