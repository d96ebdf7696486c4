/* A transfer: the notifications one request carries to one target, with
 * the request, its curl handle and the answer's buffers. */
#include "delivery/dispatch_internal.h"

#include <stdlib.h>

#include "util/clock.h"

/* What classify reads of an answer is a status object: DingTalk's errcode,
 * Slack's "ok", a webhook's quoted start. The largest is Telegram's, whose
 * answer to a message echoes it whole (up to 4096 characters, JSON-escaped,
 * with its entities), and is read by parsing all of it: 64 KiB keeps that
 * whole with room to spare, and no more of a runaway answer is held. */
#define RESPONSE_BODY_CAP (64 * 1024)
/* Header lines: a few hundred bytes from an HTTP service; from an SMTP
 * server every reply line of the session, a line per recipient. */
#define RESPONSE_HEADERS_CAP (32 * 1024)

transfer *transfer_new(dispatcher *d, generation *g, const receiver *r, size_t target,
                       notification **items, size_t len)
{
    transfer *t = xcalloc(1, sizeof *t);
    t->d = d;
    t->items = items;
    t->len = len;
    t->gen = generation_ref(g);
    t->r = r;
    t->started_ms = wall_ms();
    t->body = (strbuf)STRBUF_MAX(RESPONSE_BODY_CAP);
    t->response_headers = (strbuf)STRBUF_MAX(RESPONSE_HEADERS_CAP);
    request_init(&t->req);
    channel_target_key(r->channel, r->instance, r->name, target, t->target_key,
                       sizeof t->target_key);
    return t;
}

void transfer_free(transfer *t)
{
    request_free(&t->req);
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->recipients);
    if (t->easy)
        easy_pool_give(&t->d->easy, t->easy);
    sb_free(&t->body);
    sb_free(&t->response_headers);
    free(t->items);
    free(t->admission.window);
    if (t->gen)
        generation_unref(t->gen);
    free(t);
}
