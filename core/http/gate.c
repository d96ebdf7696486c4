#include "http/server_internal.h"

#include <stdlib.h>
#include <string.h>

#include "http/request_rules.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/utf8.h"

/* A name and a comment, form-encoded. */
#define ACTION_BODY_MAX 4096

static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

enum MHD_Result gate_refuse_nul_path(struct MHD_Connection *conn)
{
    metrics_count(METRIC_REQUESTS_REJECTED);
    return send_error(conn, MHD_HTTP_BAD_REQUEST, "path: %%00 (a NUL character) is not allowed");
}

/* A request that two servers could read differently: with both lengths,
 * a proxy in front may take one and herald the other, and the rest of
 * the body becomes a request of its own (request smuggling). Answered
 * with Connection: close, since where this request ends is unknown. */
static const char *framing_error(struct MHD_Connection *conn, const char *version)
{
    if (header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH) &&
        header(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return "both Content-Length and Transfer-Encoding: the body's length is ambiguous";
    if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && !header(conn, MHD_HTTP_HEADER_HOST))
        return "HTTP/1.1 request without a Host header";
    return NULL;
}

static int is_read(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* What a browser may send to another site without asking first is a
 * form (or text/plain) POST: herald takes no such thing. Ingest needs
 * JSON; a bodiless write (reload, retry, drop) may omit Content-Type, as
 * curl does, but any it names must be JSON. */
static enum MHD_Result check_browser(http_server *srv, struct MHD_Connection *conn,
                                     const char *url, const char *method, endpoint ep, int *ok)
{
    *ok = 0;
    const char *origin = header(conn, "Origin");
    const char *fetch_site = header(conn, "Sec-Fetch-Site");
    if (request_is_cross_site(origin, fetch_site, header(conn, MHD_HTTP_HEADER_HOST),
                              srv->tls.cert_pem != NULL)) {
        metrics_count(METRIC_REQUESTS_REJECTED);
        return send_error(conn, MHD_HTTP_FORBIDDEN,
                          "%s %s: refused from a page of another site (Origin: %s, "
                          "Sec-Fetch-Site: %s)",
                          method, url, origin ? origin : "none", fetch_site ? fetch_site : "none");
    }
    const char *type = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
    int needs_body = ep == ENDPOINT_WEBHOOK || ep == ENDPOINT_DINGTALK || ep == ENDPOINT_PROMETHEUS;
    if ((type || needs_body) && !content_type_is_json(type)) {
        metrics_count(METRIC_REQUESTS_REJECTED);
        return send_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "Content-Type: got %s%s%s, expected " JSON_MEDIA_TYPE, type ? "\"" : "",
                          type ? type : "none", type ? "\"" : "");
    }
    *ok = 1;
    return MHD_YES;
}

/* An action link's page: its signed token is the authorization (a phone
 * follows the link without herald's API credentials), and its form is
 * what a browser sends, so neither auth nor the browser checks apply;
 * each client address is held to a small rate instead. */
static enum MHD_Result admit_action(http_server *srv, struct MHD_Connection *conn,
                                    request_ctx **ctx)
{
    char address[INET6_ADDRSTRLEN];
    client_address(conn, "unknown", address);
    if (!action_rate_take(srv->action_rate, address, wall_ms())) {
        metrics_count(METRIC_REQUESTS_REJECTED);
        log_warn("action", "refused a request from %s: over its rate", address);
        return send_action_refusal(conn, MHD_HTTP_TOO_MANY_REQUESTS, "请稍后再试 · Slow down",
                                   "请求太频繁，请稍后再试 · Too many requests: try again in a "
                                   "minute");
    }
    request_ctx *admitted = xcalloc(1, sizeof *admitted);
    admitted->ep = ENDPOINT_ACTION;
    admitted->body = (strbuf)STRBUF_MAX(ACTION_BODY_MAX);
    *ctx = admitted;
    return MHD_YES;
}

enum MHD_Result gate_admit(http_server *srv, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, request_ctx **ctx)
{
    const char *framing = framing_error(conn, version);
    if (framing) {
        metrics_count(METRIC_REQUESTS_REJECTED);
        return send_error_closing(conn, MHD_HTTP_BAD_REQUEST, framing);
    }
    size_t valid = utf8_valid_length(url, strlen(url));
    if (url[valid]) {
        metrics_count(METRIC_REQUESTS_REJECTED);
        return send_error(conn, MHD_HTTP_BAD_REQUEST,
                          "path: byte 0x%02X at offset %zu is not UTF-8 (after percent-decoding)",
                          (unsigned char)url[valid], valid);
    }
    endpoint ep;
    char *receiver;
    const char *allow;
    unsigned status = route_match(url, method, &ep, &receiver, &allow);
    if (status == 404)
        return send_error(conn, MHD_HTTP_NOT_FOUND, "no such path: %s", url);
    if (status == 405)
        return send_method_not_allowed(conn, method, url, allow);
    if (ep == ENDPOINT_ACTION)
        return admit_action(srv, conn, ctx);
    generation *g = generation_acquire();
    /* Probes answer without credentials: a load balancer or systemd
     * checks them, and they reveal nothing. */
    if (ep != ENDPOINT_HEALTHY && ep != ENDPOINT_READY) {
        auth_result verdict = auth_check(&g->conf.auth, header(conn, MHD_HTTP_HEADER_AUTHORIZATION));
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
    if (!is_read(method)) {
        int ok;
        enum MHD_Result rc = check_browser(srv, conn, url, method, ep, &ok);
        if (!ok) {
            free(receiver);
            return rc;
        }
    }
    if (!known) {
        enum MHD_Result rc = reject_unknown_receiver(conn, receiver);
        free(receiver);
        return rc;
    }
    const char *length = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull(length, NULL, 10) > limit) {
        free(receiver);
        metrics_count(METRIC_REQUESTS_REJECTED);
        return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                          "body: %s bytes is larger than the limit of %zu bytes", length, limit);
    }
    request_ctx *admitted = xcalloc(1, sizeof *admitted);
    admitted->ep = ep;
    admitted->receiver = receiver;
    /* A body without Content-Length (chunked) stops growing at the limit
     * and is refused once read (route_answer). */
    admitted->body = (strbuf)STRBUF_MAX(limit);
    admitted->budget_limit = limit;
    admitted->body_claim = length ? (size_t)strtoull(length, NULL, 10) : limit;
    *ctx = admitted;
    return MHD_YES;
}
