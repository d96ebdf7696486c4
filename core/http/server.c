#include "http/server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "http/request_rules.h"
#include "http/server_internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/memory.h"

static void request_ctx_free(request_ctx *ctx)
{
    sb_free(&ctx->body);
    sb_free(&ctx->refusal);
    free(ctx->receiver);
    pipeline_output_free(&ctx->out); /* only what the outbox did not take */
    alert_report_free(&ctx->seen);
    free(ctx);
}

/* libmicrohttpd hands on_request the path percent-decoded, where %00
 * has become the end of the string: "/webhook/c1%00evil" would read as
 * "/webhook/c1". The raw target is only seen here, so a path holding
 * %00 is marked to be refused (this becomes the request's first
 * *con_cls). */
static char raw_path_had_nul;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    return raw_path_has_nul(uri) ? &raw_path_had_nul : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    http_server *srv = cls;
    if (*con_cls == &raw_path_had_nul) {
        *con_cls = NULL;
        conn_answering(conn);
        return gate_refuse_nul_path(conn);
    }
    request_ctx *ctx = *con_cls;
    if (!ctx) {
        enum MHD_Result rc = gate_admit(srv, conn, url, method, version, &ctx);
        *con_cls = ctx; /* NULL when answered at once */
        if (ctx)
            conn_reading_body(conn);
        else
            conn_answering(conn);
        return rc;
    }
    if (*upload_data_size) {
        if (ctx->budget != BODY_ADMITTED) {
            if (!body_budget_admit(srv->budget, conn, ctx)) {
                /* Waiting is not the client's delay: no body deadline
                 * until it may send. */
                ctx->waited_for_budget = 1;
                conn_answering(conn);
                return MHD_YES; /* its bytes come again once resumed */
            }
        } else if (ctx->waited_for_budget) {
            ctx->waited_for_budget = 0;
            conn_reading_body(conn);
        }
        sb_append(&ctx->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    conn_answering(conn);
    return route_answer(srv, conn, ctx, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)code;
    conn_request_done(conn); /* the next request's head may come */
    request_ctx *ctx = *con_cls;
    if (!ctx || *con_cls == &raw_path_had_nul)
        return;
    http_server *srv = cls;
    ingest_forget(srv, ctx); /* the client hung up before its answer */
    body_budget_release(srv->budget, ctx);
    int exceptional = ctx->body.len >= MEMORY_EXCEPTIONAL_BYTES;
    request_ctx_free(ctx);
    *con_cls = NULL;
    if (exceptional) /* after the answer; the worker collected its Lua state */
        memory_give_back();
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_warn("http", "%s", msg);
}

/* File descriptors kept out of the connection limit: the store, the
 * plugins, libmicrohttpd's own (epoll, listening socket) and libcurl's
 * connections (delivery.max_in_flight, added to this). */
#define FDS_BESIDE_CONNECTIONS 256

static void server_free(http_server *srv)
{
    if (srv->conns)
        conn_table_stop(srv->conns);
    silence_cache_stop(srv->silences);
    body_budget_free(srv->budget);
    action_rate_free(srv->action_rate);
    tls_pair_free(&srv->tls);
    free(srv->data_dir);
    if (srv->store_dsn)
        OPENSSL_cleanse(srv->store_dsn, strlen(srv->store_dsn));
    free(srv->store_dsn);
    free(srv);
}

http_server *http_start(const char *listen, unsigned threads, outbox *box, const store_location *where,
                        reload_fn reload, void *reload_ctx, char *err, size_t err_cap)
{
    http_server *srv = xcalloc(1, sizeof *srv);
    generation *g = generation_acquire();
    const config *c = &g->conf;
    listener l;
    if (listener_prepare(srv, listen, c, &l, err, err_cap)) {
        generation_unref(g);
        free(srv);
        return NULL;
    }
    srv->box = box;
    srv->data_dir = xstrdup(where->data_dir);
    srv->store_dsn = where->dsn ? xstrdup(where->dsn) : NULL;
    srv->store = (store_location){srv->data_dir, srv->store_dsn};
    srv->reload = reload;
    srv->reload_ctx = reload_ctx;
    srv->budget = body_budget_new();
    srv->conns = conn_table_start(&c->connections,
                                  FDS_BESIDE_CONNECTIONS + c->delivery.max_in_flight, err, err_cap);
    if (!srv->conns) {
        generation_unref(g);
        server_free(srv);
        return NULL;
    }
    srv->silences = silence_cache_start(&srv->store, err, err_cap);
    if (!srv->silences) {
        generation_unref(g);
        server_free(srv);
        return NULL;
    }
    srv->action_rate = action_rate_new();
    pthread_key_create(&srv->script_key, thread_script_free);
    srv->workers = ingest_workers_start(srv, ingest_run, threads, err, err_cap);
    if (!srv->workers) {
        generation_unref(g);
        pthread_key_delete(srv->script_key);
        server_free(srv);
        return NULL;
    }
    /* conn_admit enforces the limits; libmicrohttpd's own limit, which it
     * splits between its threads, sits above so that it never stops
     * accepting first. The inactivity timeout still ends a connection
     * that reads its answer too slowly, or goes quiet while idle. */
    srv->daemon = MHD_start_daemon(
        l.flags, l.port, conn_admit, srv->conns, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&l.addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, conn_table_max(srv->conns) + threads,
        MHD_OPTION_NOTIFY_CONNECTION, conn_notify, srv->conns,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_ARRAY, l.tls_options,
        MHD_OPTION_END);
    if (!srv->daemon) {
        char why[ERRNO_TEXT_SIZE];
        fail(err, err_cap, "listen: cannot serve on %s: %s%s", listen,
             errno_text(errno, why, sizeof why),
             c->tls_cert_file ? " (or the TLS library refused the certificate; see above)" : "");
        generation_unref(g);
        ingest_workers_stop(srv->workers);
        pthread_key_delete(srv->script_key);
        server_free(srv);
        return NULL;
    }
    listener_report(&l, listen, c);
    generation_unref(g);
    srv->expiry = alert_expiry_start(srv, err, err_cap);
    if (!srv->expiry) {
        http_stop(srv);
        return NULL;
    }
    return srv;
}

int http_is_tls(const http_server *s) { return s->tls.cert_pem != NULL; }

void http_stop_accepting(http_server *s)
{
    /* Readiness says 503 from the first moment (the log has said
     * "stopping"), before waiting for the expiry's request to finish. */
    atomic_store(&s->stopping, 1);
    body_budget_stop(s->budget);
    alert_expiry_stop(s->expiry); /* nothing it resolves is left behind */
    s->expiry = NULL;
    /* Every suspended request is resumed by the store's writer, which
     * answers each commit (a busy database gives up after its timeout);
     * libmicrohttpd must not stop with one still suspended. */
    struct timespec pause = {0, 5 * 1000 * 1000};
    while (atomic_load(&s->ingesting) > 0)
        nanosleep(&pause, NULL);
}

void http_stop(http_server *s)
{
    alert_expiry_stop(s->expiry);
    MHD_stop_daemon(s->daemon);
    ingest_workers_stop(s->workers); /* after the drain: none has work left */
    pthread_key_delete(s->script_key);
    server_free(s);
}
