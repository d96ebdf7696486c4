#include "util/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/histogram.h"
#include "util/log.h"
#include "util/process_stats.h"

static atomic_ullong counters[METRIC_COUNT];

/* Counters of one family (the same name) differ by their label and are
 * listed next to each other. */
static const struct {
    const char *name;
    const char *help;
    const char *label; /* NULL, or the label pair that sets this one apart */
} descriptions[METRIC_COUNT] = {
    [METRIC_REQUESTS_ACCEPTED] = {"herald_requests_accepted_total", "Ingest requests answered 200.", NULL},
    [METRIC_REQUESTS_REJECTED] = {"herald_requests_rejected_total", "Ingest requests answered 4xx.", NULL},
    [METRIC_REQUESTS_UNAVAILABLE] = {"herald_requests_unavailable_total", "Ingest requests answered 503 (queue full, store cannot write, stopping).", NULL},
    [METRIC_REQUESTS_UNAUTHORIZED] = {"herald_requests_unauthorized_total", "Requests answered 401: credentials missing or wrong.", NULL},
    [METRIC_ALERTS_RECEIVED] = {"herald_alerts_received_total", "Alerts in accepted requests.", NULL},
    [METRIC_ALERTS_MUTED] = {"herald_alerts_muted_total", "Alerts the route script sent to no receiver.", NULL},
    [METRIC_ALERTS_SILENCED] = {"herald_alerts_silenced_total", "Alerts held back by a silence: recorded, not routed or delivered.", NULL},
    [METRIC_ALERTS_ACKNOWLEDGED] = {"herald_alerts_acknowledged_total", "Alerts acknowledged through this process's API: no repeats or escalations until they resolve.", NULL},
    [METRIC_ROUTE_ERRORS] = {"herald_route_errors_total", "Route script errors (alert sent to the default receiver).", NULL},
    [METRIC_TEMPLATE_ERRORS] = {"herald_template_errors_total", "Template errors (fallback message sent).", NULL},
    [METRIC_NOTIFICATIONS_QUEUED] = {"herald_notifications_queued_total", "Notifications put in the outbox.", NULL},
    [METRIC_DUPLICATES] = {"herald_notifications_deduplicated_total", "Notifications not stored again: the same one arrived within dedup_window.", NULL},
    [METRIC_REPEATS] = {"herald_notifications_repeated_total", "Notifications not stored: their receiver was told of every alert in them, in the same state, within its repeat_interval.", NULL},
    [METRIC_DELIVERIES_OK] = {"herald_deliveries_total", "Notifications delivered.", NULL},
    [METRIC_DELIVERY_RETRIES] = {"herald_delivery_retries_total", "Delivery attempts that will be retried.", NULL},
    [METRIC_DEAD_LETTERS] = {"herald_dead_letters_total", "Notifications given up on.", NULL},
    [METRIC_RELOADS_OK] = {"herald_reloads_total", "Successful configuration reloads.", NULL},
    [METRIC_RELOADS_FAILED] = {"herald_reload_failures_total", "Refused configuration reloads.", NULL},
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

static atomic_int reload_ok;
static atomic_llong reload_success_ms;

void metrics_reload_result(int ok, int64_t at_ms)
{
    atomic_store(&reload_ok, ok);
    if (ok)
        atomic_store(&reload_success_ms, at_ms);
}

static atomic_llong dead_letters;
static atomic_llong silences_active;

void metrics_set_silences_active(long long count) { atomic_store(&silences_active, count); }

void metrics_set_dead_letters(long long count) { atomic_store(&dead_letters, count); }

/* A herald alone on its store is the one live replica. */
static atomic_llong live_replicas = 1;
static atomic_int replica_config_mismatch;

void metrics_set_replicas(long long live, int config_mismatch)
{
    atomic_store(&live_replicas, live);
    atomic_store(&replica_config_mismatch, config_mismatch);
}

/* Targets a service paused, with the end of the pause: a handful (one per
 * robot the configuration names), each kept until its pause is over. */
typedef struct paused_target {
    char *target;
    int64_t until_ms;
} paused_target;

static pthread_mutex_t paused_lock = PTHREAD_MUTEX_INITIALIZER;
static paused_target *paused;
static size_t paused_len;

/* Caller holds paused_lock. */
static void forget_ended_pauses(int64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < paused_len; i++) {
        if (paused[i].until_ms > now)
            paused[kept++] = paused[i];
        else
            free(paused[i].target);
    }
    paused_len = kept;
}

void metrics_target_paused(const char *target, int64_t until_ms)
{
    pthread_mutex_lock(&paused_lock);
    forget_ended_pauses(wall_ms());
    size_t i = 0;
    while (i < paused_len && strcmp(paused[i].target, target) != 0)
        i++;
    if (i == paused_len) {
        paused = xrealloc(paused, (paused_len + 1) * sizeof *paused);
        paused[i] = (paused_target){.target = xstrdup(target)};
        paused_len++;
    }
    if (until_ms > paused[i].until_ms)
        paused[i].until_ms = until_ms;
    pthread_mutex_unlock(&paused_lock);
}

void metrics_target_unpaused(const char *target)
{
    pthread_mutex_lock(&paused_lock);
    for (size_t i = 0; i < paused_len; i++)
        if (strcmp(paused[i].target, target) == 0)
            paused[i].until_ms = 0; /* ended: forgotten below */
    forget_ended_pauses(wall_ms());
    pthread_mutex_unlock(&paused_lock);
}

static size_t paused_targets_now(void)
{
    pthread_mutex_lock(&paused_lock);
    forget_ended_pauses(wall_ms());
    size_t n = paused_len;
    pthread_mutex_unlock(&paused_lock);
    return n;
}

/* Milliseconds since the epoch as seconds, exactly. */
static void append_ms_as_seconds(strbuf *out, long long ms)
{
    sb_printf(out, "%lld.%03lld\n", ms / 1000, ms % 1000);
}

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
    sb_printf(out, "# HELP herald_config_last_reload_successful Whether the last configuration "
                   "reload attempt was successful.\n"
                   "# TYPE herald_config_last_reload_successful gauge\n"
                   "herald_config_last_reload_successful %d\n"
                   "# HELP herald_config_last_reload_success_timestamp_seconds Timestamp of the "
                   "last successful configuration reload.\n"
                   "# TYPE herald_config_last_reload_success_timestamp_seconds gauge\n"
                   "herald_config_last_reload_success_timestamp_seconds ",
              atomic_load(&reload_ok));
    append_ms_as_seconds(out, atomic_load(&reload_success_ms));
    sb_printf(out, "# HELP herald_dead_letters Notifications in the dead letters now: given up "
                   "on, neither requeued nor dropped.\n"
                   "# TYPE herald_dead_letters gauge\nherald_dead_letters %lld\n",
              atomic_load(&dead_letters));
    sb_printf(out, "# HELP herald_silences_active Silences in force now (herald silence list).\n"
                   "# TYPE herald_silences_active gauge\nherald_silences_active %lld\n",
              atomic_load(&silences_active));
    sb_printf(out, "# HELP herald_paused_targets Targets (robots) their service paused for "
                   "sending too fast, whose pause is still running.\n"
                   "# TYPE herald_paused_targets gauge\nherald_paused_targets %zu\n",
              paused_targets_now());
    sb_printf(out, "# HELP herald_replicas Live herald replicas on this store (their heartbeat "
                   "is recent), this one included.\n"
                   "# TYPE herald_replicas gauge\nherald_replicas %lld\n"
                   "# HELP herald_replica_config_mismatch 1 when live replicas serve different "
                   "configurations.\n"
                   "# TYPE herald_replica_config_mismatch gauge\n"
                   "herald_replica_config_mismatch %d\n",
              atomic_load(&live_replicas), atomic_load(&replica_config_mismatch));
    sb_printf(out, "# HELP herald_oldest_waiting_notification_age_seconds How long the oldest "
                   "notification not yet delivered or given up on has waited since it was "
                   "accepted (0 when none waits).\n"
                   "# TYPE herald_oldest_waiting_notification_age_seconds gauge\n"
                   "herald_oldest_waiting_notification_age_seconds ");
    append_ms_as_seconds(out, gauges->oldest_waiting_age_ms);
}

/* Omitted, with the reason logged, where /proc cannot tell (not Linux). */
static void metrics_render_process(strbuf *out)
{
    process_stats st;
    char err[256];
    if (process_stats_read(&st, err, sizeof err)) {
        log_warn("metrics", "process metrics left out: %s", err);
        return;
    }
    process_stats_render(&st, out);
}

void metrics_render(strbuf *out, const metrics_gauges *gauges)
{
    sb_puts(out, "# HELP herald_build_info The version herald was built from; always 1.\n"
                 "# TYPE herald_build_info gauge\nherald_build_info{version=\"" HERALD_VERSION
                 "\"} 1\n");
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
    metrics_render_process(out);
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
    histogram latency; /* accepted to delivered */
} receiver_counts;

/* Receivers are counted from the first outcome on and kept for the
 * process's life: a counter must not vanish when a reload drops one. */
static pthread_mutex_t receivers_lock = PTHREAD_MUTEX_INITIALIZER;
static receiver_counts *receivers;
static size_t receivers_len;

/* The receiver's entry, added when new; the caller holds receivers_lock. */
static receiver_counts *receiver_entry(const char *receiver)
{
    size_t i = 0;
    while (i < receivers_len && strcmp(receivers[i].name, receiver) != 0)
        i++;
    if (i == receivers_len) {
        receivers = xrealloc(receivers, (receivers_len + 1) * sizeof *receivers);
        receivers[i] = (receiver_counts){.name = xstrdup(receiver)};
        receivers_len++;
    }
    return &receivers[i];
}

void metrics_count_receiver(metric m, const char *receiver)
{
    metrics_count(m);
    size_t family = 0;
    while (family < RECEIVER_FAMILIES && receiver_families[family].total != m)
        family++;
    if (family == RECEIVER_FAMILIES)
        return;
    pthread_mutex_lock(&receivers_lock);
    receiver_entry(receiver)->counts[family]++;
    pthread_mutex_unlock(&receivers_lock);
}

void metrics_observe_delivery(const char *receiver, int64_t latency_ms)
{
    pthread_mutex_lock(&receivers_lock);
    histogram_observe_ms(&receiver_entry(receiver)->latency, latency_ms);
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
    sb_puts(out, "# HELP herald_delivery_latency_seconds From accepting a notification to its "
                 "delivery, by receiver.\n# TYPE herald_delivery_latency_seconds histogram\n");
    strbuf label = STRBUF_INIT;
    for (size_t i = 0; i < receivers_len; i++) {
        sb_reset(&label);
        sb_puts(&label, "receiver=\"");
        append_label_value(&label, receivers[i].name);
        sb_putc(&label, '"');
        histogram_render(&receivers[i].latency, out, "herald_delivery_latency_seconds",
                         sb_str(&label));
    }
    sb_free(&label);
    pthread_mutex_unlock(&receivers_lock);
}
