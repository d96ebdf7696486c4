#include "http/server_internal.h"

#include <stdlib.h>

#include "util/metrics.h"

enum MHD_Result gate_admit(struct MHD_Connection *conn, const char *url, const char *method,
                           request_ctx **ctx)
{
    endpoint ep;
    char *receiver;
    const char *allow;
    unsigned status = route_match(url, method, &ep, &receiver, &allow);
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
    request_ctx *admitted = xcalloc(1, sizeof *admitted);
    admitted->ep = ep;
    admitted->receiver = receiver;
    /* A body without Content-Length (chunked) stops growing at the limit
     * and is refused once read (route_answer). */
    admitted->body = (strbuf)STRBUF_MAX(limit);
    *ctx = admitted;
    return MHD_YES;
}
