/* A response built the way the dispatcher builds one, for tests that hand
 * responses to classify() or to the host's HTTP services. */
#ifndef HERALD_TEST_RESPONSE_FIXTURE_H
#define HERALD_TEST_RESPONSE_FIXTURE_H

#include <string.h>

#include "plugin/host.h"

/* `header` is one "Name: value" line, or NULL; free with response_free(). */
static inline host_response fixture_response(long status, const char *body, const char *header)
{
    host_response resp = {0};
    resp.pub.abi = (herald_abi_header)HERALD_ABI_HEADER_INIT(herald_response);
    resp.pub.status = status;
    resp.pub.body = xstrdup(body);
    resp.pub.body_len = strlen(body);
    if (header) {
        resp.headers = xcalloc(1, sizeof *resp.headers);
        resp.headers[0] = xstrdup(header);
        resp.headers_len = 1;
    }
    return resp;
}

#endif
