#include "http/server_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/ingest.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/memory.h"
#include "util/metrics.h"

/* The request's own thread takes over: libmicrohttpd's, which answers
 * the client from what is recorded in ctx, or the one that made it. */
static void wake(request_ctx *ctx)
{
    if (!ctx->internal) {
        MHD_resume_connection(ctx->conn);
        return;
    }
    internal_wait *w = ctx->internal;
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_cond_signal(&w->done_cond);
    pthread_mutex_unlock(&w->lock);
}

/* The writer thread (or the put itself) reports: the connection resumes
 * and on_request answers from what is recorded here. */
static void ingest_committed(void *arg, outbox_put_result result, size_t duplicates,
                             size_t repeats, const char *error)
{
    request_ctx *ctx = arg;
    ctx->put = result;
    ctx->duplicates = duplicates;
    ctx->repeats = repeats;
    snprintf(ctx->put_error, sizeof ctx->put_error, "%s", error);
    if (result == OUTBOX_ACCEPTED) {
        /* The outbox owns the notifications now; a client that hangs up
         * before the answer must not free them with the request. */
        ctx->stored = ctx->out.len - duplicates - repeats - ctx->escalations;
        free(ctx->out.items);
        memset(&ctx->out, 0, sizeof ctx->out);
        /* Counted here, not with the answer: a client that hangs up now
         * still has its alerts delivered. */
        metrics_count(METRIC_REQUESTS_ACCEPTED);
        metrics_add(METRIC_ALERTS_RECEIVED, ctx->stats.alerts);
        metrics_add(METRIC_ALERTS_SILENCED, ctx->silenced);
        metrics_add(METRIC_NOTIFICATIONS_QUEUED, ctx->stored);
        metrics_add(METRIC_DUPLICATES, duplicates);
        metrics_add(METRIC_REPEATS, repeats);
    }
    ctx->phase = INGEST_COMMITTED;
    wake(ctx);
}

/* A refusal found on a worker thread: answered by the connection's own
 * thread once resumed. */
static void refuse(request_ctx *ctx, unsigned status, const char *fmt, ...) HERALD_PRINTF(3, 4);
static void refuse(request_ctx *ctx, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&ctx->refusal, fmt, ap);
    va_end(ap);
    ctx->refusal_status = status;
    ctx->phase = INGEST_REFUSED;
    wake(ctx);
}

/* Alerts an active silence matches leave the batch before routing: no
 * receiver hears of them, firing or resolved (as Alertmanager holds back
 * both). Their records in `seen` name the silence, so the alert state
 * still follows them and the history says they were silenced. */
static size_t hold_back_silenced(http_server *srv, alert_batch *batch, alert_report *seen,
                                 int64_t now_ms)
{
    silence_snapshot *snap = silence_cache_acquire(srv->silences);
    size_t kept = 0;
    for (size_t i = 0; i < batch->len; i++) {
        const char *id = silence_snapshot_match(snap, &batch->alerts[i].labels, now_ms);
        if (id) {
            seen->alerts[i].silenced_by = xstrdup(id);
            log_debug("silences", "alert %s held back by silence %s", seen->alerts[i].fingerprint,
                      id);
            alert_free(&batch->alerts[i]);
        } else {
            batch->alerts[kept++] = batch->alerts[i];
        }
    }
    silence_cache_release(srv->silences, snap);
    size_t held = batch->len - kept;
    batch->len = kept;
    return held;
}

/* On an ingest worker: parses, routes and renders, then has the store
 * commit, so one fsync covers every request waiting. The connection stays
 * suspended throughout; the commit's callback or a refusal resumes it. */
void ingest_run(http_server *srv, request_ctx *ctx)
{
    generation *g = generation_acquire();
    const config *conf = &g->conf;
    const receiver *def = NULL;
    alert_batch batch;
    char err[512];
    if (ctx->receiver && !(def = config_receiver(conf, ctx->receiver))) {
        /* gone in a reload since the gate let the request in */
        note_unknown_receiver(ctx->receiver);
        refuse(ctx, MHD_HTTP_NOT_FOUND, "unknown receiver \"%s\"", ctx->receiver);
        goto done;
    }
    int bad = ctx->ep == ENDPOINT_PROMETHEUS
                  ? ingest_prometheus(sb_str(&ctx->body), ctx->body.len, wall_ms() / 1000.0, &batch,
                                      err, sizeof err)
                  : ingest_alertmanager(sb_str(&ctx->body), ctx->body.len, &batch, err, sizeof err);
    if (bad) {
        metrics_count(METRIC_REQUESTS_REJECTED);
        refuse(ctx, MHD_HTTP_BAD_REQUEST, "%s", err);
        goto done;
    }
    batch.source = sb_str(&ctx->body);
    batch.source_len = ctx->body.len;
    batch.endpoint = ctx->ep == ENDPOINT_PROMETHEUS ? "alerts"
                     : ctx->ep == ENDPOINT_DINGTALK ? "dingtalk"
                                                    : "webhook";
    script_state *s = thread_script(srv, g, err, sizeof err);
    if (!s) {
        alert_batch_free(&batch);
        log_error("http", "cannot load scripts: %s", err);
        metrics_count(METRIC_REQUESTS_UNAVAILABLE);
        refuse(ctx, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot load scripts: %s", err);
        goto done;
    }
    int64_t now = wall_ms();
    alert_report_fill(&ctx->seen, &batch, now);
    ctx->silenced = hold_back_silenced(srv, &batch, &ctx->seen, now);
    pipeline_run(s, &batch, def, &ctx->out, &ctx->stats);
    ctx->stats.alerts += ctx->silenced;
    alert_batch_free(&batch);
    if (ctx->body.len >= MEMORY_EXCEPTIONAL_BYTES)
        script_collect_garbage(s); /* what rendering it took goes back (server.c trims) */
    size_t capacity = outbox_capacity(srv->box);
    if (ctx->out.len > capacity) {
        /* Not a 503: a retry could never fit, so the sender must not wait
         * for one. */
        metrics_count(METRIC_REQUESTS_REJECTED);
        size_t made = ctx->out.len;
        pipeline_output_free(&ctx->out);
        refuse(ctx, MHD_HTTP_CONTENT_TOO_LARGE,
               "alerts: they make %zu notifications, more than the queue can ever hold "
               "(queue_capacity %zu): send fewer alerts per request, or raise queue_capacity",
               made, capacity);
        goto done;
    }
    ctx->queue_capacity = capacity;
    /* counted now: the outbox frees them once stored */
    ctx->escalations = 0;
    for (size_t i = 0; i < ctx->out.len; i++)
        ctx->escalations += ctx->out.items[i]->escalate_at_ms != 0;
    ctx->phase = INGEST_COMMITTING;
    outbox_put(srv->box, ctx->out.items, ctx->out.len, &ctx->seen, ingest_committed, ctx);
done:
    generation_unref(g);
}

static enum MHD_Result finish_ingest(struct MHD_Connection *conn, request_ctx *ctx)
{
    if (ctx->put != OUTBOX_ACCEPTED) {
        pipeline_output_free(&ctx->out);
        metrics_count(METRIC_REQUESTS_UNAVAILABLE);
        if (ctx->put == OUTBOX_FULL) {
            log_warn("http", "queue full: answered 503 so the sender retries");
            return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                              "queue full (capacity %zu): retry later", ctx->queue_capacity);
        }
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "cannot store the alerts (%s): retry later", ctx->put_error);
    }
    size_t stored = ctx->stored;
    char body[200];
    snprintf(body, sizeof body,
             "{\"status\":\"success\",\"alerts\":%zu,\"notifications\":%zu,\"duplicates\":%zu,"
             "\"repeats\":%zu,\"silenced\":%zu}\n",
             ctx->stats.alerts, stored, ctx->duplicates, ctx->repeats, ctx->silenced);
    return send_text(conn, MHD_HTTP_OK, "application/json", body, NULL, NULL);
}

void ingest_forget(http_server *srv, request_ctx *ctx)
{
    if (ctx->counted) {
        ctx->counted = 0;
        atomic_fetch_sub(&srv->ingesting, 1);
    }
}

/* Counts the request as in progress first, so http_stop_accepting either
 * sees it or it sees the flag: nothing is queued after the drain began.
 * It stays counted while suspended, until it is answered. */
enum MHD_Result ingest_handle(http_server *srv, struct MHD_Connection *conn, request_ctx *ctx)
{
    if (ctx->phase == INGEST_COMMITTED || ctx->phase == INGEST_REFUSED) {
        enum MHD_Result rc = ctx->phase == INGEST_COMMITTED
                                 ? finish_ingest(conn, ctx)
                                 : send_error(conn, ctx->refusal_status, "%s", sb_str(&ctx->refusal));
        ingest_forget(srv, ctx);
        return rc;
    }
    atomic_fetch_add(&srv->ingesting, 1);
    ctx->counted = 1;
    if (atomic_load(&srv->stopping)) {
        metrics_count(METRIC_REQUESTS_UNAVAILABLE);
        ingest_forget(srv, ctx);
        return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "herald is shutting down: retry later");
    }
    ctx->conn = conn;
    ctx->phase = INGEST_QUEUED;
    /* Suspended before the hand-over: the worker may resume it at once. */
    MHD_suspend_connection(conn);
    ingest_workers_submit(srv->workers, ctx);
    return MHD_YES;
}
