/* Process-wide counters, exposed as Prometheus text on GET /metrics. */
#ifndef HERALD_METRICS_H
#define HERALD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

typedef enum metric {
    METRIC_REQUESTS_ACCEPTED,
    METRIC_REQUESTS_REJECTED,
    METRIC_REQUESTS_UNAVAILABLE,
    METRIC_REQUESTS_UNAUTHORIZED,
    METRIC_ALERTS_RECEIVED,
    METRIC_ALERTS_MUTED,
    METRIC_ALERTS_SILENCED,
    METRIC_ALERTS_ACKNOWLEDGED,
    METRIC_ROUTE_ERRORS,
    METRIC_TEMPLATE_ERRORS,
    METRIC_NOTIFICATIONS_QUEUED,
    METRIC_DUPLICATES,
    METRIC_REPEATS,
    METRIC_DELIVERIES_OK,
    METRIC_DELIVERY_RETRIES,
    METRIC_DEAD_LETTERS,
    METRIC_RELOADS_OK,
    METRIC_RELOADS_FAILED,
    METRIC_CONNECTIONS_REFUSED_PER_ADDRESS,
    METRIC_CONNECTIONS_REFUSED_LIMIT,
    METRIC_CONNECTIONS_HEAD_OVERDUE,
    METRIC_CONNECTIONS_BODY_OVERDUE,
    METRIC_COUNT
} metric;

void metrics_count(metric m);
/* A delivery outcome (METRIC_DELIVERIES_OK, METRIC_DELIVERY_RETRIES or
 * METRIC_DEAD_LETTERS): counted in the total and for the receiver. */
void metrics_count_receiver(metric m, const char *receiver);
void metrics_add(metric m, unsigned long long n);
unsigned long long metrics_get(metric m);
/* Levels read when /metrics is asked for. The caller fills them (from
 * outbox_get_stats), so util/ knows nothing of delivery. */
typedef struct metrics_gauges {
    size_t outbox_queued;
    size_t outbox_in_flight;
    size_t connections_open;
    int64_t oldest_waiting_age_ms; /* 0: nothing waits */
} metrics_gauges;

/* A notification delivered `latency_ms` after it was accepted: observed
 * in herald_delivery_latency_seconds for its receiver. */
void metrics_observe_delivery(const char *receiver, int64_t latency_ms);

/* The last reload (the first load at start included): whether it
 * succeeded, and the time of the last one that did. */
void metrics_reload_result(int ok, int64_t at_ms);

/* The dead letters the store holds, as its writer counted them last. */
void metrics_set_dead_letters(long long count);

/* A service paused a target (named by its digest) until `until_ms`; the
 * gauge counts the targets whose pause is still running. */
void metrics_target_paused(const char *target, int64_t until_ms);
/* An operator cleared the target's pause. */
void metrics_target_unpaused(const char *target);

/* The live replicas on the store, as the last heartbeat saw them, and
 * whether they serve different configurations. */
void metrics_set_replicas(long long live, int config_mismatch);

/* The silences active now, as the daemon last read them. */
void metrics_set_silences_active(long long count);

/* The store's writes fail for want of space (1) or not (0): a gauge. */
void metrics_set_store_disk_full(int full);

/* Appends build info, every counter in the Prometheus text format
 * (counters that differ by a label form one family), the per-receiver
 * ones as herald_receiver_*{receiver="..."} and the latency histogram,
 * then the gauges and the process metrics. */
void metrics_render(strbuf *out, const metrics_gauges *gauges);

#endif
