#include "http/api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/generation.h"
#include "store/query.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/metrics.h"
#include "util/units.h"

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
