#include "http/server_internal.h"

#include <stdio.h>
#include <string.h>

#include "http/api.h"
#include "util/clock.h"
#include "util/metrics.h"

enum MHD_Result answer_healthy(struct MHD_Connection *conn)
{
    return send_text(conn, MHD_HTTP_OK, "text/plain", "Healthy.\n", NULL, NULL);
}

enum MHD_Result answer_ready(http_server *srv, struct MHD_Connection *conn)
{
    if (atomic_load(&srv->stopping))
        return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "Shutting down.\n",
                         NULL, NULL);
    /* Ingest answers 503 meanwhile: a load balancer sends elsewhere. */
    store *durable = outbox_store(srv->box);
    if (durable && !store_healthy(durable))
        return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                         "Not ready: the store's database is unreachable.\n", NULL, NULL);
    /* Still ready (alerts are taken and delivered), but say what serves. */
    generation *g = generation_acquire();
    strbuf body = STRBUF_INIT;
    sb_puts(&body, "Ready.\n");
    if (g && g->stale_note)
        sb_printf(&body, "Warning: %s\n", g->stale_note);
    generation_unref(g);
    enum MHD_Result rc = send_text(conn, MHD_HTTP_OK, "text/plain", sb_str(&body), NULL, NULL);
    sb_free(&body);
    return rc;
}

enum MHD_Result answer_reload(http_server *srv, struct MHD_Connection *conn)
{
    char err[1024];
    int rc = srv->reload(srv->reload_ctx, err, sizeof err);
    if (rc == RELOAD_BUSY)
        return send_error(conn, MHD_HTTP_CONFLICT,
                          "a reload is already running: its result is in the log; retry for yours");
    if (rc)
        return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "reload refused, still serving the previous configuration: %s", err);
    generation *g = generation_acquire();
    char body[96];
    snprintf(body, sizeof body, "{\"status\":\"success\",\"generation\":%u}\n", g->number);
    generation_unref(g);
    return send_text(conn, MHD_HTTP_OK, "application/json", body, NULL, NULL);
}

enum MHD_Result answer_metrics(http_server *srv, struct MHD_Connection *conn)
{
    outbox_stats st = outbox_get_stats(srv->box);
    metrics_gauges gauges = {.outbox_queued = st.queued,
                             .outbox_in_flight = st.in_flight,
                             .connections_open = conn_table_open(srv->conns)};
    body_budget_levels(srv->budget, &gauges.body_bytes_in_progress,
                       &gauges.requests_waiting_for_memory);
    int64_t oldest = outbox_oldest_created_ms(srv->box), now = wall_ms();
    if (oldest && now > oldest) /* a clock set back makes no age negative */
        gauges.oldest_waiting_age_ms = now - oldest;
    strbuf text = STRBUF_INIT;
    metrics_render(&text, &gauges);
    enum MHD_Result rc = send_text(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", sb_str(&text),
                                   NULL, NULL);
    sb_free(&text);
    return rc;
}

static const char *query_argument(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

/* The first query parameter given more than once, which would otherwise
 * be read as its first value alone. */
typedef struct repeated_argument {
    strbuf seen;               /* "\nfirst\nsecond\n": the names so far */
    const char *name;
} repeated_argument;

static enum MHD_Result note_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    (void)value;
    repeated_argument *r = cls;
    strbuf wrapped = STRBUF_INIT;
    sb_printf(&wrapped, "\n%s\n", key);
    int again = strstr(sb_str(&r->seen), sb_str(&wrapped)) != NULL;
    if (again)
        r->name = key;
    else
        sb_puts(&r->seen, sb_str(&wrapped) + 1);
    sb_free(&wrapped);
    return again ? MHD_NO : MHD_YES;
}

static void silences_changed(void *srv)
{
    silence_cache_reload(((http_server *)srv)->silences);
}

enum MHD_Result answer_api(http_server *srv, struct MHD_Connection *conn, request_ctx *ctx,
                           const char *url, const char *method)
{
    repeated_argument repeated = {STRBUF_INIT, NULL};
    sb_putc(&repeated.seen, '\n');
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, note_argument, &repeated);
    sb_free(&repeated.seen);
    if (repeated.name)
        return send_error(conn, MHD_HTTP_BAD_REQUEST,
                          "%s: given more than once (matchers go in one filter, comma-separated)",
                          repeated.name);
    strbuf body = STRBUF_INIT;
    api_query q = {query_argument, conn, sb_str(&ctx->body), ctx->body.len, silences_changed, srv};
    const char *allow = NULL;
    unsigned status = api_handle(&srv->store, method, url, &q, &body, &allow);
    enum MHD_Result rc;
    if (status == 405)
        rc = send_method_not_allowed(conn, method, url, allow);
    else
        rc = send_text(conn, status, "application/json", sb_str(&body), NULL, NULL);
    sb_free(&body);
    return rc;
}
