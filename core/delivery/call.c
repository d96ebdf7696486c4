#include "delivery/call.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/clock.h"

/* Alertmanager answers a silence with its id: a few dozen bytes. */
#define CALL_ANSWER_CAP (16 * 1024)
/* The dispatcher ends the transfer at timeout_ms; this covers the wait
 * before it takes the call. */
#define CALL_WAIT_MARGIN_MS 5000

http_call *http_call_new(const char *url, const char *authorization, const char *json_body,
                         int64_t timeout_ms)
{
    http_call *c = xcalloc(1, sizeof *c);
    c->url = xstrdup(url);
    c->authorization = authorization ? xstrdup(authorization) : NULL;
    c->json_body = xstrdup(json_body);
    c->timeout_ms = timeout_ms;
    c->answer = (strbuf)STRBUF_MAX(CALL_ANSWER_CAP);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->done_cond, NULL);
    c->refs = 2;
    return c;
}

int http_call_wait(http_call *c)
{
    struct timespec until = wall_deadline(c->timeout_ms + CALL_WAIT_MARGIN_MS);
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    while (!c->done && rc == 0)
        rc = pthread_cond_timedwait(&c->done_cond, &c->lock, &until);
    int done = c->done;
    pthread_mutex_unlock(&c->lock);
    return done ? 0 : -1;
}

void http_call_finish(http_call *c, long status, const char *error)
{
    pthread_mutex_lock(&c->lock);
    c->status = status;
    if (error && !c->error[0])
        snprintf(c->error, sizeof c->error, "%s", error);
    c->done = 1;
    pthread_cond_signal(&c->done_cond);
    pthread_mutex_unlock(&c->lock);
}

void http_call_release(http_call *c)
{
    pthread_mutex_lock(&c->lock);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (!last)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    if (c->authorization)
        OPENSSL_cleanse(c->authorization, strlen(c->authorization));
    free(c->authorization);
    free(c->url);
    free(c->json_body);
    sb_free(&c->answer);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->done_cond);
    free(c);
}
