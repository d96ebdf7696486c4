#include "util/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_ullong counters[METRIC_COUNT];

/* Counters of one family (the same name) differ by their label and are
 * listed next to each other. */
static const struct {
    const char *name;
    const char *help;
    const char *label; /* NULL, or the label pair that sets this one apart */
} descriptions[METRIC_COUNT] = {
    [METRIC_REQUESTS_ACCEPTED] = {"herald_requests_accepted_total", "Ingest requests answered 200."},
    [METRIC_REQUESTS_REJECTED] = {"herald_requests_rejected_total", "Ingest requests answered 4xx."},
    [METRIC_REQUESTS_UNAVAILABLE] = {"herald_requests_unavailable_total", "Ingest requests answered 503 (queue full, store cannot write, stopping)."},
    [METRIC_REQUESTS_UNAUTHORIZED] = {"herald_requests_unauthorized_total", "Requests answered 401: credentials missing or wrong."},
    [METRIC_ALERTS_RECEIVED] = {"herald_alerts_received_total", "Alerts in accepted requests."},
    [METRIC_ALERTS_MUTED] = {"herald_alerts_muted_total", "Alerts the route script sent to no receiver."},
    [METRIC_ROUTE_ERRORS] = {"herald_route_errors_total", "Route script errors (alert sent to the default receiver)."},
    [METRIC_TEMPLATE_ERRORS] = {"herald_template_errors_total", "Template errors (fallback message sent)."},
    [METRIC_NOTIFICATIONS_QUEUED] = {"herald_notifications_queued_total", "Notifications put in the outbox."},
    [METRIC_DUPLICATES] = {"herald_notifications_deduplicated_total", "Notifications not stored again: the same one arrived within dedup_window."},
    [METRIC_DELIVERIES_OK] = {"herald_deliveries_total", "Notifications delivered."},
    [METRIC_DELIVERY_RETRIES] = {"herald_delivery_retries_total", "Delivery attempts that will be retried."},
    [METRIC_DEAD_LETTERS] = {"herald_dead_letters_total", "Notifications given up on."},
    [METRIC_RELOADS_OK] = {"herald_reloads_total", "Successful configuration reloads."},
    [METRIC_RELOADS_FAILED] = {"herald_reload_failures_total", "Refused configuration reloads."},
    [METRIC_CONNECTIONS_REFUSED_PER_ADDRESS] = {"herald_connections_refused_total", "Connections closed as soon as accepted: their address had connections.per_address open (per_address), or herald had connections.max (limit).", "reason=\"per_address\""},
    [METRIC_CONNECTIONS_REFUSED_LIMIT] = {"herald_connections_refused_total", NULL, "reason=\"limit\""},
    [METRIC_CONNECTIONS_HEAD_OVERDUE] = {"herald_connections_overdue_total", "Connections closed because a request's head (connections.head_timeout) or body (connections.body_timeout) was not complete in time.", "part=\"head\""},
    [METRIC_CONNECTIONS_BODY_OVERDUE] = {"herald_connections_overdue_total", NULL, "part=\"body\""},
};

void metrics_count(metric m) { atomic_fetch_add(&counters[m], 1); }

void metrics_add(metric m, unsigned long long n) { atomic_fetch_add(&counters[m], n); }

unsigned long long metrics_get(metric m) { return atomic_load(&counters[m]); }

static atomic_int store_disk_full;

void metrics_set_store_disk_full(int full) { atomic_store(&store_disk_full, full); }

static void metrics_render_receivers(strbuf *out);

static void metrics_render_gauges(strbuf *out, const metrics_gauges *gauges)
{
    sb_printf(out, "# HELP herald_outbox_queued Notifications waiting in the outbox for their "
                   "turn (backoff or arrival).\n"
                   "# TYPE herald_outbox_queued gauge\nherald_outbox_queued %zu\n"
                   "# HELP herald_outbox_in_flight Notifications the dispatcher holds: being "
                   "sent, or waiting for their target (rate limit, pause, a failing "
                   "target ahead of them). Queued plus in flight is the backlog.\n"
                   "# TYPE herald_outbox_in_flight gauge\nherald_outbox_in_flight %zu\n"
                   "# HELP herald_connections_open HTTP connections open now.\n"
                   "# TYPE herald_connections_open gauge\nherald_connections_open %zu\n",
              gauges->outbox_queued, gauges->outbox_in_flight, gauges->connections_open);
    sb_printf(out, "# HELP herald_store_disk_full 1 while the store cannot write for want of "
                   "space: ingest answers 503 until a write succeeds.\n"
                   "# TYPE herald_store_disk_full gauge\nherald_store_disk_full %d\n",
              atomic_load(&store_disk_full));
}

void metrics_render(strbuf *out, const metrics_gauges *gauges)
{
    for (int m = 0; m < METRIC_COUNT; m++) {
        const char *name = descriptions[m].name;
        if (m == 0 || strcmp(name, descriptions[m - 1].name) != 0)
            sb_printf(out, "# HELP %s %s\n# TYPE %s counter\n", name, descriptions[m].help, name);
        if (descriptions[m].label)
            sb_printf(out, "%s{%s} %llu\n", name, descriptions[m].label, metrics_get((metric)m));
        else
            sb_printf(out, "%s %llu\n", name, metrics_get((metric)m));
    }
    metrics_render_receivers(out);
    metrics_render_gauges(out, gauges);
}

/* Outcomes per receiver, a family of their own (herald_receiver_*): one
 * with and without a receiver label would be counted twice by sum(). */
static const struct {
    metric total;
    const char *name;
    const char *help;
} receiver_families[] = {
    {METRIC_DELIVERIES_OK, "herald_receiver_deliveries_total", "Notifications delivered, by receiver."},
    {METRIC_DELIVERY_RETRIES, "herald_receiver_delivery_retries_total", "Delivery attempts that will be retried, by receiver."},
    {METRIC_DEAD_LETTERS, "herald_receiver_dead_letters_total", "Notifications given up on, by receiver."},
};
#define RECEIVER_FAMILIES (sizeof receiver_families / sizeof *receiver_families)

typedef struct receiver_counts {
    char *name;
    unsigned long long counts[RECEIVER_FAMILIES];
} receiver_counts;

/* Receivers are counted from the first outcome on and kept for the
 * process's life: a counter must not vanish when a reload drops one. */
static pthread_mutex_t receivers_lock = PTHREAD_MUTEX_INITIALIZER;
static receiver_counts *receivers;
static size_t receivers_len;

void metrics_count_receiver(metric m, const char *receiver)
{
    metrics_count(m);
    size_t family = 0;
    while (family < RECEIVER_FAMILIES && receiver_families[family].total != m)
        family++;
    if (family == RECEIVER_FAMILIES)
        return;
    pthread_mutex_lock(&receivers_lock);
    size_t i = 0;
    while (i < receivers_len && strcmp(receivers[i].name, receiver) != 0)
        i++;
    if (i == receivers_len) {
        receivers = xrealloc(receivers, (receivers_len + 1) * sizeof *receivers);
        receivers[i] = (receiver_counts){.name = xstrdup(receiver)};
        receivers_len++;
    }
    receivers[i].counts[family]++;
    pthread_mutex_unlock(&receivers_lock);
}

/* A label value in the text format: backslash, quote and newline escaped. */
static void append_label_value(strbuf *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            sb_putc(out, '\\');
        if (*p == '\n')
            sb_puts(out, "\\n");
        else
            sb_putc(out, *p);
    }
}

static void metrics_render_receivers(strbuf *out)
{
    pthread_mutex_lock(&receivers_lock);
    for (size_t f = 0; f < RECEIVER_FAMILIES; f++) {
        sb_printf(out, "# HELP %s %s\n# TYPE %s counter\n", receiver_families[f].name,
                  receiver_families[f].help, receiver_families[f].name);
        for (size_t i = 0; i < receivers_len; i++) {
            sb_printf(out, "%s{receiver=\"", receiver_families[f].name);
            append_label_value(out, receivers[i].name);
            sb_printf(out, "\"} %llu\n", receivers[i].counts[f]);
        }
    }
    pthread_mutex_unlock(&receivers_lock);
}
