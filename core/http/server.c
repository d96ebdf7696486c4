#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "alert/ingest.h"
#include "config/generation.h"
#include "config/listen.h"
#include "http/api.h"
#include "http/auth.h"
#include "http/tls.h"
#include "pipeline/pipeline.h"
#include "pipeline/script.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"

struct http_server {
    struct MHD_Daemon *daemon;
    outbox *box;
    reload_fn reload;
    void *reload_ctx;
    atomic_int stopping;
    atomic_int ingesting;  /* ingest requests between their stopping check and their answer */
    char *data_dir;
    pthread_key_t script_key;
    tls_pair tls;          /* kept for the daemon's life: libmicrohttpd points into it */
};

typedef enum endpoint {
    ENDPOINT_WEBHOOK,     /* Alertmanager webhook, /webhook[/receiver] */
    ENDPOINT_DINGTALK,    /* /dingtalk/<receiver>/send, prometheus-webhook-dingtalk's path */
    ENDPOINT_PROMETHEUS,  /* /api/v2/alerts */
    ENDPOINT_HEALTHY,
    ENDPOINT_READY,
    ENDPOINT_RELOAD,
    ENDPOINT_METRICS,
    ENDPOINT_API,         /* /api/v1/…, see api.h */
} endpoint;

typedef enum ingest_phase {
    INGEST_READING = 0,
    INGEST_COMMITTING,   /* suspended until the store has the notifications */
    INGEST_COMMITTED,    /* resumed: answer from the fields below */
} ingest_phase;

typedef struct request_ctx {
    endpoint ep;
    char *receiver;      /* from the path, or NULL */
    strbuf body;
    size_t limit;
    int too_large;
    /* ingest, across the suspension */
    ingest_phase phase;
    struct MHD_Connection *conn;
    pipeline_output out;
    pipeline_stats stats;
    size_t queue_capacity;
    outbox_put_result put;
    size_t duplicates;
    size_t stored;
    int counted;         /* in srv->ingesting until answered or closed */
    char put_error[256];
} request_ctx;

/* ---- responses ---------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *type,
                                 const char *text, const char *extra_header,
                                 const char *extra_value)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (extra_header)
        MHD_add_response_header(resp, extra_header, extra_value);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* "10.0.0.5, Alertmanager/0.25.0": which sender to fix, since a sender
 * does not retry a 4xx. */
static void describe_client(struct MHD_Connection *conn, char *out, size_t cap)
{
    char address[INET6_ADDRSTRLEN] = "unknown address";
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info && info->client_addr) {
        const struct sockaddr *sa = info->client_addr;
        const void *raw = sa->sa_family == AF_INET6
                              ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                              : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
        inet_ntop(sa->sa_family, raw, address, sizeof address);
    }
    const char *agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_USER_AGENT);
    if (agent)
        snprintf(out, cap, "%s, %.64s", address, agent);
    else
        snprintf(out, cap, "%s", address);
}

/* Every error is the same JSON shape; the message may carry what the
 * client sent, so it is escaped. */
static enum MHD_Result send_error_with_header(struct MHD_Connection *conn, unsigned status,
                                              const char *header, const char *value,
                                              const char *msg)
{
    strbuf body = STRBUF_INIT;
    sb_puts(&body, "{\"status\":\"error\",\"error\":");
    sb_json_string(&body, msg, strlen(msg));
    sb_puts(&body, "}\n");
    if (status >= 400 && status < 500 && status != 404 && status != 405) {
        char client[INET6_ADDRSTRLEN + 80];
        describe_client(conn, client, sizeof client);
        log_warn("http", "rejected with %u (from %s): %s", status, client, msg);
    }
    enum MHD_Result rc = send_text(conn, status, "application/json", sb_str(&body), header, value);
    sb_free(&body);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                  ...) HERALD_PRINTF(3, 4);
static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_error_with_header(conn, status, status == 503 ? MHD_HTTP_HEADER_RETRY_AFTER : NULL,
                                  "5", msg);
}

/* Logged, unlike a stray path: the sender does not retry a 404, so these
 * alerts are gone unless someone sees this. */
static enum MHD_Result reject_unknown_receiver(struct MHD_Connection *conn, const char *receiver)
{
    log_warn("http", "alerts for unknown receiver \"%s\" refused with 404", receiver);
    metrics_count(METRIC_REQUESTS_REJECTED);
    return send_error(conn, MHD_HTTP_NOT_FOUND, "unknown receiver \"%s\"", receiver);
}

static enum MHD_Result send_method_not_allowed(struct MHD_Connection *conn, const char *method,
                                               const char *url, const char *allow)
{
    strbuf msg = STRBUF_INIT;
    sb_printf(&msg, "method %s not allowed on %s", method, url);
    enum MHD_Result rc = send_error_with_header(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                                MHD_HTTP_HEADER_ALLOW, allow, sb_str(&msg));
    sb_free(&msg);
    return rc;
}

/* Logged (send_error_with_header logs 4xx) without any of the credentials:
 * a misconfigured Alertmanager shows up here, not as missing alerts. */
static enum MHD_Result reject_unauthorized(struct MHD_Connection *conn, const inbound_auth *auth,
                                           auth_result result, const char *url)
{
    metrics_count(METRIC_REQUESTS_UNAUTHORIZED);
    char msg[512];
    snprintf(msg, sizeof msg, "%s %s: %s credentials required",
             result == AUTH_MISSING ? "no credentials for" : "wrong credentials for", url,
             auth_describe(auth));
    return send_error_with_header(conn, MHD_HTTP_UNAUTHORIZED, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                  auth_challenge(auth), msg);
}

/* ---- routing ------------------------------------------------------------ */

static int is_post(const char *method) { return strcmp(method, MHD_HTTP_METHOD_POST) == 0; }

static int is_get(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* The rest of `url` after `prefix`, or NULL when it does not start so. */
static const char *after_prefix(const char *url, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(url, prefix, n) == 0 ? url + n : NULL;
}

static int has_slash(const char *text)
{
    for (; *text; text++)
        if (*text == '/')
            return 1;
    return 0;
}

/* Matches the path; returns 0 with ep and receiver set, 404 or 405. */
static unsigned match_endpoint(const char *url, const char *method, endpoint *ep, char **receiver,
                               const char **allow)
{
    *receiver = NULL;
    *allow = "POST";
    const char *rest;
    if (after_prefix(url, API_PREFIX)) {
        *ep = ENDPOINT_API; /* api_handle judges paths and methods */
        return 0;
    }
    if (strcmp(url, "/webhook") == 0) {
        *ep = ENDPOINT_WEBHOOK;
    } else if ((rest = after_prefix(url, "/webhook/")) && *rest && !has_slash(rest)) {
        *ep = ENDPOINT_WEBHOOK;
        *receiver = xstrdup(rest);
    } else if ((rest = after_prefix(url, "/dingtalk/"))) {
        const char *slash = rest;
        while (*slash && *slash != '/')
            slash++;
        if (slash == rest || strcmp(slash, "/send") != 0)
            return 404;
        *ep = ENDPOINT_DINGTALK;
        *receiver = xstrndup(rest, (size_t)(slash - rest));
    } else if (strcmp(url, "/api/v2/alerts") == 0) {
        *ep = ENDPOINT_PROMETHEUS;
    } else if (strcmp(url, "/-/reload") == 0) {
        *ep = ENDPOINT_RELOAD;
    } else {
        *allow = "GET, HEAD";
        if (strcmp(url, "/-/healthy") == 0)
            *ep = ENDPOINT_HEALTHY;
        else if (strcmp(url, "/-/ready") == 0)
            *ep = ENDPOINT_READY;
        else if (strcmp(url, "/metrics") == 0)
            *ep = ENDPOINT_METRICS;
        else
            return 404;
        if (!is_get(method))
            goto wrong_method;
        return 0;
    }
    if (is_post(method))
        return 0;
wrong_method:
    free(*receiver);
    *receiver = NULL;
    return 405;
}

/* ---- per-thread Lua ----------------------------------------------------- */

static void free_thread_script(void *p)
{
    script_state *s = p;
    script_close(s);
    free(s);
}

/* The calling thread's script state, loaded with generation g. */
static script_state *thread_script(http_server *srv, generation *g, char *err, size_t err_cap)
{
    script_state *s = pthread_getspecific(srv->script_key);
    if (s && s->gen == g)
        return s;
    if (!s) {
        s = xcalloc(1, sizeof *s);
        pthread_setspecific(srv->script_key, s);
    } else {
        script_close(s);
    }
    return script_open(s, g, err, err_cap) ? NULL : s;
}

/* ---- handlers ----------------------------------------------------------- */

/* The writer thread (or the put itself) reports: the connection resumes
 * and on_request answers from what is recorded here. */
static void ingest_committed(void *arg, outbox_put_result result, size_t duplicates,
                             const char *error)
{
    request_ctx *ctx = arg;
    ctx->put = result;
    ctx->duplicates = duplicates;
    snprintf(ctx->put_error, sizeof ctx->put_error, "%s", error);
    if (result == OUTBOX_ACCEPTED) {
        /* The outbox owns the notifications now; a client that hangs up
         * before the answer must not free them with the request. */
        ctx->stored = ctx->out.len - duplicates;
        free(ctx->out.items);
        memset(&ctx->out, 0, sizeof ctx->out);
    }
    ctx->phase = INGEST_COMMITTED;
    MHD_resume_connection(ctx->conn);
}

/* Parses, routes and renders, then suspends the connection while the
 * store commits, so an HTTP thread serves other connections meanwhile
 * and one fsync covers every request waiting. Returns MHD_YES with
 * *suspended set, or the result of an answer sent at once. */
static enum MHD_Result start_ingest(http_server *srv, struct MHD_Connection *conn, request_ctx *ctx,
                                    int *suspended)
{
    *suspended = 0;
    generation *g = generation_acquire();
    const config *conf = &g->conf;
    enum MHD_Result rc;
    const receiver *def = NULL;
    if (ctx->receiver && !(def = config_receiver(conf, ctx->receiver))) {
        rc = reject_unknown_receiver(conn, ctx->receiver);
        goto done;
    }
    alert_batch batch;
    char err[512];
    int bad = ctx->ep == ENDPOINT_PROMETHEUS
                  ? ingest_prometheus(sb_str(&ctx->body), ctx->body.len, (double)time(NULL), &batch,
                                      err, sizeof err)
                  : ingest_alertmanager(sb_str(&ctx->body), ctx->body.len, &batch, err, sizeof err);
    if (bad) {
        metrics_count(METRIC_REQUESTS_REJECTED);
        rc = send_error(conn, MHD_HTTP_BAD_REQUEST, "%s", err);
        goto done;
    }
    batch.source = sb_str(&ctx->body);
    batch.source_len = ctx->body.len;
    script_state *s = thread_script(srv, g, err, sizeof err);
    if (!s) {
        alert_batch_free(&batch);
        log_error("http", "cannot load scripts: %s", err);
        metrics_count(METRIC_REQUESTS_UNAVAILABLE);
        rc = send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot load scripts: %s", err);
        goto done;
    }
    pipeline_run(s, &batch, def, &ctx->out, &ctx->stats);
    alert_batch_free(&batch);
    size_t capacity = outbox_capacity(srv->box);
    if (ctx->out.len > capacity) {
        /* Not a 503: a retry could never fit, so the sender must not wait
         * for one. */
        metrics_count(METRIC_REQUESTS_REJECTED);
        rc = send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                        "alerts: they make %zu notifications, more than the queue can ever hold "
                        "(queue_capacity %zu): send fewer alerts per request, or raise queue_capacity",
                        ctx->out.len, capacity);
        pipeline_output_free(&ctx->out);
        goto done;
    }
    ctx->queue_capacity = capacity;
    ctx->conn = conn;
    ctx->phase = INGEST_COMMITTING;
    /* Suspended before the put: its callback may resume at once. */
    MHD_suspend_connection(conn);
    outbox_put(srv->box, ctx->out.items, ctx->out.len, ingest_committed, ctx);
    *suspended = 1;
    rc = MHD_YES;
done:
    generation_unref(g);
    return rc;
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
    metrics_count(METRIC_REQUESTS_ACCEPTED);
    metrics_add(METRIC_ALERTS_RECEIVED, ctx->stats.alerts);
    metrics_add(METRIC_NOTIFICATIONS_QUEUED, stored);
    metrics_add(METRIC_DUPLICATES, ctx->duplicates);
    char body[200];
    snprintf(body, sizeof body,
             "{\"status\":\"success\",\"alerts\":%zu,\"notifications\":%zu,\"duplicates\":%zu}\n",
             ctx->stats.alerts, stored, ctx->duplicates);
    return send_text(conn, MHD_HTTP_OK, "application/json", body, NULL, NULL);
}

/* Counts the request as in progress first, so http_stop_accepting either
 * sees it or it sees the flag: nothing is queued after the drain began.
 * It stays counted while suspended, until it is answered. */
static void uncount(http_server *srv, request_ctx *ctx)
{
    if (ctx->counted) {
        ctx->counted = 0;
        atomic_fetch_sub(&srv->ingesting, 1);
    }
}

static enum MHD_Result handle_ingest(http_server *srv, struct MHD_Connection *conn, request_ctx *ctx)
{
    if (ctx->phase == INGEST_COMMITTED) {
        enum MHD_Result rc = finish_ingest(conn, ctx);
        uncount(srv, ctx);
        return rc;
    }
    atomic_fetch_add(&srv->ingesting, 1);
    ctx->counted = 1;
    enum MHD_Result rc;
    int suspended = 0;
    if (atomic_load(&srv->stopping)) {
        metrics_count(METRIC_REQUESTS_UNAVAILABLE);
        rc = send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "herald is shutting down: retry later");
    } else {
        rc = start_ingest(srv, conn, ctx, &suspended);
    }
    if (!suspended)
        uncount(srv, ctx);
    return rc;
}

static enum MHD_Result handle_reload(http_server *srv, struct MHD_Connection *conn)
{
    char err[1024];
    int rc = srv->reload(srv->reload_ctx, err, sizeof err);
    if (rc == RELOAD_BUSY)
        return send_error(conn, MHD_HTTP_CONFLICT,
                          "a reload is already running: its result is in the log; retry for yours");
    if (rc)
        return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "reload refused, still serving the previous configuration: %s", err);
    generation *g = generation_acquire();
    char body[96];
    snprintf(body, sizeof body, "{\"status\":\"success\",\"generation\":%u}\n", g->number);
    generation_unref(g);
    return send_text(conn, MHD_HTTP_OK, "application/json", body, NULL, NULL);
}

static const char *query_argument(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result handle_api(http_server *srv, struct MHD_Connection *conn, const char *url,
                                  const char *method)
{
    strbuf body = STRBUF_INIT;
    api_query q = {query_argument, conn};
    const char *allow = NULL;
    unsigned status = api_handle(srv->data_dir, method, url, &q, &body, &allow);
    enum MHD_Result rc;
    if (status == 405) {
        rc = send_method_not_allowed(conn, method, url, allow);
    } else {
        rc = send_text(conn, status, "application/json", sb_str(&body), NULL, NULL);
    }
    sb_free(&body);
    return rc;
}

static enum MHD_Result handle_complete(http_server *srv, struct MHD_Connection *conn,
                                       request_ctx *ctx, const char *url, const char *method)
{
    switch (ctx->ep) {
    case ENDPOINT_API:
        return handle_api(srv, conn, url, method);
    case ENDPOINT_HEALTHY:
        return send_text(conn, MHD_HTTP_OK, "text/plain", "Healthy.\n", NULL, NULL);
    case ENDPOINT_READY:
        if (atomic_load(&srv->stopping))
            return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "Shutting down.\n",
                             NULL, NULL);
        return send_text(conn, MHD_HTTP_OK, "text/plain", "Ready.\n", NULL, NULL);
    case ENDPOINT_METRICS: {
        strbuf text = STRBUF_INIT;
        metrics_render(&text);
        outbox_stats st = outbox_get_stats(srv->box);
        sb_printf(&text, "# HELP herald_outbox_queued Notifications waiting in the outbox for their "
                         "turn (backoff or arrival).\n"
                         "# TYPE herald_outbox_queued gauge\nherald_outbox_queued %zu\n"
                         "# HELP herald_outbox_in_flight Notifications the dispatcher holds: being "
                         "sent, or waiting for their target (rate limit, pause, a failing "
                         "target ahead of them). Queued plus in flight is the backlog.\n"
                         "# TYPE herald_outbox_in_flight gauge\nherald_outbox_in_flight %zu\n",
                  st.queued, st.in_flight);
        enum MHD_Result rc = send_text(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", sb_str(&text),
                                       NULL, NULL);
        sb_free(&text);
        return rc;
    }
    case ENDPOINT_RELOAD:
        return handle_reload(srv, conn);
    default:
        if (ctx->too_large) {
            metrics_count(METRIC_REQUESTS_REJECTED);
            return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body: larger than the limit of %zu bytes",
                              ctx->limit);
        }
        return handle_ingest(srv, conn, ctx);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_server *srv = cls;
    request_ctx *ctx = *con_cls;
    if (!ctx) {
        endpoint ep;
        char *receiver;
        const char *allow;
        unsigned status = match_endpoint(url, method, &ep, &receiver, &allow);
        if (status == 404)
            return send_error(conn, MHD_HTTP_NOT_FOUND, "no such path: %s", url);
        if (status == 405)
            return send_method_not_allowed(conn, method, url, allow);
        generation *g = generation_acquire();
        /* Probes answer without credentials: a load balancer or systemd
         * checks them, and they reveal nothing. */
        if (ep != ENDPOINT_HEALTHY && ep != ENDPOINT_READY) {
            auth_result verdict = auth_check(
                &g->conf.auth,
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
            if (verdict != AUTH_OK) {
                enum MHD_Result rc = reject_unauthorized(conn, &g->conf.auth, verdict, url);
                generation_unref(g);
                free(receiver);
                return rc;
            }
        }
        size_t limit = g->conf.max_body_bytes;
        int known = !receiver || config_receiver(&g->conf, receiver);
        generation_unref(g);
        if (!known) {
            enum MHD_Result rc = reject_unknown_receiver(conn, receiver);
            free(receiver);
            return rc;
        }
        const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > limit) {
            free(receiver);
            metrics_count(METRIC_REQUESTS_REJECTED);
            return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                              "body: %s bytes is larger than the limit of %zu bytes", length, limit);
        }
        ctx = xcalloc(1, sizeof *ctx);
        ctx->ep = ep;
        ctx->receiver = receiver;
        ctx->limit = limit;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* A body without Content-Length (chunked) is read and dropped
         * once past the limit, then refused as a whole. */
        if (!ctx->too_large && ctx->body.len + *upload_data_size <= ctx->limit)
            sb_append(&ctx->body, upload_data, *upload_data_size);
        else
            ctx->too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return handle_complete(srv, conn, ctx, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)conn;
    (void)code;
    request_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    uncount(cls, ctx); /* the client hung up before its answer */
    sb_free(&ctx->body);
    free(ctx->receiver);
    pipeline_output_free(&ctx->out); /* only what the outbox did not take */
    free(ctx);
    *con_cls = NULL;
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

http_server *http_start(const char *listen, unsigned threads, outbox *box, const char *data_dir,
                        reload_fn reload, void *reload_ctx, char *err, size_t err_cap)
{
    struct sockaddr_storage addr;
    char why[256];
    if (listen_parse(listen, &addr, why, sizeof why)) {
        snprintf(err, err_cap, "listen: %s", why);
        return NULL;
    }
    unsigned short port = ntohs(addr.ss_family == AF_INET
                                    ? ((struct sockaddr_in *)&addr)->sin_port
                                    : ((struct sockaddr_in6 *)&addr)->sin6_port);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    http_server *srv = xcalloc(1, sizeof *srv);
    generation *g = generation_acquire();
    const config *c = &g->conf;
    struct MHD_OptionItem tls_options[3] = {{MHD_OPTION_END, 0, NULL}};
    if (c->tls_cert_file) {
        /* The configuration checked the files but keeps no key in memory
         * (every reload would hold another copy): read them for the
         * listener, which keeps them for its life. */
        if (tls_read(c->tls_cert_file, c->tls_key_file, &srv->tls, err, err_cap)) {
            generation_unref(g);
            free(srv);
            return NULL;
        }
        flags |= MHD_USE_TLS;
        tls_options[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls.cert_pem};
        tls_options[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls.key_pem};
        tls_options[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    srv->box = box;
    srv->data_dir = xstrdup(data_dir);
    srv->reload = reload;
    srv->reload_ctx = reload_ctx;
    pthread_key_create(&srv->script_key, free_thread_script);
    srv->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_ARRAY, tls_options,
        MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, err_cap, "listen: cannot serve on %s: %s%s", listen, strerror(errno),
                 c->tls_cert_file ? " (or the TLS library refused the certificate; see above)"
                                  : "");
        generation_unref(g);
        pthread_key_delete(srv->script_key);
        tls_pair_free(&srv->tls);
        free(srv->data_dir);
        free(srv);
        return NULL;
    }
    int loopback = listen_is_loopback(&addr);
    if (c->tls_cert_file)
        log_info("tls", "serving HTTPS with %s (%s)", c->tls_cert_file, c->tls_summary);
    if (!loopback && !auth_required(&c->auth))
        log_warn("http", "serving on %s without auth: anyone who can reach it can post alerts, "
                         "read the history and drop dead letters; set auth in %s",
                 listen, c->path);
    else if (!loopback && !c->tls_cert_file)
        log_warn("http", "serving on %s without tls: the credentials of auth cross the network "
                         "in clear text; set tls in %s",
                 listen, c->path);
    generation_unref(g);
    return srv;
}

int http_is_tls(const http_server *s) { return s->tls.cert_pem != NULL; }

void http_stop_accepting(http_server *s)
{
    atomic_store(&s->stopping, 1);
    /* Every suspended request is resumed by the store's writer, which
     * answers each commit (a busy database gives up after its timeout);
     * libmicrohttpd must not stop with one still suspended. */
    struct timespec pause = {0, 5 * 1000 * 1000};
    while (atomic_load(&s->ingesting) > 0)
        nanosleep(&pause, NULL);
}

void http_stop(http_server *s)
{
    MHD_stop_daemon(s->daemon);
    pthread_key_delete(s->script_key);
    tls_pair_free(&s->tls);
    free(s->data_dir);
    free(s);
}
