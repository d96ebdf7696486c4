/* An operator's requests (send-now, drop, unpause), applied on the
 * dispatcher's thread, which alone touches the notifications it took and
 * the rate limits. The store has recorded each already; here the
 * dispatcher's memory follows. A notification is in one of three places:
 * queued in the outbox, held for its target here, or in a transfer. */
#include "delivery/dispatch_internal.h"

#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"

/* Where a notification the outbox holds is now. */
typedef enum whereabouts { HELD, IN_FLIGHT } whereabouts;

/* n, taken out of the outbox's queue if it was there, is then held. */
static whereabouts locate(dispatcher *d, notification *n, held_queue **q, long *at)
{
    *q = held_for(&d->held, n->receiver);
    if (outbox_take(d->box, n))
        held_put_back(*q, n);
    *at = held_find(*q, n);
    return *at >= 0 ? HELD : IN_FLIGHT;
}

static void send_now(dispatcher *d, uint64_t id)
{
    notification *n = outbox_find(d->box, id);
    held_queue *q;
    long at;
    if (!n)
        log_info("queue", "send-now %llu: not waiting any more (delivered, dead or dropped "
                 "meanwhile)", (unsigned long long)id);
    else if (locate(d, n, &q, &at) == IN_FLIGHT)
        log_info(n->receiver, "send-now %llu: an attempt is in flight already",
                 (unsigned long long)id);
    else
        n->send_now = 1; /* send_held sends it first */
}

static void drop(dispatcher *d, uint64_t id)
{
    notification *n = outbox_find(d->box, id);
    held_queue *q;
    long at;
    if (!n) {
        log_info("queue", "drop %llu: not waiting any more", (unsigned long long)id);
        return;
    }
    log_info(n->receiver, "notification %llu dropped by an operator: not delivered",
             (unsigned long long)id);
    if (locate(d, n, &q, &at) == IN_FLIGHT) {
        n->dropped = 1; /* its transfer's outcome ends it (settle.c) */
        return;
    }
    held_remove_at(q, (size_t)at);
    outbox_forget(d->box, n, 0);
}

static void unpause(dispatcher *d, const char *name)
{
    generation *g = generation_acquire();
    const receiver *r = g ? config_receiver(&g->conf, name) : NULL;
    if (!r) {
        log_warn("queue", "unpause: no receiver \"%s\" in the configuration", name);
    } else {
        int64_t now = wall_ms();
        size_t targets = channel_targets(r->channel, r->instance), paused = 0;
        for (size_t i = 0; i < targets; i++) {
            char key[512];
            channel_target_key(r->channel, r->instance, r->name, i, key, sizeof key);
            paused += (size_t)rate_unpause(d->limits, key, now);
            const char *target = rate_target_id(d->limits, key);
            outbox_clear_pause(d->box, target);
            metrics_target_unpaused(target);
        }
        log_info(r->name, "unpaused by an operator: %zu of its %zu target%s %s paused", paused,
                 targets, targets == 1 ? "" : "s", paused == 1 ? "was" : "were");
    }
    if (g)
        generation_unref(g);
}

void apply_requests(dispatcher *d)
{
    queue_request *q = outbox_take_requests(d->box);
    while (q) {
        queue_request *next = q->next;
        if (q->kind == QUEUE_SEND_NOW)
            send_now(d, q->id);
        else if (q->kind == QUEUE_DROP)
            drop(d, q->id);
        else
            unpause(d, q->receiver ? q->receiver : "");
        queue_request_free(q);
        q = next;
    }
}
