/* A Prometheus histogram of durations, with buckets suited to chat
 * delivery: from a tenth of a second (a local webhook) to five minutes (a
 * robot that was rate-limited or retried). Not thread-safe: the owner
 * (util/metrics.c) holds its lock around every call. */
#ifndef HERALD_HISTOGRAM_H
#define HERALD_HISTOGRAM_H

#include <stdint.h>

#include "util/strbuf.h"

/* The finite upper bounds (0.1 0.25 0.5 1 2.5 5 10 30 60 300 s); +Inf
 * follows them. */
#define HISTOGRAM_BOUNDS 10

typedef struct histogram {
    /* Observations per bucket, not cumulative: counts[i] fell in
     * (bound[i-1], bound[i]]; counts[HISTOGRAM_BOUNDS] above the largest. */
    unsigned long long counts[HISTOGRAM_BOUNDS + 1];
    /* Milliseconds, so the sum is exact however many are added. */
    unsigned long long sum_ms;
} histogram;

/* Adds one duration; a negative one (the clock was set back) counts as 0. */
void histogram_observe_ms(histogram *h, int64_t ms);

/* Appends NAME_bucket{LABELS,le="…"} (cumulative, ending with +Inf),
 * NAME_sum{LABELS} in seconds and NAME_count{LABELS}. `labels` is the
 * escaped label pairs without braces, e.g. receiver="ops", or "". */
void histogram_render(const histogram *h, strbuf *out, const char *name, const char *labels);

#endif
