#include "errcode_reply.h"

#include <stdio.h>
#include <stdlib.h>

/* How much of an unexpected body a verdict quotes. */
#define BODY_QUOTE_BYTES 160

int errcode_reply_read(const herald_host *host, const herald_response *resp, long *errcode,
                       char *errmsg, size_t errmsg_cap, herald_verdict *out)
{
    const char *body = resp->body ? resp->body : "";
    size_t quote_len = host->utf8_prefix(body, resp->body_len, BODY_QUOTE_BYTES);
    if (host->classify_http(resp, BODY_QUOTE_BYTES, out))
        return 0;
    if (resp->status != 200) {
        /* The robot API answers with 200; another 2xx came from elsewhere. */
        char head[32];
        snprintf(head, sizeof head, "HTTP %ld: ", resp->status);
        host->verdict(out, HERALD_FAIL, 0, head, body, quote_len);
        return 0;
    }
    char code[32];
    if (host->json_lookup(body, resp->body_len, "errcode", code, sizeof code) !=
        HERALD_JSON_NUMBER) {
        host->verdict(out, HERALD_FAIL, 0, "unexpected response: ", body, quote_len);
        return 0;
    }
    if (host->json_lookup(body, resp->body_len, "errmsg", errmsg, errmsg_cap) != HERALD_JSON_STRING)
        errmsg[0] = '\0';
    *errcode = strtol(code, NULL, 10);
    return 1;
}
