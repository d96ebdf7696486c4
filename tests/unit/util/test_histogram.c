/* The delivery latency histogram: buckets, exact sums, the text format. */
#include "harness.h"

#include "util/histogram.h"

TEST(observations_land_in_cumulative_buckets_with_an_exact_sum)
{
    histogram h = {0};
    histogram_observe_ms(&h, 100);    /* on a bound: le is inclusive */
    histogram_observe_ms(&h, 101);
    histogram_observe_ms(&h, 2400);
    histogram_observe_ms(&h, 400000); /* beyond the largest bound */
    strbuf out = STRBUF_INIT;
    histogram_render(&h, &out, "x_seconds", "receiver=\"ops\"");
    CHECK_STR(sb_str(&out), "x_seconds_bucket{receiver=\"ops\",le=\"0.1\"} 1\n"
                            "x_seconds_bucket{receiver=\"ops\",le=\"0.25\"} 2\n"
                            "x_seconds_bucket{receiver=\"ops\",le=\"0.5\"} 2\n"
                            "x_seconds_bucket{receiver=\"ops\",le=\"1\"} 2\n"
                            "x_seconds_bucket{receiver=\"ops\",le=\"2.5\"} 3\n"
                            "x_seconds_bucket{receiver=\"ops\",le=\"5\"} 3\n"
                            "x_seconds_bucket{receiver=\"ops\",le=\"10\"} 3\n"
                            "x_seconds_bucket{receiver=\"ops\",le=\"30\"} 3\n"
                            "x_seconds_bucket{receiver=\"ops\",le=\"60\"} 3\n"
                            "x_seconds_bucket{receiver=\"ops\",le=\"300\"} 3\n"
                            "x_seconds_bucket{receiver=\"ops\",le=\"+Inf\"} 4\n"
                            "x_seconds_sum{receiver=\"ops\"} 402.601\n"
                            "x_seconds_count{receiver=\"ops\"} 4\n");
    sb_free(&out);
}

/* A sum of many small durations stays exact: no floating-point drift. */
TEST(the_sum_of_many_observations_is_exact)
{
    histogram h = {0};
    for (int i = 0; i < 1000; i++)
        histogram_observe_ms(&h, 1);
    strbuf out = STRBUF_INIT;
    histogram_render(&h, &out, "x", "");
    CHECK_CONTAINS(sb_str(&out), "\nx_sum 1.000\nx_count 1000\n");
    CHECK_CONTAINS(sb_str(&out), "x_bucket{le=\"0.1\"} 1000\n");
    sb_free(&out);
}

/* The clock set back between accepting and delivering: counted as 0. */
TEST(a_negative_duration_counts_as_zero)
{
    histogram h = {0};
    histogram_observe_ms(&h, -5000);
    strbuf out = STRBUF_INIT;
    histogram_render(&h, &out, "x", "");
    CHECK_CONTAINS(sb_str(&out), "x_bucket{le=\"0.1\"} 1\n");
    CHECK_CONTAINS(sb_str(&out), "x_sum 0.000\n");
    sb_free(&out);
}

RUN_TESTS(CASE(observations_land_in_cumulative_buckets_with_an_exact_sum),
          CASE(the_sum_of_many_observations_is_exact), CASE(a_negative_duration_counts_as_zero))
