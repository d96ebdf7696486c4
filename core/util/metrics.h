/* Process-wide counters, exposed as Prometheus text on GET /metrics. */
#ifndef HERALD_METRICS_H
#define HERALD_METRICS_H

#include "util/strbuf.h"

typedef enum metric {
    METRIC_REQUESTS_ACCEPTED,
    METRIC_REQUESTS_REJECTED,
    METRIC_REQUESTS_UNAVAILABLE,
    METRIC_REQUESTS_UNAUTHORIZED,
    METRIC_ALERTS_RECEIVED,
    METRIC_ALERTS_MUTED,
    METRIC_ROUTE_ERRORS,
    METRIC_TEMPLATE_ERRORS,
    METRIC_NOTIFICATIONS_QUEUED,
    METRIC_DUPLICATES,
    METRIC_DELIVERIES_OK,
    METRIC_DELIVERY_RETRIES,
    METRIC_DEAD_LETTERS,
    METRIC_RELOADS_OK,
    METRIC_RELOADS_FAILED,
    METRIC_COUNT
} metric;

void metrics_count(metric m);
/* A delivery outcome (METRIC_DELIVERIES_OK, METRIC_DELIVERY_RETRIES or
 * METRIC_DEAD_LETTERS): counted in the total and for the receiver. */
void metrics_count_receiver(metric m, const char *receiver);
void metrics_add(metric m, unsigned long long n);
unsigned long long metrics_get(metric m);
/* Appends every counter in the Prometheus text format, the per-receiver
 * ones as herald_receiver_*{receiver="..."}. */
void metrics_render(strbuf *out);

#endif
