/* The plugin test kit (herald/plugin_test.h): thin access to the host
 * table, requests and responses of host.c for tests outside herald. Built
 * only into libherald-plugin-test, never into herald. */
#include "herald/plugin_test.h"

#include <stdlib.h>
#include <string.h>

#include "plugin/host.h"
#include "util/strbuf.h"

const herald_host *herald_test_host(void) { return host_table(); }

void herald_test_set_clock(int64_t (*now_ms)(void)) { host_set_clock(now_ms); }

herald_request *herald_test_request_new(void)
{
    herald_request *req = xmalloc(sizeof *req);
    request_init(req);
    return req;
}

void herald_test_request_free(herald_request *req)
{
    if (!req)
        return;
    request_free(req);
    free(req);
}

herald_test_request herald_test_request_read(const herald_request *req)
{
    herald_test_request seen = {
        .url = req->url,
        .log_url = req->log_url,
        .method = req->method,
        .headers = (const char *const *)req->headers,
        .headers_len = req->headers_len,
        .body = sb_str(&req->body),
        .body_len = req->body.len,
        .user = req->user,
        .password = req->password,
        .mail_from = req->mail_from,
        .recipients = (const char *const *)req->recipients,
        .recipients_len = req->recipients_len,
        .tls = req->tls,
    };
    return seen;
}

herald_response *herald_test_response_new(long status, const char *body,
                                          const char *const *headers)
{
    host_response *resp = xcalloc(1, sizeof *resp);
    resp->pub.abi = (herald_abi_header)HERALD_ABI_HEADER_INIT(herald_response);
    resp->pub.status = status;
    resp->pub.body = xstrdup(body ? body : "");
    resp->pub.body_len = strlen(resp->pub.body);
    while (headers && headers[resp->headers_len])
        resp->headers_len++;
    resp->headers = xcalloc(resp->headers_len + 1, sizeof *resp->headers);
    for (size_t i = 0; i < resp->headers_len; i++)
        resp->headers[i] = xstrdup(headers[i]);
    return &resp->pub;
}

void herald_test_response_free(herald_response *resp)
{
    if (!resp)
        return;
    /* Every response the kit hands out heads a host_response. */
    host_response *full = (host_response *)resp;
    response_free(full);
    free(full);
}
