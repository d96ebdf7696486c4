/* The JSON API over the store: the queue, dead letters and the alert
 * history. Kept apart from the HTTP server, so it knows nothing of
 * libmicrohttpd and reads like the list of endpoints it is:
 *
 *   GET    /api/v1/queue                   pending notifications
 *   GET    /api/v1/queue/<id>              one notification, with its text, alerts, attempts
 *   POST   /api/v1/queue/<id>/send-now     attempt a waiting one at once
 *   DELETE /api/v1/queue/<id>?reason=      never deliver a waiting one: kept as dropped
 *   GET    /api/v1/deadletters             dead letters, with the reason
 *   POST   /api/v1/deadletters/<id>/retry  deliver it again
 *   DELETE /api/v1/deadletters/<id>        forget it
 *   POST   /api/v1/receivers/<name>/unpause  clear the pauses of its targets
 *   GET    /api/v1/history                 ?alertname= &receiver= &status= &since= &until= &limit=
 *   GET    /api/v1/alerts                  the alert state: ?filter=<label matchers> &receiver= &status= &limit=
 *   POST   /api/v1/alerts/<fp>/ack        acknowledge a firing alert: {by, comment}
 *   GET    /api/v1/history/top             ?by=alertname|instance|severity|receiver &since=24h &limit=
 *   GET    /api/v1/replicas                the heralds serving from the store, live or gone
 *   GET    /api/v1/silences                the silences in force (?all=true: ended ones too)
 *   POST   /api/v1/silences                a new silence: {matchers, duration|endsAt, createdBy, comment}
 *   DELETE /api/v1/silences/<id>           expire one now
 *
 * Every time in an answer is RFC 3339 in UTC with milliseconds
 * ("2026-11-21T05:22:46.390Z"), or null when there is none yet.
 *
 * The store's rows become JSON here and nowhere else: the CLI's -o json
 * prints the same JSON with the api_*_json functions. */
#ifndef HERALD_API_H
#define HERALD_API_H

#include <stdint.h>

#include "store/store.h"
#include "util/strbuf.h"

#define API_PREFIX "/api/v1/"

typedef struct api_query {
    const char *(*get)(void *ctx, const char *name); /* NULL when absent */
    void *ctx;
    const char *body;          /* the request's body ("" when none) */
    size_t body_len;
    /* A silence was added or expired: the daemon applies it at once. */
    void (*silences_changed)(void *cls);
    void *silences_cls;
} api_query;

/* Answers an API request: returns the HTTP status and appends the JSON
 * body to out; for 405 *allow names the methods the path takes. */
unsigned api_handle(const store_location *where, const char *method, const char *url, const api_query *q,
                    strbuf *out, const char **allow);

/* Rows as the API answers them, appended to out. */
void api_queue_json(const queue_rows *rows, strbuf *out);
void api_notification_json(const notification_detail *d, strbuf *out);
void api_history_json(const history_rows *rows, strbuf *out);
void api_alerts_json(const alert_state_rows *rows, strbuf *out);
void api_top_json(const char *by, const top_rows *rows, strbuf *out);
void api_replicas_json(const replica_rows *rows, strbuf *out);
void api_silences_json(const silence_rows *rows, int64_t now_ms, strbuf *out);
void api_silence_json(const silence *s, int64_t now_ms, strbuf *out);

#endif
