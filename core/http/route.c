#include "http/server_internal.h"

#include <stdlib.h>
#include <string.h>

#include "http/api.h"
#include "util/metrics.h"

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

unsigned route_match(const char *url, const char *method, endpoint *ep, char **receiver,
                     const char **allow)
{
    *receiver = NULL;
    *allow = "POST";
    const char *rest;
    if (after_prefix(url, API_PREFIX)) {
        *ep = ENDPOINT_API; /* api_handle judges paths and methods */
        return 0;
    }
    if ((rest = after_prefix(url, "/action/")) && *rest && !has_slash(rest)) {
        *ep = ENDPOINT_ACTION;
        *allow = "GET, HEAD, POST";
        return is_post(method) || is_get(method) ? 0 : 405;
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

enum MHD_Result route_answer(http_server *srv, struct MHD_Connection *conn, request_ctx *ctx,
                             const char *url, const char *method)
{
    switch (ctx->ep) {
    case ENDPOINT_API:
        return answer_api(srv, conn, ctx, url, method);
    case ENDPOINT_HEALTHY:
        return answer_healthy(conn);
    case ENDPOINT_READY:
        return answer_ready(srv, conn);
    case ENDPOINT_METRICS:
        return answer_metrics(srv, conn);
    case ENDPOINT_RELOAD:
        return answer_reload(srv, conn);
    case ENDPOINT_ACTION:
        return answer_action(srv, conn, ctx, url, method);
    default:
        /* A body without Content-Length (chunked) past the limit was read
         * and dropped: it is refused as a whole. */
        if (ctx->body.truncated) {
            metrics_count(METRIC_REQUESTS_REJECTED);
            return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                              "body: larger than the limit of %zu bytes", ctx->body.max);
        }
        return ingest_handle(srv, conn, ctx);
    }
}
