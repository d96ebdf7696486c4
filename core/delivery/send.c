#include "delivery/dispatch_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "delivery/batch.h"
#include "delivery/digest.h"
#include "delivery/ratelimit.h"
#include "util/log.h"
#include "util/metrics.h"

/* Looks again at `at` unless an earlier look is due already. */
static void wake_no_later(int64_t *next_wake, int64_t at)
{
    if (*next_wake < 0 || at < *next_wake)
        *next_wake = at;
}

/* On the store's writer thread. Written or not, admitted or refused, the
 * transfer goes back to the dispatcher, which decides (launch_recorded).
 * A store that cannot write admits: the message goes (a disk that refuses
 * the record refuses the delivery results too, and the store has logged
 * why). */
static void send_answered(void *ctx, int failed, const char *error)
{
    (void)error;
    transfer *t = ctx;
    dispatcher *d = t->d;
    t->admission_failed = failed;
    pthread_mutex_lock(&d->recorded_lock);
    t->next = d->recorded;
    d->recorded = t;
    pthread_mutex_unlock(&d->recorded_lock);
    curl_multi_wakeup(d->multi);
}

/* Another replica took the window's last slot, or paused the target: the
 * transfer never went, and its notifications wait again in order, as if
 * never taken, for the slot the window (now the shared one) gives. */
static void wait_again(dispatcher *d, transfer *t)
{
    rate_record_done(d->limits, t->target_key);
    held_queue *q = held_for(&d->held, t->r->name);
    for (size_t i = 0; i < t->len; i++) {
        notification *n = t->items[i];
        n->attempts--;
        n->attempted = 0;
        if (n->dropped) { /* by an operator meanwhile: it never went, and now never will */
            outbox_forget(d->box, n, 0);
            continue;
        }
        n->send_now = t->admission.past_pause;
        held_put_back(q, n);
    }
    log_debug(t->r->name, "%zu notification%s wait: %s", t->len, t->len == 1 ? "" : "s",
              t->admission.paused_until_ms && !t->admission.past_pause
                  ? "another replica saw the target paused"
                  : "other replicas used the target's window");
    t->len = 0;
    transfer_free(t);
}

void launch_recorded(dispatcher *d, int past_deadline)
{
    pthread_mutex_lock(&d->recorded_lock);
    transfer *list = d->recorded;
    d->recorded = NULL;
    pthread_mutex_unlock(&d->recorded_lock);
    while (list) {
        transfer *t = list;
        list = t->next;
        d->recording--;
        int refused = !t->admission_failed && t->admission.refused;
        if (!t->admission_failed) {
            rate_follow(d->limits, t->target_key, &t->r->rate, &t->admission);
            /* a pause another replica saw shows in this one's metrics too */
            if (t->admission.paused_until_ms)
                metrics_target_paused(rate_target_id(d->limits, t->target_key),
                                      t->admission.paused_until_ms);
        }
        if (past_deadline)
            put_back(d, t);
        else if (refused)
            wait_again(d, t);
        else
            transfer_launch(d, t);
    }
}

/* The request for a single notification, or for a digest of several. */
static int prepare(transfer *t, size_t more, size_t target, size_t item_cap, char *err,
                   size_t err_cap)
{
    const receiver *r = t->r;
    herald_message msg;
    rendered merged = {0};
    if (t->len == 1) {
        notification_as_message(t->items[0], &msg);
    } else {
        digest_build(t->items, t->len, more, item_cap, r->text_budget, &merged);
        const char *status = "resolved";
        for (size_t i = 0; i < t->len; i++)
            if (strcmp(t->items[i]->status, "firing") == 0)
                status = "firing";
        rendered_as_message(&merged, r->name, status, digest_alert_count(t->items, t->len), &msg);
    }
    msg.target = target;
    int failed = r->channel->prepare(r->instance, &msg, &t->req, err, err_cap) != 0 || !t->req.url;
    rendered_free(&merged);
    return failed ? -1 : 0;
}

/* Sends the k items (which it takes; k > 1: as one digest, with `more`
 * alerts still waiting) through the receiver's target number `target`. */
static void start_items(dispatcher *d, generation *g, const receiver *r, notification **items,
                        size_t k, size_t more, size_t target, size_t item_cap)
{
    transfer *t = transfer_new(d, g, r, target, items, k);
    int operator_asked = k == 1 && items[0]->send_now;
    for (size_t i = 0; i < k; i++) {
        t->items[i]->attempts++;
        t->items[i]->attempted = 1;
        t->items[i]->send_now = 0;
    }
    char err[512] = "";
    if (prepare(t, more, target, item_cap, err, sizeof err)) {
        char reason[600];
        snprintf(reason, sizeof reason, "channel %s cannot prepare the message: %s",
                 r->channel_name, err[0] ? err : "no URL");
        settle_now(d, t, HERALD_FAIL, reason);
        transfer_free(t);
        return;
    }
    rate_record_send(d->limits, t->target_key, &r->rate, t->started_ms);
    t->sent = 1;
    /* Admitted first: a send is still counted after a crash or restart,
     * so the restarted limiter cannot overrun the window (or send into a
     * penalty) with what it forgot; and replicas sharing the target never
     * overrun it together. */
    if (rate_is_limited(&r->rate)) {
        t->admission = rate_admission_ask(&r->rate, operator_asked);
        if (outbox_admit_send(d->box, rate_target_id(d->limits, t->target_key), t->started_ms,
                              &t->admission, send_answered, t)) {
            d->recording++;
            return;
        }
    }
    transfer_launch(d, t);
}

/* Sends the first k held notifications of q (k > 1: as one digest). */
static void start_batch(dispatcher *d, held_queue *q, generation *g, const receiver *r, size_t k,
                        size_t target, size_t item_cap, int64_t now)
{
    notification **items = xcalloc(k, sizeof *items);
    memcpy(items, q->items, k * sizeof *items);
    held_remove_front(q, k);
    if (k > 1)
        q->storm_until = now + RATE_WINDOW_MS;
    start_items(d, g, r, items, k, digest_alert_count(q->items, q->len), target, item_cap);
}

/* How many notifications may go now: open requests stay under
 * max_in_flight, and sent notifications whose outcome is not on disk yet
 * (those of open requests included) under max_unrecorded, so that a crash
 * sends at most that many twice. */
static size_t room_to_send(dispatcher *d, const delivery_settings *ds, int wake_when_one_settles)
{
    if (d->open_requests >= ds->max_in_flight)
        return 0;
    size_t unrecorded = d->in_flight + outbox_unsettled(d->box, wake_when_one_settles);
    return unrecorded < ds->max_unrecorded ? ds->max_unrecorded - unrecorded : 0;
}

/* The receiver's target that can take a message soonest (*best) and when,
 * with the slots left across all its targets in *free_slots (NULL: not
 * wanted). past_pauses: by the rate windows alone, as if no target were
 * paused (a send the operator asked for). */
static int64_t soonest_target(dispatcher *d, const receiver *r, size_t targets, int64_t now,
                              int past_pauses, size_t *best, unsigned *free_slots)
{
    int64_t best_slot = INT64_MAX;
    *best = 0;
    if (free_slots)
        *free_slots = 0;
    for (size_t i = 0; i < targets; i++) {
        char key[512];
        channel_target_key(r->channel, r->instance, r->name, i, key, sizeof key);
        int64_t slot = past_pauses ? rate_window_slot(d->limits, key, &r->rate, now)
                                   : rate_next_slot(d->limits, key, &r->rate, now);
        if (slot < best_slot) {
            best_slot = slot;
            *best = i;
        }
        if (free_slots) {
            unsigned f = rate_free_slots(d->limits, key, &r->rate, now);
            *free_slots = f > UINT_MAX - *free_slots ? UINT_MAX : *free_slots + f;
        }
    }
    return best_slot;
}

/* When a storm's next digest may go: the receiver's last send and the
 * window's share of one message (0: no rate to pace by). */
static int64_t paced_from(dispatcher *d, const receiver *r, size_t targets)
{
    if (!r->rate.per_minute)
        return 0;
    int64_t last = 0;
    for (size_t i = 0; i < targets; i++) {
        char key[512];
        channel_target_key(r->channel, r->instance, r->name, i, key, sizeof key);
        int64_t sent = rate_last_send(d->limits, key);
        if (sent > last)
            last = sent;
    }
    return last ? last + RATE_WINDOW_MS / ((int64_t)r->rate.per_minute * (int64_t)targets) : 0;
}

/* What an operator asked to send now goes first, each alone, out of
 * order: past its target's pause (a service's penalty included: the
 * operator asked, for this one message), never past the rate windows,
 * which only bring that penalty on. Returns 0 when one still waits for
 * a slot (the normal flow waits behind it then), 1 when none is left. */
static int send_asked(dispatcher *d, held_queue *q, generation *g, const receiver *r,
                      size_t targets, int64_t now, int64_t *next_wake)
{
    const delivery_settings *ds = &g->conf.delivery;
    for (size_t i = 0; i < q->len;) {
        if (!q->items[i]->send_now) {
            i++;
            continue;
        }
        if (!room_to_send(d, ds, 0)) {
            if (room_to_send(d, ds, 1))
                wake_no_later(next_wake, now);
            return 0;
        }
        /* a robot that is not paused first, if the receiver has one free */
        size_t best;
        int64_t slot = soonest_target(d, r, targets, now, 0, &best, NULL);
        if (slot > now)
            slot = soonest_target(d, r, targets, now, 1, &best, NULL);
        if (slot > now) {
            if (slot != RATE_AFTER_ANSWER)
                wake_no_later(next_wake, slot);
            return 0;
        }
        notification **items = xcalloc(1, sizeof *items);
        items[0] = q->items[i];
        held_remove_at(q, i);
        log_info(r->name, "notification %llu: sent now, as an operator asked",
                 (unsigned long long)items[0]->id);
        start_items(d, g, r, items, 1, 0, best, 0);
    }
    return 1;
}

/* Notifications waiting behind a failing target reach max_age too: they
 * are given up here, not one per failed attempt of the one in front. */
typedef struct expiry {
    dispatcher *d;
    int64_t max_age_ms;
} expiry;

static void expire_one(void *ctx, notification *n)
{
    const expiry *e = ctx;
    char reason[512];
    snprintf(reason, sizeof reason,
             "gave up at the maximum age of %lld s, waiting for its target; last error: %s",
             (long long)(e->max_age_ms / 1000), n->last_error ? n->last_error : "none");
    give_up(e->d, n, reason);
}

/* What quiet hours held goes together when they end: as many digests
 * as it takes, while the receiver's targets and the room allow. */
static void send_released(dispatcher *d, held_queue *q, generation *g, const receiver *r,
                          size_t targets, int64_t now)
{
    const delivery_settings *ds = &g->conf.delivery;
    size_t released;
    while ((released = quiet_released(q)) > 1) {
        size_t room = room_to_send(d, ds, 0), best;
        if (room < 2 || soonest_target(d, r, targets, now, 0, &best, NULL) > now)
            return;
        size_t k = digest_fit(q->items, released < room ? released : room, r->text_budget, 0);
        if (k < 2)
            return;
        notification **items = xcalloc(k, sizeof *items);
        memcpy(items, q->items, k * sizeof *items);
        held_remove_front(q, k);
        for (size_t i = 0; i < k; i++)
            items[i]->quiet_until_ms = 0;
        log_info(r->name, "%zu notifications held by quiet hours go as one digest", k);
        start_items(d, g, r, items, k, 0, best, 0);
    }
}

/* Sends from q what its receiver's targets allow now (while it is muted,
 * only what an operator asked for); returns when to look again (-1: no
 * need). */
static int64_t send_from(dispatcher *d, held_queue *q, generation *g, const receiver *r,
                         int muted, int64_t now)
{
    int64_t next_wake = -1;
    const delivery_settings *ds = &g->conf.delivery;
    size_t targets = channel_targets(r->channel, r->instance);
    batch_limits limits = {
        .per_minute = r->rate.per_minute,
        .targets = targets,
        .merge = !channel_needs_payload(r->channel, r->instance),
        .text_budget = r->text_budget,
        .max_unrecorded = ds->max_unrecorded,
        .replicas = outbox_replicas(d->box),
    };
    if (!send_asked(d, q, g, r, targets, now, &next_wake) || muted)
        return next_wake;
    if (limits.merge)
        send_released(d, q, g, r, targets, now);
    while (q->len) {
        limits.room = room_to_send(d, ds, 0);
        if (!limits.room) {
            /* Woken when an outcome reaches the disk; at once if one did
             * meanwhile. */
            if (room_to_send(d, ds, 1))
                wake_no_later(&next_wake, now);
            break;
        }
        size_t best;
        int64_t best_slot = soonest_target(d, r, targets, now, 0, &best, &limits.free_slots);
        limits.paced_from = paced_from(d, r, targets);
        limits.in_storm = now < q->storm_until;
        if (best_slot > now) {
            /* RATE_AFTER_ANSWER: the probe's answer wakes the loop */
            if (best_slot != RATE_AFTER_ANSWER)
                wake_no_later(&next_wake, best_slot);
            break;
        }
        batch_plan plan = batch_next(q->items, q->len, &limits, now);
        if (plan.action == BATCH_GATHER) {
            wake_no_later(&next_wake, plan.until);
            break;
        }
        if (plan.action == BATCH_AWAIT_ROOM) {
            wake_no_later(&next_wake, room_to_send(d, ds, 1) > limits.room ? now : plan.until);
            break;
        }
        start_batch(d, q, g, r, plan.count, best, plan.item_cap, now);
    }
    return next_wake;
}

int64_t send_held(dispatcher *d, int64_t now)
{
    int64_t next_wake = -1;
    generation *g = generation_acquire();
    for (held_queue *q = d->held; q; q = q->next) {
        const receiver *r = g ? config_receiver(&g->conf, q->receiver) : NULL;
        if (q->len && !r) {
            for (size_t i = 0; i < q->len; i++)
                give_up(d, q->items[i], "receiver is no longer in the configuration");
            q->len = 0;
        }
        int64_t quiet_until = q->len ? quiet_hold(d, q, g, r, now) : 0;
        if (quiet_until)
            wake_no_later(&next_wake, quiet_until);
        if (!q->len)
            continue;
        /* held by quiet hours: they age from the end, not in them */
        if (!quiet_until && now >= q->next_age_check) {
            expiry e = {d, g->conf.delivery.max_age_ms};
            held_expire(q, e.max_age_ms, now, expire_one, &e);
            q->next_age_check = now + 1000;
        }
        int64_t wake = send_from(d, q, g, r, quiet_until != 0, now);
        if (wake >= 0)
            wake_no_later(&next_wake, wake);
    }
    if (g)
        generation_unref(g);
    return next_wake;
}
