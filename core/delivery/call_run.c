/* herald's own requests (delivery/call.h) on the dispatcher's multi
 * handle, beside the deliveries: no channel, no rate limit, no retry. */
#include "delivery/dispatch_internal.h"

#include <string.h>

static size_t on_answer(char *data, size_t size, size_t count, void *ctx)
{
    http_call *c = ctx;
    sb_append(&c->answer, data, size * count); /* capped: the rest is dropped */
    return size * count;
}

static void start(dispatcher *d, http_call *c)
{
    CURL *e = easy_pool_take(&d->easy);
    if (!e) {
        http_call_finish(c, 0, "libcurl has no handle");
        http_call_release(c);
        return;
    }
    c->easy = e;
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (c->authorization) {
        strbuf header = {0};
        sb_printf(&header, "Authorization: %s", c->authorization);
        c->headers = curl_slist_append(c->headers, sb_str(&header));
        memset(header.data, 0, header.len);
        sb_free(&header);
    }
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->json_body);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "herald/" HERALD_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
        http_call_finish(c, 0, "libcurl refused the request");
        http_call_release(c);
        return;
    }
    c->next = d->calls;
    d->calls = c;
}

void launch_calls(dispatcher *d)
{
    http_call *c = outbox_take_calls(d->box);
    while (c) {
        http_call *next = c->next;
        start(d, c);
        c = next;
    }
}

/* Takes c off the dispatcher's list and the multi handle, and gives its
 * handle back. */
static void unlist(dispatcher *d, http_call *c)
{
    for (http_call **at = &d->calls; *at; at = &(*at)->next)
        if (*at == c) {
            *at = c->next;
            break;
        }
    curl_multi_remove_handle(d->multi, c->easy);
    easy_pool_give(&d->easy, c->easy);
    c->easy = NULL;
}

int finish_call(dispatcher *d, CURL *e, CURLcode result)
{
    http_call *c = d->calls;
    while (c && c->easy != e)
        c = c->next;
    if (!c)
        return 0;
    long status = 0;
    if (result == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    unlist(d, c);
    http_call_finish(c, status, result == CURLE_OK ? NULL : curl_easy_strerror(result));
    http_call_release(c);
    return 1;
}

void abandon_calls(dispatcher *d)
{
    while (d->calls) {
        http_call *c = d->calls;
        unlist(d, c);
        http_call_finish(c, 0, "herald is stopping");
        http_call_release(c);
    }
}
