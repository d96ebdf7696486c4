#include "http/server_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread_name.h"
#include "util/units.h"

/* How often the alert state is asked for alerts past their endsAt. */
#define EXPIRY_POLL_MS 1000
/* Resolved per request: a backlog (herald was down for a while) goes in
 * requests of this size, one after the other. */
#define EXPIRED_PER_REQUEST 500

struct alert_expiry {
    http_server *srv;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    store_reader *reader;  /* opened at the first poll, kept */
};

static void time_json(strbuf *body, const char *name, double epoch_s)
{
    char text[RFC3339_MS_SIZE];
    format_rfc3339_ms((int64_t)llround(epoch_s * 1000), text, sizeof text);
    sb_printf(body, ",\"%s\":\"%s\"", name, text);
}

/* What Prometheus would post for these alerts once resolved: their own
 * endsAt, which has passed. */
static void resolution_body(const alert_state_rows *rows, strbuf *body)
{
    sb_putc(body, '[');
    for (size_t i = 0; i < rows->len; i++) {
        const alert_state_row *a = &rows->items[i];
        sb_printf(body, "%s{\"labels\":%s,\"annotations\":%s", i ? "," : "", a->labels_json,
                  a->annotations_json);
        time_json(body, "startsAt", a->starts_at);
        time_json(body, "endsAt", a->ends_at);
        sb_putc(body, '}');
    }
    sb_putc(body, ']');
}

/* Runs the request through ingest on this thread and waits for the
 * store's answer. */
static void run_request(alert_expiry *e, request_ctx *ctx)
{
    internal_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    ctx->internal = &w;
    ingest_run(e->srv, ctx);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.done_cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_cond_destroy(&w.done_cond);
    pthread_mutex_destroy(&w.lock);
}

/* 1 when a full request was resolved (more may wait), else 0. */
static int resolve_expired(alert_expiry *e)
{
    char err[512];
    if (!e->reader && !(e->reader = store_reader_open(&e->srv->store, err, sizeof err))) {
        log_warn("expiry", "cannot read the alert state: %s", err);
        return 0;
    }
    alert_state_rows rows;
    if (store_expired_alerts(e->reader, wall_ms(), EXPIRED_PER_REQUEST, &rows, err, sizeof err)) {
        log_warn("expiry", "cannot read the alert state: %s", err);
        return 0;
    }
    if (!rows.len)
        return 0;
    request_ctx ctx = {.ep = ENDPOINT_PROMETHEUS};
    resolution_body(&rows, &ctx.body);
    run_request(e, &ctx);
    if (ctx.phase == INGEST_COMMITTED && ctx.put == OUTBOX_ACCEPTED) {
        for (size_t i = 0; i < rows.len; i++)
            log_info("expiry", "alert %s (%s) resolved: its endsAt passed and Prometheus "
                     "did not send it again", rows.items[i].fingerprint, rows.items[i].alertname);
    } else {
        log_warn("expiry", "resolving %zu alerts past their endsAt failed, trying again: %s",
                 rows.len, ctx.phase == INGEST_REFUSED ? sb_str(&ctx.refusal) : ctx.put_error);
    }
    int more = ctx.put == OUTBOX_ACCEPTED && rows.len == EXPIRED_PER_REQUEST;
    pipeline_output_free(&ctx.out);
    alert_report_free(&ctx.seen);
    sb_free(&ctx.body);
    sb_free(&ctx.refusal);
    alert_state_rows_free(&rows);
    return more;
}

static void *expiry_main(void *arg)
{
    thread_name("http-expiry");
    alert_expiry *e = arg;
    pthread_mutex_lock(&e->lock);
    while (!e->stopping) {
        pthread_mutex_unlock(&e->lock);
        int more = resolve_expired(e);
        pthread_mutex_lock(&e->lock);
        if (more || e->stopping)
            continue;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += EXPIRY_POLL_MS / 1000;
        pthread_cond_timedwait(&e->wake, &e->lock, &until);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

alert_expiry *alert_expiry_start(http_server *srv, char *err, size_t err_cap)
{
    alert_expiry *e = xcalloc(1, sizeof *e);
    e->srv = srv;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->wake, NULL);
    int rc = pthread_create(&e->thread, NULL, expiry_main, e);
    if (rc) {
        fail_errno(err, err_cap, rc, "%s", "cannot start the alert expiry thread");
        pthread_cond_destroy(&e->wake);
        pthread_mutex_destroy(&e->lock);
        free(e);
        return NULL;
    }
    return e;
}

void alert_expiry_stop(alert_expiry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    e->stopping = 1;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
    store_reader_close(e->reader);
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->lock);
    free(e);
}
