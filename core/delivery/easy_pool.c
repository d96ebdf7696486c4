#include "delivery/easy_pool.h"

CURL *easy_pool_take(easy_pool *p)
{
    return p->len ? p->idle[--p->len] : curl_easy_init();
}

void easy_pool_give(easy_pool *p, CURL *e)
{
    if (p->len == EASY_POOL_CAP) {
        curl_easy_cleanup(e);
        return;
    }
    curl_easy_reset(e); /* nothing of the last transfer's options stays */
    p->idle[p->len++] = e;
}

void easy_pool_free(easy_pool *p)
{
    while (p->len)
        curl_easy_cleanup(p->idle[--p->len]);
}
