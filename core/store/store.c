#include "store/store.h"

#include <stdlib.h>

#include "store/backend.h"

/* The one place a backend is chosen. */
const store_backend *store_backend_for(const store_location *where)
{
    return where->dsn ? &postgresql_backend : &sqlite_backend;
}

/* ---- the daemon's side ---------------------------------------------------- */

store *store_open(const store_location *where, const store_settings *settings, char *err,
                  size_t err_cap)
{
    return store_backend_for(where)->open(where, settings, err, err_cap);
}

void store_close(store *s)
{
    if (s)
        s->backend->close(s);
}

int store_start(store *s, void (*requeued)(void *ctx, notification *n), void *ctx, char *err,
                size_t err_cap)
{
    return s->backend->start(s, requeued, ctx, err, err_cap);
}

int store_load_targets(store *s, int64_t sent_since_ms, int64_t paused_at_ms,
                       void (*sent)(void *ctx, const char *target, int64_t at_ms),
                       void (*paused)(void *ctx, const char *target, int64_t until_ms), void *ctx,
                       char *err, size_t err_cap)
{
    return s->backend->load_targets(s, sent_since_ms, paused_at_ms, sent, paused, ctx, err,
                                    err_cap);
}

int store_load_pending(store *s, void (*each)(void *ctx, notification *n), void *ctx,
                       char *err, size_t err_cap)
{
    return s->backend->load_pending(s, each, ctx, err, err_cap);
}

void store_on_requests(store *s, void (*requested)(void *ctx, queue_request *q), void *ctx)
{
    s->backend->on_requests(s, requested, ctx);
}

void queue_request_free(queue_request *q)
{
    if (q) {
        free(q->receiver);
        free(q);
    }
}

/* ---- the readers' side ---------------------------------------------------- */

store_reader *store_reader_open(const store_location *where, char *err, size_t err_cap)
{
    return store_backend_for(where)->reader_open(where, err, err_cap);
}

void store_reader_close(store_reader *r)
{
    if (r)
        r->backend->reader_close(r);
}

int store_list(store_reader *r, queue_view view, int limit, queue_rows *rows, char *err,
               size_t err_cap)
{
    return r->backend->list(r, view, limit, rows, err, err_cap);
}

int store_show(store_reader *r, uint64_t id, notification_detail *out, char *err, size_t err_cap)
{
    return r->backend->show(r, id, out, err, err_cap);
}

int store_requeue(store_reader *r, uint64_t id, char *err, size_t err_cap)
{
    return r->backend->requeue(r, id, err, err_cap);
}

int store_drop(store_reader *r, uint64_t id, char *err, size_t err_cap)
{
    return r->backend->drop(r, id, err, err_cap);
}

int store_send_now(store_reader *r, uint64_t id, char *err, size_t err_cap)
{
    return r->backend->send_now(r, id, err, err_cap);
}

int store_drop_pending(store_reader *r, uint64_t id, const char *reason, const char *actor,
                       char *err, size_t err_cap)
{
    return r->backend->drop_pending(r, id, reason ? reason : "dropped by operator", actor, err,
                                    err_cap);
}

int store_unpause(store_reader *r, const char *receiver, char *err, size_t err_cap)
{
    return r->backend->unpause(r, receiver, err, err_cap);
}

int store_history(store_reader *r, const history_filter *f, history_rows *rows, char *err,
                  size_t err_cap)
{
    return r->backend->history(r, f, rows, err, err_cap);
}

int store_history_top(store_reader *r, const history_top *q, top_rows *rows, char *err,
                      size_t err_cap)
{
    return r->backend->history_top(r, q, rows, err, err_cap);
}

int store_alerts(store_reader *r, const alert_filter *f, int64_t now_ms, alert_state_rows *rows,
                 char *err, size_t err_cap)
{
    return r->backend->alerts(r, f, now_ms, rows, err, err_cap);
}

int store_expired_alerts(store_reader *r, int64_t now_ms, int limit, alert_state_rows *rows,
                         char *err, size_t err_cap)
{
    return r->backend->expired_alerts(r, now_ms, limit, rows, err, err_cap);
}

int store_describe(const store_location *where, strbuf *report, char *err, size_t err_cap)
{
    const store_backend *b = store_backend_for(where);
    return b->describe ? b->describe(where, report, err, err_cap) : 0;
}

/* ---- rows, whichever backend read them ------------------------------------ */

static void queue_row_free(queue_row *row)
{
    free(row->receiver);
    free(row->status);
    free(row->state);
    free(row->last_error);
    free(row->title);
}

void queue_rows_free(queue_rows *rows)
{
    for (size_t i = 0; i < rows->len; i++)
        queue_row_free(&rows->items[i]);
    free(rows->items);
    rows->items = NULL;
    rows->len = 0;
}

void notification_detail_free(notification_detail *d)
{
    queue_row_free(&d->summary);
    free(d->text);
    free(d->mentions_json);
    for (size_t i = 0; i < d->alerts_len; i++) {
        free(d->alerts[i].fingerprint);
        free(d->alerts[i].alertname);
        free(d->alerts[i].status);
        free(d->alerts[i].labels_json);
    }
    free(d->alerts);
    for (size_t i = 0; i < d->attempts_len; i++) {
        free(d->attempts[i].outcome);
        free(d->attempts[i].detail);
        free(d->attempts[i].actor);
    }
    free(d->attempts);
    *d = (notification_detail){0};
}

int store_silence_add(store_reader *r, const silence *s, char *err, size_t err_cap)
{
    return r->backend->silence_add(r, s, err, err_cap);
}

int store_silence_expire(store_reader *r, const char *id, int64_t now_ms, char *err,
                         size_t err_cap)
{
    return r->backend->silence_expire(r, id, now_ms, err, err_cap);
}

int store_acknowledge(store_reader *r, const char *fingerprint, const char *by,
                      const char *comment, int64_t now_ms, char *err, size_t err_cap)
{
    return r->backend->acknowledge(r, fingerprint, by, comment, now_ms, err, err_cap);
}

int store_silences(store_reader *r, int all, int64_t now_ms, silence_rows *rows, char *err,
                   size_t err_cap)
{
    return r->backend->silences(r, all, now_ms, rows, err, err_cap);
}

int store_action_keys(store_reader *r, int64_t now_ms, action_keyring *ring, char *err,
                      size_t err_cap)
{
    return r->backend->action_keys(r, now_ms, ring, err, err_cap);
}

int store_action_key_rotate(store_reader *r, int64_t now_ms, action_key *out, char *err,
                            size_t err_cap)
{
    return r->backend->action_key_rotate(r, now_ms, out, err, err_cap);
}

int store_action_use(store_reader *r, const char *nonce, const char *who, int64_t now_ms,
                     int64_t expires_ms, char **prior_who, int64_t *prior_ms, char *err,
                     size_t err_cap)
{
    return r->backend->action_use(r, nonce, who, now_ms, expires_ms, prior_who, prior_ms, err,
                                  err_cap);
}

int store_action_used(store_reader *r, const char *nonce, char **who, int64_t *used_ms,
                      char *err, size_t err_cap)
{
    return r->backend->action_used(r, nonce, who, used_ms, err, err_cap);
}

int store_action_unuse(store_reader *r, const char *nonce, char *err, size_t err_cap)
{
    return r->backend->action_unuse(r, nonce, err, err_cap);
}

void history_rows_free(history_rows *rows)
{
    for (size_t i = 0; i < rows->len; i++) {
        history_row *h = &rows->items[i];
        free(h->fingerprint);
        free(h->alertname);
        free(h->instance);
        free(h->severity);
        free(h->status);
        free(h->receiver);
        free(h->labels_json);
        free(h->annotations_json);
        free(h->result);
        free(h->silenced_by);
    }
    free(rows->items);
    rows->items = NULL;
    rows->len = 0;
}

void top_rows_free(top_rows *rows)
{
    for (size_t i = 0; i < rows->len; i++)
        free(rows->items[i].value);
    free(rows->items);
    rows->items = NULL;
    rows->len = 0;
}

void alert_state_rows_free(alert_state_rows *rows)
{
    for (size_t i = 0; i < rows->len; i++) {
        alert_state_row *a = &rows->items[i];
        free(a->fingerprint);
        free(a->alertname);
        free(a->labels_json);
        free(a->annotations_json);
        free(a->status);
        free(a->source);
        free(a->silenced_by);
        free(a->acknowledged_by);
        free(a->ack_comment);
        free(a->escalated_to);
        for (size_t k = 0; k < a->receivers_len; k++) {
            free(a->receivers[k].receiver);
            free(a->receivers[k].status);
        }
        free(a->receivers);
    }
    free(rows->items);
    rows->items = NULL;
    rows->len = 0;
}
