#include "delivery/dispatch_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "delivery/backoff.h"
#include "delivery/digest.h"
#include "delivery/ratelimit.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"

/* A target that fails keeps its messages in order: the first is retried
 * when the target's pause ends, the rest wait behind it. After this many
 * attempts a message steps aside to its own backoff, so one message a
 * service keeps refusing cannot hold up the others until max_age. */
#define HEAD_OF_LINE_ATTEMPTS 8

void give_up(dispatcher *d, notification *n, const char *reason)
{
    metrics_count_receiver(METRIC_DEAD_LETTERS, n->receiver);
    outbox_dead_letter(d->box, n, reason);
}

void put_back(dispatcher *d, transfer *t)
{
    /* Not an attempt's outcome: its answer never came, or it never went. */
    for (size_t i = 0; i < t->len; i++) {
        t->items[i]->attempted = 0;
        outbox_retry(d->box, t->items[i]);
    }
    t->len = 0;
    transfer_free(t);
}

/* An operator dropped n while this attempt was in flight: the attempt is
 * recorded (the store keeps n dropped) and nothing follows it. A success
 * goes through outbox_delivered like any: it did reach the service. */
static void end_dropped(dispatcher *d, notification *n, int permanent, const char *error)
{
    log_info(n->receiver, "notification %llu, dropped while in flight: attempt %u failed (%s); "
             "not retried", (unsigned long long)n->id, n->attempts, error);
    notification_set_error(n, error);
    outbox_forget(d->box, n, permanent);
}

static void settle_retry(dispatcher *d, transfer *t, const herald_verdict *v, const char *where,
                         int64_t now)
{
    const delivery_settings *ds = &t->gen->conf.delivery;
    unsigned failures = rate_record_failure(d->limits, t->target_key, now);
    int64_t delay = retry_delay_ms(failures, ds->retry_initial_ms, ds->retry_max_delay_ms);
    if (v->retry_after_ms > delay)
        delay = v->retry_after_ms;
    rate_pause(d->limits, t->target_key, now + delay);
    /* A penalty the service imposed (DingTalk's 10-minute block) outlives
     * a restart; a backoff of our own does not: a restart often follows a
     * fix, and then the target is tried at once. */
    if (v->retry_after_ms > 0) {
        const char *target = rate_target_id(d->limits, t->target_key);
        outbox_record_pause(d->box, target, now + delay);
        metrics_target_paused(target, now + delay);
    }
    notification **again = xcalloc(t->len, sizeof *again);
    size_t kept = 0;
    for (size_t i = 0; i < t->len; i++) {
        notification *n = t->items[i];
        if (n->dropped) {
            end_dropped(d, n, 0, v->reason);
            continue;
        }
        notification_set_error(n, v->reason);
        if (now + delay - n->created_ms > ds->max_age_ms) {
            char reason[512];
            snprintf(reason, sizeof reason, "gave up at the maximum age of %lld s; last error: %s",
                     (long long)(ds->max_age_ms / 1000), v->reason);
            give_up(d, n, reason);
            continue;
        }
        log_warn(n->receiver, "notification %llu to %s: attempt %u failed (%s); retrying in %lld ms",
                 (unsigned long long)n->id, where, n->attempts, v->reason, (long long)delay);
        metrics_count_receiver(METRIC_DELIVERY_RETRIES, n->receiver);
        n->next_attempt_ms = now + delay;
        if (n->attempts < HEAD_OF_LINE_ATTEMPTS) {
            outbox_note_retry(d->box, n);
            again[kept++] = n;
        } else {
            int64_t own = retry_delay_ms(n->attempts, ds->retry_initial_ms, ds->retry_max_delay_ms);
            n->next_attempt_ms = now + (own > delay ? own : delay);
            outbox_retry(d->box, n);
        }
    }
    /* The items may all be freed by now: the receiver's name is the config's. */
    held_queue *q = held_for(&d->held, t->r->name);
    for (size_t i = 0; i < kept; i++)
        held_put_back(q, again[i]);
    free(again);
}

void settle(dispatcher *d, transfer *t, const herald_verdict *v)
{
    int64_t now = wall_ms();
    if (t->sent)
        rate_record_done(d->limits, t->target_key);
    char *where = request_redacted_url(&t->req);
    const notification *first = t->items[0];
    if (v->kind == HERALD_OK) {
        rate_record_success(d->limits, t->target_key);
        if (t->len == 1)
            log_info(first->receiver, "delivered notification %llu (%s, %zu alert%s) to %s in %lld ms",
                     (unsigned long long)first->id, first->status, first->alert_count,
                     first->alert_count == 1 ? "" : "s", where, (long long)(now - t->started_ms));
        else
            log_info(first->receiver, "delivered a digest of %zu notifications (%zu alerts) to %s in %lld ms",
                     t->len, digest_alert_count(t->items, t->len), where,
                     (long long)(now - t->started_ms));
        for (size_t i = 0; i < t->len; i++) {
            metrics_count_receiver(METRIC_DELIVERIES_OK, t->items[i]->receiver);
            metrics_observe_delivery(t->items[i]->receiver, now - t->items[i]->created_ms);
            outbox_delivered(d->box, t->items[i]);
        }
    } else if (v->kind == HERALD_FAIL && t->len > 1) {
        /* The digest was refused (too long, say), not its notifications:
         * each goes again by itself and meets its own verdict. */
        log_warn(first->receiver, "a digest of %zu notifications was refused (%s); "
                 "sending them one by one", t->len, v->reason);
        held_queue *q = held_for(&d->held, t->r->name);
        for (size_t i = 0; i < t->len; i++) {
            notification *n = t->items[i];
            if (n->dropped) {
                end_dropped(d, n, 0, v->reason);
                continue;
            }
            n->send_alone = 1;
            notification_set_error(n, v->reason);
            outbox_note_retry(d->box, n);
            held_put_back(q, n);
        }
    } else if (v->kind == HERALD_FAIL) {
        for (size_t i = 0; i < t->len; i++) {
            if (t->items[i]->dropped)
                end_dropped(d, t->items[i], 1, v->reason);
            else
                give_up(d, t->items[i], v->reason);
        }
    } else {
        settle_retry(d, t, v, where, now);
    }
    t->len = 0;
    free(where);
}

void settle_now(dispatcher *d, transfer *t, herald_verdict_kind kind, const char *reason)
{
    herald_verdict v = {.abi = HERALD_ABI_HEADER_INIT(herald_verdict), .kind = kind};
    /* Long reasons are cut to what a verdict holds. */
    snprintf(v.reason, sizeof v.reason, "%.*s", (int)sizeof v.reason - 1, reason);
    settle(d, t, &v);
}
