/* curl's easy handles, reused: a fresh one allocates and sets up some
 * 20 KiB (its buffers among them), and at thousands of sends a second
 * that was a tenth of the dispatcher's CPU, most of it in glibc's slow
 * paths. Used on the dispatcher's thread only. */
#ifndef HERALD_EASY_POOL_H
#define HERALD_EASY_POOL_H

#include <curl/curl.h>

/* Idle handles kept: as many as delivery.max_in_flight's default. */
#define EASY_POOL_CAP 64

typedef struct easy_pool {
    CURL *idle[EASY_POOL_CAP];
    unsigned len;
} easy_pool;

/* An idle handle, or a new one; NULL when curl has none. */
CURL *easy_pool_take(easy_pool *p);
/* Takes back a handle that is off every multi handle, reset. */
void easy_pool_give(easy_pool *p, CURL *e);
void easy_pool_free(easy_pool *p);

#endif
