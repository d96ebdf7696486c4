#include "http/api.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/generation.h"
#include "store/query.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/metrics.h"
#include "util/units.h"

/* ---- rows as JSON ------------------------------------------------------- */

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

/* ---- endpoints ---------------------------------------------------------- */

static unsigned fail(strbuf *out, unsigned status, const char *message)
{
    json_error_body(out, message);
    return status;
}

/* A store call's outcome: 0 ok, 1 not found, -1 failed. */
static unsigned store_result(int rc, const char *err, strbuf *out, const char *not_found)
{
    if (rc < 0)
        return fail(out, 500, err);
    if (rc > 0)
        return fail(out, 404, not_found);
    return 200;
}

/* Parses "<id>" or "<id>/<tail>"; returns the tail ("" for none) or NULL. */
static const char *parse_id(const char *text, uint64_t *id)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno || (*end && *end != '/'))
        return NULL;
    *id = v;
    return *end ? end + 1 : end;
}

/* One request's reader and the error it may need. */
typedef struct request {
    const store_location *where;
    const api_query *q;
    strbuf *out;
    store_reader *reader;
    char err[512];
} request;

static int open_reader(request *r)
{
    r->reader = store_reader_open(r->where, r->err,
                                  sizeof r->err);
    return r->reader ? 0 : -1;
}

static unsigned list(request *r, queue_view view)
{
    int limit;
    if (query_queue(r->q->get(r->q->ctx, "limit"), QUERY_API, &limit, r->err, sizeof r->err))
        return fail(r->out, 400, r->err);
    queue_rows rows;
    int rc = open_reader(r) ? -1 : store_list(r->reader, view, limit, &rows, r->err, sizeof r->err);
    if (rc == 0) {
        api_queue_json(&rows, r->out);
        queue_rows_free(&rows);
    }
    return store_result(rc, r->err, r->out, "");
}

static unsigned show(request *r, uint64_t id)
{
    notification_detail d;
    int rc = open_reader(r) ? -1 : store_show(r->reader, id, &d, r->err, sizeof r->err);
    if (rc == 0) {
        api_notification_json(&d, r->out);
        notification_detail_free(&d);
    }
    return store_result(rc, r->err, r->out, "no such notification");
}

static unsigned history(request *r)
{
    const api_query *q = r->q;
    query_args args = {.alertname = q->get(q->ctx, "alertname"),
                       .receiver = q->get(q->ctx, "receiver"),
                       .status = q->get(q->ctx, "status"),
                       .since = q->get(q->ctx, "since"),
                       .until = q->get(q->ctx, "until"),
                       .limit = q->get(q->ctx, "limit")};
    history_filter f;
    if (query_history(&args, QUERY_API, wall_ms(), &f, r->err, sizeof r->err))
        return fail(r->out, 400, r->err);
    history_rows rows;
    int rc = open_reader(r) ? -1 : store_history(r->reader, &f, &rows, r->err, sizeof r->err);
    if (rc == 0) {
        api_history_json(&rows, r->out);
        history_rows_free(&rows);
    }
    return store_result(rc, r->err, r->out, "");
}

static unsigned top(request *r)
{
    const api_query *q = r->q;
    query_args args = {.by = q->get(q->ctx, "by"),
                       .since = q->get(q->ctx, "since"),
                       .limit = q->get(q->ctx, "limit")};
    history_top counted;
    if (query_top(&args, QUERY_API, wall_ms(), &counted, r->err, sizeof r->err))
        return fail(r->out, 400, r->err);
    top_rows rows;
    int rc = open_reader(r) ? -1
                            : store_history_top(r->reader, &counted, &rows, r->err, sizeof r->err);
    if (rc == 0) {
        api_top_json(counted.by, &rows, r->out);
        top_rows_free(&rows);
    }
    return store_result(rc, r->err, r->out, "");
}

static unsigned alerts(request *r)
{
    const api_query *q = r->q;
    query_args args = {.filter = q->get(q->ctx, "filter"),
                       .receiver = q->get(q->ctx, "receiver"),
                       .status = q->get(q->ctx, "status"),
                       .limit = q->get(q->ctx, "limit")};
    alert_filter f;
    if (query_alerts(&args, QUERY_API, &f, r->err, sizeof r->err))
        return fail(r->out, 400, r->err);
    alert_state_rows rows;
    int rc = open_reader(r) ? -1
                            : store_alerts(r->reader, &f, wall_ms(), &rows, r->err, sizeof r->err);
    alert_filter_free(&f);
    if (rc == 0) {
        api_alerts_json(&rows, r->out);
        alert_state_rows_free(&rows);
    }
    return store_result(rc, r->err, r->out, "");
}

static unsigned replicas(request *r)
{
    replica_rows rows;
    int rc = open_reader(r) ? -1 : store_replicas(r->reader, &rows, r->err, sizeof r->err);
    if (rc == 0) {
        api_replicas_json(&rows, r->out);
        replica_rows_free(&rows);
    }
    return store_result(rc, r->err, r->out, "");
}

static unsigned silences(request *r)
{
    const char *all = r->q->get(r->q->ctx, "all");
    if (all && strcmp(all, "true") != 0 && strcmp(all, "false") != 0)
        return fail(r->out, 400, "all: expected true or false");
    silence_rows rows;
    int64_t now = wall_ms();
    int rc = open_reader(r) ? -1
                            : store_silences(r->reader, all && strcmp(all, "true") == 0, now,
                                             &rows, r->err, sizeof r->err);
    if (rc == 0) {
        api_silences_json(&rows, now, r->out);
        silence_rows_free(&rows);
    }
    return store_result(rc, r->err, r->out, "");
}

static void silences_changed(request *r)
{
    if (r->q->silences_changed)
        r->q->silences_changed(r->q->silences_cls);
}

/* POST /silences: the body is the silence. */
static unsigned add_silence(request *r)
{
    silence s;
    int64_t now = wall_ms();
    if (silence_from_json(r->q->body ? r->q->body : "", r->q->body_len, now, &s, r->err,
                          sizeof r->err))
        return fail(r->out, 400, r->err);
    int rc = open_reader(r) ? -1 : store_silence_add(r->reader, &s, r->err, sizeof r->err);
    unsigned status = store_result(rc, r->err, r->out, "");
    if (status == 200) {
        silences_changed(r);
        sb_puts(r->out, "{\"status\":\"success\",\"action\":\"silenced\",\"silence\":");
        api_silence_json(&s, now, r->out);
        sb_puts(r->out, "}\n");
    }
    silence_free(&s);
    return status;
}

/* DELETE /silences/<id>: it ends now. */
static unsigned expire_silence(request *r, const char *id)
{
    int rc = open_reader(r) ? -1 : store_silence_expire(r->reader, id, wall_ms(), r->err,
                                                       sizeof r->err);
    if (rc == 2)
        return fail(r->out, 409, "that silence has already ended");
    unsigned status = store_result(rc, r->err, r->out, "no silence with that id");
    if (status == 200) {
        silences_changed(r);
        sb_puts(r->out, "{\"status\":\"success\",\"id\":");
        sb_json_string(r->out, id, strlen(id));
        sb_puts(r->out, ",\"action\":\"expired\"}\n");
    }
    return status;
}

static unsigned acknowledged(request *r, const char *fingerprint, const char *by,
                             const char *comment)
{
    int rc = open_reader(r) ? -1
                            : store_acknowledge(r->reader, fingerprint, by, comment, wall_ms(),
                                                r->err, sizeof r->err);
    if (rc == ACK_ALREADY)
        return fail(r->out, 409, "that alert's firing is already acknowledged");
    if (rc == ACK_NOT_FIRING)
        return fail(r->out, 409, "that alert is not firing: it has resolved");
    unsigned status = store_result(rc, r->err, r->out, "no alert with that fingerprint");
    if (status == 200) {
        metrics_count(METRIC_ALERTS_ACKNOWLEDGED);
        sb_puts(r->out, "{\"status\":\"success\",\"fingerprint\":");
        sb_json_string(r->out, fingerprint, strlen(fingerprint));
        sb_puts(r->out, ",\"action\":\"acknowledged\",\"by\":");
        sb_json_string(r->out, by, strlen(by));
        sb_puts(r->out, "}\n");
    }
    return status;
}

/* POST /alerts/<fingerprint>/ack: {"by": "...", "comment": "..."}. */
static unsigned acknowledge(request *r, const char *fingerprint)
{
    cJSON *body = json_parse(r->q->body ? r->q->body : "", r->q->body_len);
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(body, "by");
    const cJSON *comment = cJSON_GetObjectItemCaseSensitive(body, "comment");
    unsigned status;
    if (!cJSON_IsObject(body))
        status = fail(r->out, 400, "the body must be a JSON object: {\"by\": \"who\", "
                                   "\"comment\": \"why\"}");
    else if (!cJSON_IsString(by) || !by->valuestring[0])
        status = fail(r->out, 400, "by: say who acknowledges, as a non-empty string");
    else if (comment && !cJSON_IsNull(comment) && !cJSON_IsString(comment))
        status = fail(r->out, 400, "comment: expected a string");
    else
        status = acknowledged(r, fingerprint, by->valuestring,
                              cJSON_IsString(comment) ? comment->valuestring : NULL);
    cJSON_Delete(body);
    return status;
}

/* POST .../retry or DELETE: the dead letter requeued or dropped. */
static unsigned change_dead_letter(request *r, uint64_t id, int retry)
{
    int rc = open_reader(r) ? -1
             : retry        ? store_requeue(r->reader, id, r->err, sizeof r->err)
                            : store_drop(r->reader, id, r->err, sizeof r->err);
    unsigned status = store_result(rc, r->err, r->out, "no dead letter with that id");
    if (status == 200)
        sb_printf(r->out, "{\"status\":\"success\",\"id\":%llu,\"action\":\"%s\"}\n",
                  (unsigned long long)id, retry ? "requeued" : "dropped");
    return status;
}

/* POST /queue/<id>/send-now, DELETE /queue/<id>[?reason=]: a waiting
 * notification sent at once, or dropped. */
static unsigned change_pending(request *r, uint64_t id, int send_now)
{
    const char *reason = r->q->get(r->q->ctx, "reason");
    if (!send_now && reason && !reason[0])
        return fail(r->out, 400, "reason: give a reason, or leave the parameter out");
    int rc = open_reader(r) ? -1
             : send_now     ? store_send_now(r->reader, id, r->err, sizeof r->err)
                            : store_drop_pending(r->reader, id, reason, "HTTP API", r->err,
                                                 sizeof r->err);
    unsigned status = store_result(rc, r->err, r->out, "no waiting notification with that id");
    if (status == 200)
        sb_printf(r->out, "{\"status\":\"success\",\"id\":%llu,\"action\":\"%s\"}\n",
                  (unsigned long long)id, send_now ? "send-now" : "dropped");
    return status;
}

/* POST /receivers/<name>/unpause: the running configuration names it. */
static unsigned unpause(request *r, const char *name)
{
    generation *g = generation_acquire();
    int known = g && config_receiver(&g->conf, name);
    if (g)
        generation_unref(g);
    if (!known)
        return fail(r->out, 404, "no receiver by that name in the configuration");
    int rc = open_reader(r) ? -1 : store_unpause(r->reader, name, r->err, sizeof r->err);
    unsigned status = store_result(rc, r->err, r->out, "");
    if (status == 200) {
        sb_puts(r->out, "{\"status\":\"success\",\"receiver\":");
        sb_json_string(r->out, name, strlen(name));
        sb_puts(r->out, ",\"action\":\"unpause\"}\n");
    }
    return status;
}

static unsigned route(request *r, const char *method, const char *path, const char **allow)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    uint64_t id;
    const char *tail;
    *allow = "GET, HEAD";
    if (strcmp(path, "queue") == 0)
        return get ? list(r, QUEUE_PENDING) : 405;
    if (strcmp(path, "deadletters") == 0)
        return get ? list(r, QUEUE_DEAD) : 405;
    if (strcmp(path, "history") == 0)
        return get ? history(r) : 405;
    if (strcmp(path, "alerts") == 0)
        return get ? alerts(r) : 405;
    static const char ack_tail[] = "/ack";
    size_t path_len = strlen(path), ack_len = sizeof ack_tail - 1;
    if (strncmp(path, "alerts/", 7) == 0 && path_len > 7 + ack_len &&
        strcmp(path + path_len - ack_len, ack_tail) == 0) {
        *allow = "POST";
        if (strcmp(method, "POST") != 0)
            return 405;
        char *fingerprint = xstrndup(path + 7, path_len - 7 - ack_len);
        unsigned status = strchr(fingerprint, '/') ? fail(r->out, 404, "no such path")
                                                   : acknowledge(r, fingerprint);
        free(fingerprint);
        return status;
    }
    if (strcmp(path, "history/top") == 0)
        return get ? top(r) : 405;
    if (strcmp(path, "replicas") == 0)
        return get ? replicas(r) : 405;
    if (strcmp(path, "silences") == 0) {
        *allow = "GET, HEAD, POST";
        return get ? silences(r) : strcmp(method, "POST") == 0 ? add_silence(r) : 405;
    }
    if (strncmp(path, "silences/", 9) == 0 && path[9] && !strchr(path + 9, '/')) {
        *allow = "DELETE";
        return strcmp(method, "DELETE") == 0 ? expire_silence(r, path + 9) : 405;
    }
    if (strncmp(path, "queue/", 6) == 0 && (tail = parse_id(path + 6, &id))) {
        if (!*tail) {
            *allow = "GET, HEAD, DELETE";
            return get ? show(r, id) : strcmp(method, "DELETE") == 0 ? change_pending(r, id, 0)
                                                                     : 405;
        }
        if (strcmp(tail, "send-now") != 0)
            return fail(r->out, 404, "no such path");
        *allow = "POST";
        return strcmp(method, "POST") == 0 ? change_pending(r, id, 1) : 405;
    }
    static const char unpause_tail[] = "/unpause";
    size_t len = strlen(path), tail_len = sizeof unpause_tail - 1;
    if (strncmp(path, "receivers/", 10) == 0 && len > 10 + tail_len &&
        strcmp(path + len - tail_len, unpause_tail) == 0) {
        *allow = "POST";
        if (strcmp(method, "POST") != 0)
            return 405;
        char *name = xstrndup(path + 10, len - 10 - tail_len);
        unsigned status = unpause(r, name);
        free(name);
        return status;
    }
    if (strncmp(path, "deadletters/", 12) == 0 && (tail = parse_id(path + 12, &id))) {
        int retry = strcmp(tail, "retry") == 0;
        if (!retry && *tail)
            return fail(r->out, 404, "no such path");
        *allow = retry ? "POST" : "DELETE";
        return strcmp(method, *allow) == 0 ? change_dead_letter(r, id, retry) : 405;
    }
    return fail(r->out, 404, "no such path");
}

unsigned api_handle(const store_location *where, const char *method, const char *url, const api_query *q,
                    strbuf *out, const char **allow)
{
    request r = {.where = where, .q = q, .out = out};
    unsigned status = route(&r, method, url + strlen(API_PREFIX), allow);
    store_reader_close(r.reader);
    return status;
}
