#include "http/server_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/utf8.h"

enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *type,
                          const char *text, const char *extra_header, const char *extra_value)
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

void client_address(struct MHD_Connection *conn, const char *unknown,
                    char out[INET6_ADDRSTRLEN])
{
    snprintf(out, INET6_ADDRSTRLEN, "%s", unknown);
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info && info->client_addr) {
        const struct sockaddr *sa = info->client_addr;
        const void *raw = sa->sa_family == AF_INET6
                              ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                              : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
        inet_ntop(sa->sa_family, raw, out, INET6_ADDRSTRLEN);
    }
}

/* "10.0.0.5, Alertmanager/0.25.0": which sender to fix, since a sender
 * does not retry a 4xx. */
static void describe_client(struct MHD_Connection *conn, char *out, size_t cap)
{
    char address[INET6_ADDRSTRLEN];
    client_address(conn, "unknown address", address);
    const char *agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_USER_AGENT);
    if (agent)
        snprintf(out, cap, "%s, %.*s", address, utf8_quote_len(agent, 64), agent);
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
    json_error_body(&body, msg);
    if (status >= 400 && status < 500 && status != 404 && status != 405) {
        char client[INET6_ADDRSTRLEN + 80];
        describe_client(conn, client, sizeof client);
        log_warn("http", "rejected with %u (from %s): %s", status, client, msg);
    }
    enum MHD_Result rc = send_text(conn, status, "application/json", sb_str(&body), header, value);
    sb_free(&body);
    return rc;
}

enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_error_with_header(conn, status, status == 503 ? MHD_HTTP_HEADER_RETRY_AFTER : NULL,
                                  "5", msg);
}

enum MHD_Result send_error_closing(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    return send_error_with_header(conn, status, MHD_HTTP_HEADER_CONNECTION, "close", msg);
}

/* Logged, unlike a stray path: the sender does not retry a 404, so these
 * alerts are gone unless someone sees this. */
void note_unknown_receiver(const char *receiver)
{
    log_warn("http", "alerts for unknown receiver \"%s\" refused with 404", receiver);
    metrics_count(METRIC_REQUESTS_REJECTED);
}

enum MHD_Result reject_unknown_receiver(struct MHD_Connection *conn, const char *receiver)
{
    note_unknown_receiver(receiver);
    return send_error(conn, MHD_HTTP_NOT_FOUND, "unknown receiver \"%s\"", receiver);
}

enum MHD_Result send_method_not_allowed(struct MHD_Connection *conn, const char *method,
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
enum MHD_Result reject_unauthorized(struct MHD_Connection *conn, const inbound_auth *auth,
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
