#include "metrics.h"

#include <stdatomic.h>

static atomic_ullong counters[METRIC_COUNT];

static const struct {
    const char *name;
    const char *help;
} descriptions[METRIC_COUNT] = {
    [METRIC_REQUESTS_ACCEPTED] = {"herald_requests_accepted_total", "Ingest requests answered 200."},
    [METRIC_REQUESTS_REJECTED] = {"herald_requests_rejected_total", "Ingest requests answered 4xx."},
    [METRIC_REQUESTS_UNAVAILABLE] = {"herald_requests_unavailable_total", "Ingest requests answered 503 (queue full)."},
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
};

void metrics_count(metric m) { atomic_fetch_add(&counters[m], 1); }

void metrics_add(metric m, unsigned long long n) { atomic_fetch_add(&counters[m], n); }

unsigned long long metrics_get(metric m) { return atomic_load(&counters[m]); }

void metrics_render(strbuf *out)
{
    for (int m = 0; m < METRIC_COUNT; m++)
        sb_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", descriptions[m].name,
                  descriptions[m].help, descriptions[m].name, descriptions[m].name,
                  metrics_get((metric)m));
}
