/* A request herald makes for itself, not a notification: creating a
 * silence in Alertmanager for an action link. The dispatcher owns all
 * network I/O, so the thread that needs the answer queues the call
 * (outbox_call) and waits; the dispatcher runs it on its multi handle
 * beside the deliveries and wakes the waiter. No retry: the person who
 * asked sees the outcome and may ask again. */
#ifndef HERALD_DELIVERY_CALL_H
#define HERALD_DELIVERY_CALL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>

#include "util/strbuf.h"

typedef struct http_call {
    /* asked */
    char *url;
    char *authorization;      /* the Authorization header's value, a secret; NULL: none */
    char *json_body;          /* POSTed as application/json */
    int64_t timeout_ms;
    /* answered */
    long status;              /* 0: no answer (error says why) */
    strbuf answer;            /* capped */
    char error[CURL_ERROR_SIZE];
    /* the dispatcher's while it runs */
    CURL *easy;
    struct curl_slist *headers;
    struct http_call *next;
    /* both sides hold a reference: the waiter may give up first */
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int done;
    int refs;
} http_call;

http_call *http_call_new(const char *url, const char *authorization, const char *json_body,
                         int64_t timeout_ms);
/* Waits until the dispatcher finished it or timeout_ms and a margin
 * passed: 0 when it finished (status, answer, error set), -1 when not. */
int http_call_wait(http_call *c);
/* Fills the outcome and wakes the waiter (the dispatcher's side). */
void http_call_finish(http_call *c, long status, const char *error);
/* Drops one reference; the last frees it. */
void http_call_release(http_call *c);

#endif
