/* The store's rows as the API's JSON (api.h): the one place they become
 * JSON, for the API's answers and the CLI's -o json alike. */
#include "http/api.h"

#include <math.h>
#include <string.h>

#include "util/json.h"
#include "util/units.h"

static void text_field(strbuf *out, const char *name, const char *value)
{
    sb_printf(out, ",\"%s\":", name);
    if (value)
        sb_json_string(out, value, strlen(value));
    else
        sb_puts(out, "null");
}

/* Already JSON in the store (labels, mentions): embedded as is. */
static void raw_field(strbuf *out, const char *name, const char *json)
{
    sb_printf(out, ",\"%s\":%s", name, json && json[0] ? json : "null");
}

/* Every time the API answers is RFC 3339 in UTC with milliseconds; 0 (no
 * such time yet) is null. */
static void time_field(strbuf *out, const char *name, int64_t epoch_ms)
{
    char text[RFC3339_MS_SIZE];
    if (!epoch_ms) {
        sb_printf(out, ",\"%s\":null", name);
        return;
    }
    format_rfc3339_ms(epoch_ms, text, sizeof text);
    sb_printf(out, ",\"%s\":\"%s\"", name, text);
}

static void summary_fields(strbuf *out, const queue_row *row)
{
    sb_printf(out, "{\"id\":%llu", (unsigned long long)row->id);
    text_field(out, "receiver", row->receiver);
    text_field(out, "status", row->status);
    sb_printf(out, ",\"alerts\":%lld", (long long)row->alert_count);
    text_field(out, "state", row->state);
    sb_printf(out, ",\"attempts\":%lld", (long long)row->attempts);
    text_field(out, "last_error", row->last_error);
    time_field(out, "created_at", row->created_ms);
    time_field(out, "next_attempt_at", row->next_attempt_ms);
    time_field(out, "finished_at", row->finished_ms);
    text_field(out, "title", row->title);
}

void api_queue_json(const queue_rows *rows, strbuf *out)
{
    sb_putc(out, '[');
    for (size_t i = 0; i < rows->len; i++) {
        if (i)
            sb_putc(out, ',');
        summary_fields(out, &rows->items[i]);
        sb_putc(out, '}');
    }
    sb_putc(out, ']');
}

/* Each attempt, oldest first: when, what came of it, the error (or a
 * drop's reason) and, for a drop, who. Not "attempts": that has always
 * been their number. */
static void attempts_json(const notification_detail *d, strbuf *out)
{
    sb_puts(out, ",\"attempt_history\":[");
    for (size_t i = 0; i < d->attempts_len; i++) {
        const attempt_row *a = &d->attempts[i];
        char at[RFC3339_MS_SIZE];
        format_rfc3339_ms(a->at_ms, at, sizeof at);
        sb_printf(out, "%s{\"at\":\"%s\"", i ? "," : "", at);
        text_field(out, "outcome", a->outcome);
        text_field(out, "detail", a->detail);
        text_field(out, "by", a->actor);
        sb_putc(out, '}');
    }
    sb_putc(out, ']');
}

void api_notification_json(const notification_detail *d, strbuf *out)
{
    summary_fields(out, &d->summary);
    text_field(out, "text", d->text);
    raw_field(out, "mentions", d->mentions_json);
    sb_puts(out, ",\"alerts\":[");
    for (size_t i = 0; i < d->alerts_len; i++) {
        const alert_row *a = &d->alerts[i];
        sb_puts(out, i ? ",{\"fingerprint\":" : "{\"fingerprint\":");
        sb_json_string(out, a->fingerprint, strlen(a->fingerprint));
        text_field(out, "alertname", a->alertname);
        text_field(out, "status", a->status);
        raw_field(out, "labels", a->labels_json);
        sb_putc(out, '}');
    }
    sb_putc(out, ']');
    attempts_json(d, out);
    sb_putc(out, '}');
}

/* The store keeps an alert's own times as Alertmanager sent them, in
 * seconds with a fraction. */
static int64_t seconds_to_ms(double epoch_s)
{
    return (int64_t)llround(epoch_s * 1000);
}

void api_history_json(const history_rows *rows, strbuf *out)
{
    sb_putc(out, '[');
    for (size_t i = 0; i < rows->len; i++) {
        const history_row *h = &rows->items[i];
        sb_printf(out, "%s{\"id\":%lld,\"notification\":%lld,\"fingerprint\":", i ? "," : "",
                  (long long)h->id, (long long)h->notification_id);
        sb_json_string(out, h->fingerprint, strlen(h->fingerprint));
        text_field(out, "alertname", h->alertname);
        text_field(out, "instance", h->instance);
        text_field(out, "severity", h->severity);
        text_field(out, "status", h->status);
        time_field(out, "startsAt", seconds_to_ms(h->starts_at));
        time_field(out, "endsAt", seconds_to_ms(h->ends_at));
        text_field(out, "receiver", h->receiver);
        raw_field(out, "labels", h->labels_json);
        raw_field(out, "annotations", h->annotations_json);
        text_field(out, "result", h->result);
        time_field(out, "created_at", h->created_ms);
        text_field(out, "silenced_by", h->silenced_by);
        sb_putc(out, '}');
    }
    sb_putc(out, ']');
}

void api_top_json(const char *by, const top_rows *rows, strbuf *out)
{
    sb_putc(out, '[');
    for (size_t i = 0; i < rows->len; i++) {
        /* by is a label name (or receiver): nothing in it needs escaping */
        sb_printf(out, "%s{\"%s\":", i ? "," : "", by);
        sb_json_string(out, rows->items[i].value, strlen(rows->items[i].value));
        sb_printf(out, ",\"count\":%lld}", (long long)rows->items[i].count);
    }
    sb_putc(out, ']');
}

void api_alerts_json(const alert_state_rows *rows, strbuf *out)
{
    sb_putc(out, '[');
    for (size_t i = 0; i < rows->len; i++) {
        const alert_state_row *a = &rows->items[i];
        sb_puts(out, i ? ",{\"fingerprint\":" : "{\"fingerprint\":");
        sb_json_string(out, a->fingerprint, strlen(a->fingerprint));
        text_field(out, "alertname", a->alertname);
        text_field(out, "status", a->status);
        raw_field(out, "labels", a->labels_json);
        raw_field(out, "annotations", a->annotations_json);
        time_field(out, "startsAt", seconds_to_ms(a->starts_at));
        time_field(out, "endsAt", seconds_to_ms(a->ends_at));
        time_field(out, "resolved_at", a->resolved_ms);
        time_field(out, "first_seen_at", a->first_seen_ms);
        time_field(out, "last_seen_at", a->last_seen_ms);
        text_field(out, "source", a->source);
        sb_puts(out, ",\"receivers\":[");
        for (size_t k = 0; k < a->receivers_len; k++) {
            const alert_notice *n = &a->receivers[k];
            sb_puts(out, k ? ",{\"receiver\":" : "{\"receiver\":");
            sb_json_string(out, n->receiver, strlen(n->receiver));
            text_field(out, "status", n->status);
            time_field(out, "notified_at", n->notified_ms);
            sb_putc(out, '}');
        }
        sb_putc(out, ']');
        text_field(out, "silenced_by", a->silenced_by);
        sb_puts(out, ",\"acknowledged\":");
        if (a->acknowledged_by) {
            sb_puts(out, "{\"by\":");
            sb_json_string(out, a->acknowledged_by, strlen(a->acknowledged_by));
            time_field(out, "at", a->acknowledged_ms);
            text_field(out, "comment", a->ack_comment);
            sb_putc(out, '}');
        } else {
            sb_puts(out, "null");
        }
        sb_puts(out, ",\"escalated\":");
        if (a->escalated_to) {
            sb_puts(out, "{\"to\":");
            sb_json_string(out, a->escalated_to, strlen(a->escalated_to));
            time_field(out, "at", a->escalated_ms);
            sb_putc(out, '}');
        } else {
            sb_puts(out, "null");
        }
        sb_putc(out, '}');
    }
    sb_putc(out, ']');
}

void api_replicas_json(const replica_rows *rows, strbuf *out)
{
    sb_puts(out, "{\"replicas\":[");
    for (size_t i = 0; i < rows->len; i++) {
        const replica_row *row = &rows->items[i];
        sb_puts(out, i ? ",{\"id\":" : "{\"id\":");
        sb_json_string(out, row->id, strlen(row->id));
        text_field(out, "version", row->version);
        text_field(out, "config_digest", row->config_digest);
        time_field(out, "started_at", row->started_ms);
        time_field(out, "heartbeat_at", row->heartbeat_ms);
        sb_printf(out, ",\"live\":%s,\"self\":%s}", row->live ? "true" : "false",
                  row->self ? "true" : "false");
    }
    sb_printf(out, "],\"configs_differ\":%s}", replica_configs_differ(rows) ? "true" : "false");
}

void api_silence_json(const silence *s, int64_t now_ms, strbuf *out)
{
    sb_puts(out, "{\"id\":");
    sb_json_string(out, s->id, strlen(s->id));
    text_field(out, "matchers", s->matchers);
    text_field(out, "state", silence_active(s, now_ms) ? "active" : "expired");
    time_field(out, "startsAt", s->starts_ms);
    time_field(out, "endsAt", s->ends_ms);
    text_field(out, "createdBy", s->created_by);
    text_field(out, "comment", s->comment);
    time_field(out, "createdAt", s->created_ms);
    sb_putc(out, '}');
}

void api_silences_json(const silence_rows *rows, int64_t now_ms, strbuf *out)
{
    sb_putc(out, '[');
    for (size_t i = 0; i < rows->len; i++) {
        if (i)
            sb_putc(out, ',');
        api_silence_json(&rows->items[i], now_ms, out);
    }
    sb_putc(out, ']');
}

