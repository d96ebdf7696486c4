/* The action page answers anyone who has a link, without herald's API
 * credentials, so each client address gets a small token bucket: a
 * burst of ACTION_BURST requests, then one every ACTION_REFILL_MS. The
 * table is fixed in size; an address not seen for long gives its slot
 * to another, so a flood of addresses costs no memory. */
#include "http/server_internal.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ACTION_BURST 20
#define ACTION_REFILL_MS 3000
#define SLOTS 1024
#define PROBES 8

typedef struct bucket {
    char address[INET6_ADDRSTRLEN];
    double tokens;
    int64_t at_ms;
} bucket;

struct action_rate {
    pthread_mutex_t lock;
    bucket slots[SLOTS];
};

action_rate *action_rate_new(void)
{
    action_rate *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void action_rate_free(action_rate *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static size_t slot_of(const char *address)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *address; address++)
        h = (h ^ (unsigned char)*address) * 1099511628211ULL;
    return (size_t)(h % SLOTS);
}

static void refill(bucket *b, int64_t now_ms)
{
    b->tokens += (double)(now_ms - b->at_ms) / ACTION_REFILL_MS;
    if (b->tokens > ACTION_BURST)
        b->tokens = ACTION_BURST;
    b->at_ms = now_ms;
}

int action_rate_take(action_rate *r, const char *address, int64_t now_ms)
{
    pthread_mutex_lock(&r->lock);
    size_t first = slot_of(address);
    bucket *found = NULL, *stalest = &r->slots[first];
    for (size_t i = 0; i < PROBES && !found; i++) {
        bucket *b = &r->slots[(first + i) % SLOTS];
        if (strcmp(b->address, address) == 0)
            found = b;
        else if (b->at_ms < stalest->at_ms)
            stalest = b;
    }
    if (!found) {
        found = stalest;
        snprintf(found->address, sizeof found->address, "%s", address);
        found->tokens = ACTION_BURST;
        found->at_ms = now_ms;
    }
    refill(found, now_ms);
    int allowed = found->tokens >= 1;
    if (allowed)
        found->tokens -= 1;
    pthread_mutex_unlock(&r->lock);
    return allowed;
}
