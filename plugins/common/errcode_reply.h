/* The reply of the DingTalk and WeCom robot APIs: HTTP 200 with
 * {"errcode": N, "errmsg": "..."}, where N decides. Compiled into the
 * plugins that read it, like markdown_inline.h. */
#ifndef HERALD_ERRCODE_REPLY_H
#define HERALD_ERRCODE_REPLY_H

#include <herald/plugin.h>

/* Judges what is not the errcode's to decide: an HTTP error as the host
 * does (429 and 5xx retried), any other status or a body without errcode
 * as permanent, quoting the start of the body. Returns 1 with *errcode and
 * errmsg ("" when absent) set when the channel must judge the code, or 0
 * with *out already set. */
int errcode_reply_read(const herald_host *host, const herald_response *resp, long *errcode,
                       char *errmsg, size_t errmsg_cap, herald_verdict *out);

#endif
