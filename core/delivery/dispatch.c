#include "delivery/dispatch.h"

#include <stdlib.h>

#include "delivery/dispatch_internal.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/thread_name.h"

static void wake(void *ctx)
{
    dispatcher *d = ctx;
    curl_multi_wakeup(d->multi);
}

/* At the drain deadline: what is in flight or held goes back to the
 * outbox (and stays in the store for the next start). */
static void return_unfinished(dispatcher *d)
{
    abandon_calls(d);
    while (d->active) {
        transfer *t = d->active;
        transfer_abandon(d, t);
        put_back(d, t);
    }
    for (held_queue *q = d->held; q; q = q->next) {
        for (size_t i = 0; i < q->len; i++)
            outbox_retry(d->box, q->items[i]);
        q->len = 0;
    }
}

static void *run(void *arg)
{
    thread_name("dispatcher");
    dispatcher *d = arg;
    for (;;) {
        outbox_looking(d->box);
        int64_t now = wall_ms();
        int stopping = atomic_load(&d->stopping);
        int past_deadline = stopping && now >= d->drain_deadline_ms;
        launch_recorded(d, past_deadline);
        /* Not while the store holds a transfer: it is handed back soon. */
        if (past_deadline && !d->recording)
            break;
        apply_requests(d);
        launch_calls(d);
        int64_t next_due = -1;
        notification *n;
        while ((n = outbox_take_due(d->box, now, &next_due)))
            held_append(held_for(&d->held, n->receiver), n);
        int64_t next_wake = send_held(d, now);
        /* Stopping: what is in flight finishes and what can go now goes;
         * what would have to wait (a backoff, a paused or full target)
         * stays in the store for the next start. */
        if (stopping && d->open_requests == 0 && !d->recording &&
            (next_due < 0 || next_due > now))
            break;
        int running;
        curl_multi_perform(d->multi, &running);
        CURLMsg *msg;
        int left, settled = 0;
        while ((msg = curl_multi_info_read(d->multi, &left)))
            if (msg->msg == CURLMSG_DONE && !finish_call(d, msg->easy_handle, msg->data.result)) {
                transfer_finish(d, msg->easy_handle, msg->data.result);
                settled++;
            }
        /* A settled transfer may have been rescheduled sooner than next_due,
         * and frees a slot: look again before sleeping. */
        int timeout = settled ? 0 : 1000;
        int64_t wake_at = next_due < 0 ? next_wake
                          : next_wake < 0 ? next_due
                          : next_due < next_wake ? next_due : next_wake;
        if (wake_at >= 0 && timeout > 0) {
            int64_t until = wake_at - wall_ms();
            timeout = until < 0 ? 0 : until < timeout ? (int)until : timeout;
        }
        /* Returns early on transfer activity, curl's own timers or a wakeup. */
        curl_multi_poll(d->multi, NULL, 0, timeout, NULL);
    }
    return_unfinished(d);
    return NULL;
}

dispatcher *dispatcher_start(outbox *box, rate_limits *limits, char *err, size_t err_cap)
{
    dispatcher *d = xcalloc(1, sizeof *d);
    d->box = box;
    d->limits = limits;
    pthread_mutex_init(&d->recorded_lock, NULL);
    d->multi = curl_multi_init();
    if (!d->multi) {
        fail(err, err_cap, "cannot start the dispatcher: libcurl has no multi handle");
        goto fail;
    }
    /* curl's own cache follows the transfers running: after a burst it
     * closed connections the next one opened again (one send in twelve
     * connected anew). */
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)EASY_POOL_CAP);
    outbox_set_wakeup(box, wake, d);
    int rc = pthread_create(&d->thread, NULL, run, d);
    if (rc != 0) {
        fail_errno(err, err_cap, rc, "cannot start the dispatcher's thread");
        outbox_set_wakeup(box, NULL, NULL);
        curl_multi_cleanup(d->multi);
        goto fail;
    }
    return d;
fail:
    rate_limits_free(d->limits);
    pthread_mutex_destroy(&d->recorded_lock);
    free(d);
    return NULL;
}

size_t dispatcher_stop(dispatcher *d, int64_t drain_ms)
{
    d->drain_deadline_ms = wall_ms() + drain_ms;
    atomic_store(&d->stopping, 1);
    curl_multi_wakeup(d->multi);
    pthread_join(d->thread, NULL);
    outbox_set_wakeup(d->box, NULL, NULL);
    outbox_stats s = outbox_get_stats(d->box);
    easy_pool_free(&d->easy);
    curl_multi_cleanup(d->multi);
    rate_limits_free(d->limits);
    pthread_mutex_destroy(&d->recorded_lock);
    held_free_all(&d->held);
    free(d);
    return s.queued + s.in_flight;
}
