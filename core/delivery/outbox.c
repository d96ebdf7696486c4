#include "delivery/outbox.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/memory.h"
#include "util/strbuf.h"

struct outbox {
    pthread_mutex_t lock;
    size_t capacity;
    notification *head;  /* ordered by next_attempt_ms, then arrival */
    notification *tail;  /* new notifications are due now: usually appended */
    notification *live;  /* every one held, queued or in flight (live_next) */
    store *durable;
    size_t reserved;     /* capacity held by puts waiting for their commit */
    outbox_stats stats;
    size_t unsettled;    /* outcomes handed to the store, not yet on disk */
    int settle_waiter;   /* the dispatcher waits for one of them */
    uint64_t next_id;
    queue_request *requests, **requests_tail; /* an operator's, for the dispatcher */
    http_call *calls, **calls_tail;           /* herald's own requests, for the dispatcher */
    void (*wakeup)(void *ctx);
    void *wakeup_ctx;
    int wake_sent;       /* since the dispatcher last began to look */
};

outbox *outbox_new(size_t capacity, store *durable)
{
    outbox *box = xcalloc(1, sizeof *box);
    pthread_mutex_init(&box->lock, NULL);
    box->capacity = capacity;
    box->durable = durable;
    box->next_id = 1;
    box->requests_tail = &box->requests;
    box->calls_tail = &box->calls;
    return box;
}

size_t outbox_capacity(const outbox *box) { return box->capacity; }

store *outbox_store(const outbox *box) { return box->durable; }

void outbox_free(outbox *box)
{
    if (!box)
        return;
    while (box->head) {
        notification *n = box->head;
        box->head = n->next;
        notification_free(n);
    }
    queue_request *q = outbox_take_requests(box);
    while (q) {
        queue_request *next = q->next;
        queue_request_free(q);
        q = next;
    }
    http_call *c = outbox_take_calls(box);
    while (c) {
        http_call *next = c->next;
        http_call_finish(c, 0, "herald is stopping");
        http_call_release(c);
        c = next;
    }
    pthread_mutex_destroy(&box->lock);
    free(box);
}

void outbox_set_wakeup(outbox *box, void (*wakeup)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&box->lock);
    box->wakeup = wakeup;
    box->wakeup_ctx = ctx;
    box->wake_sent = 0;
    pthread_mutex_unlock(&box->lock);
}

void outbox_looking(outbox *box)
{
    pthread_mutex_lock(&box->lock);
    box->wake_sent = 0;
    pthread_mutex_unlock(&box->lock);
}

/* Caller holds the lock. Stable: equal times keep arrival order. */
static void insert_sorted(outbox *box, notification *n)
{
    box->stats.queued++;
    n->next = NULL;
    if (!box->head || box->tail->next_attempt_ms <= n->next_attempt_ms) {
        if (box->head)
            box->tail->next = n;
        else
            box->head = n;
        box->tail = n;
        return;
    }
    notification **at = &box->head;
    while ((*at)->next_attempt_ms <= n->next_attempt_ms)
        at = &(*at)->next;
    n->next = *at;
    *at = n;
}

/* Caller holds the lock: n enters the outbox, until delivered or given up. */
static void live_add(outbox *box, notification *n)
{
    n->live_prev = NULL;
    n->live_next = box->live;
    if (box->live)
        box->live->live_prev = n;
    box->live = n;
}

/* Caller holds the lock. */
static void live_remove(outbox *box, notification *n)
{
    if (n->live_prev)
        n->live_prev->live_next = n->live_next;
    else
        box->live = n->live_next;
    if (n->live_next)
        n->live_next->live_prev = n->live_prev;
}

/* Under the lock: once outbox_set_wakeup(NULL) returns, nobody calls into
 * a dispatcher that is going away. The wakeup does not block.
 *
 * One wakeup until the dispatcher looks again: what changed since is
 * seen when it does. The writer answers a commit's requests one after
 * the other, and a wakeup for each (a system call, and a turn of the
 * dispatcher's loop) was a tenth of the writer's time. */
static void wake(outbox *box)
{
    pthread_mutex_lock(&box->lock);
    if (box->wakeup && !box->wake_sent) {
        box->wake_sent = 1;
        box->wakeup(box->wakeup_ctx);
    }
    pthread_mutex_unlock(&box->lock);
}

typedef struct pending_put {
    outbox *box;
    notification **items;
    size_t n;
    outbox_put_fn done;
    void *ctx;
    size_t held[HELD_ESCALATION + 1]; /* by reason */
} pending_put;

/* Schedules what the store took (or everything, without a store). */
static void schedule_put(pending_put *p, int stored)
{
    outbox *box = p->box;
    size_t held_back = 0;
    pthread_mutex_lock(&box->lock);
    box->reserved -= p->n;
    for (size_t i = 0; i < p->n && stored; i++) {
        /* an escalation waits in the store: without one, it is never sent */
        if (box->durable ? p->items[i]->id == 0 : p->items[i]->escalate_at_ms != 0) {
            p->held[p->items[i]->held]++;
            notification_free(p->items[i]);
            held_back++;
            continue;
        }
        if (!box->durable)
            p->items[i]->id = box->next_id++;
        notification_forget_alerts(p->items[i]);
        live_add(box, p->items[i]);
        insert_sorted(box, p->items[i]);
    }
    pthread_mutex_unlock(&box->lock);
    if (stored && p->n > held_back)
        wake(box);
}

static void committed(void *ctx, int failed, const char *error)
{
    pending_put *p = ctx;
    schedule_put(p, !failed);
    p->done(p->ctx, failed ? OUTBOX_STORE_FAILED : OUTBOX_ACCEPTED, p->held[HELD_DUPLICATE],
            p->held[HELD_REPEAT], error);
    free(p);
}

void outbox_put(outbox *box, notification **items, size_t n, const alert_report *seen,
                outbox_put_fn done, void *ctx)
{
    pthread_mutex_lock(&box->lock);
    int full = box->stats.queued + box->stats.in_flight + box->reserved + n > box->capacity;
    if (!full)
        box->reserved += n;
    pthread_mutex_unlock(&box->lock);
    if (full) {
        done(ctx, OUTBOX_FULL, 0, 0, "");
        return;
    }
    pending_put *p = xcalloc(1, sizeof *p);
    *p = (pending_put){box, items, n, done, ctx, {0}};
    if (box->durable)
        store_commit(box->durable, items, n, seen, committed, p);
    else
        committed(p, 0, "");
}

void outbox_restore(outbox *box, notification *n)
{
    pthread_mutex_lock(&box->lock);
    live_add(box, n);
    insert_sorted(box, n);
    pthread_mutex_unlock(&box->lock);
    wake(box);
}

notification *outbox_take_due(outbox *box, int64_t now_ms, int64_t *next_due_ms)
{
    pthread_mutex_lock(&box->lock);
    notification *n = box->head;
    if (n && n->next_attempt_ms <= now_ms) {
        box->head = n->next;
        if (!box->head)
            box->tail = NULL;
        n->next = NULL;
        box->stats.queued--;
        box->stats.in_flight++;
    } else {
        *next_due_ms = n ? n->next_attempt_ms : -1;
        n = NULL;
    }
    pthread_mutex_unlock(&box->lock);
    return n;
}

static void outcome_written(void *ctx, int failed, const char *error)
{
    (void)failed;
    (void)error;
    outbox *box = ctx;
    pthread_mutex_lock(&box->lock);
    box->unsettled--;
    int wake_dispatcher = box->settle_waiter;
    box->settle_waiter = 0;
    pthread_mutex_unlock(&box->lock);
    if (wake_dispatcher)
        wake(box);
}

/* With a store, counts an outcome about to be handed to it (before the
 * hand-over: the writer may answer at once) and returns 1. */
static int settling(outbox *box)
{
    if (!box->durable)
        return 0;
    pthread_mutex_lock(&box->lock);
    box->unsettled++;
    pthread_mutex_unlock(&box->lock);
    return 1;
}

size_t outbox_unsettled(outbox *box, int wake_when_one_settles)
{
    pthread_mutex_lock(&box->lock);
    size_t n = box->unsettled;
    if (n && wake_when_one_settles)
        box->settle_waiter = 1;
    pthread_mutex_unlock(&box->lock);
    return n;
}

void outbox_retry(outbox *box, notification *n)
{
    if (settling(box))
        store_mark_retry(box->durable, n, outcome_written, box);
    n->attempted = 0;
    pthread_mutex_lock(&box->lock);
    box->stats.in_flight--;
    insert_sorted(box, n);
    pthread_mutex_unlock(&box->lock);
}

void outbox_note_retry(outbox *box, notification *n)
{
    if (settling(box))
        store_mark_retry(box->durable, n, outcome_written, box);
    n->attempted = 0;
}

/* A notification of an exceptional request held its message and payload
 * until now: what they took goes back to the system with them. */
static void free_settled(notification *n)
{
    size_t size = n->payload_len + (n->content.text ? strlen(n->content.text) : 0);
    notification_free(n);
    if (size >= MEMORY_EXCEPTIONAL_BYTES)
        memory_give_back();
}

/* A notification the dispatcher is done with leaves those in flight,
 * counted in `tally` (delivered, dead letters) when it is one of them. */
static void let_go(outbox *box, notification *n, uint64_t *tally)
{
    pthread_mutex_lock(&box->lock);
    live_remove(box, n);
    box->stats.in_flight--;
    if (tally)
        (*tally)++;
    pthread_mutex_unlock(&box->lock);
    free_settled(n);
}

void outbox_delivered(outbox *box, notification *n)
{
    if (settling(box))
        store_mark_delivered(box->durable, n, outcome_written, box);
    let_go(box, n, &box->stats.delivered);
}


void outbox_dead_letter(outbox *box, notification *n, const char *reason)
{
    /* Without a store (send-test) nothing is kept and the id numbers no
     * stored notification: saying "dead letter" would point at another. */
    if (box->durable)
        log_error(n->receiver, "dead letter: notification %llu (%s, %zu alert%s) after %u attempt%s: %s",
                  (unsigned long long)n->id, n->status, n->alert_count,
                  n->alert_count == 1 ? "" : "s", n->attempts, n->attempts == 1 ? "" : "s", reason);
    else
        log_error(n->receiver, "not delivered: message (%s, %zu alert%s) after %u attempt%s: %s",
                  n->status, n->alert_count, n->alert_count == 1 ? "" : "s", n->attempts,
                  n->attempts == 1 ? "" : "s", reason);
    if (settling(box))
        store_mark_dead(box->durable, n, reason, outcome_written, box);
    let_go(box, n, &box->stats.dead_letters);
}

void outbox_dropped(outbox *box, notification *n, const char *reason)
{
    log_info(n->receiver, "notification %llu (%s, %zu alert%s) not delivered: %s",
             (unsigned long long)n->id, n->status, n->alert_count,
             n->alert_count == 1 ? "" : "s", reason);
    if (settling(box))
        store_mark_dropped(box->durable, n, reason, outcome_written, box);
    let_go(box, n, NULL);
}

void outbox_request(outbox *box, queue_request *q)
{
    pthread_mutex_lock(&box->lock);
    q->next = NULL;
    *box->requests_tail = q;
    box->requests_tail = &q->next;
    pthread_mutex_unlock(&box->lock);
    wake(box);
}

void outbox_call(outbox *box, http_call *c)
{
    pthread_mutex_lock(&box->lock);
    c->next = NULL;
    *box->calls_tail = c;
    box->calls_tail = &c->next;
    pthread_mutex_unlock(&box->lock);
    wake(box);
}

http_call *outbox_take_calls(outbox *box)
{
    pthread_mutex_lock(&box->lock);
    http_call *list = box->calls;
    box->calls = NULL;
    box->calls_tail = &box->calls;
    pthread_mutex_unlock(&box->lock);
    return list;
}

queue_request *outbox_take_requests(outbox *box)
{
    pthread_mutex_lock(&box->lock);
    queue_request *list = box->requests;
    box->requests = NULL;
    box->requests_tail = &box->requests;
    pthread_mutex_unlock(&box->lock);
    return list;
}

notification *outbox_find(outbox *box, uint64_t id)
{
    pthread_mutex_lock(&box->lock);
    notification *n = box->live;
    while (n && n->id != id)
        n = n->live_next;
    pthread_mutex_unlock(&box->lock);
    return n;
}

int outbox_take(outbox *box, notification *n)
{
    pthread_mutex_lock(&box->lock);
    notification **at = &box->head, *before = NULL;
    while (*at && *at != n) {
        before = *at;
        at = &(*at)->next;
    }
    int queued = *at != NULL;
    if (queued) {
        *at = n->next;
        if (box->tail == n)
            box->tail = before;
        n->next = NULL;
        box->stats.queued--;
        box->stats.in_flight++;
    }
    pthread_mutex_unlock(&box->lock);
    return queued;
}

void outbox_forget(outbox *box, notification *n, int permanent)
{
    if (n->attempted && settling(box)) {
        if (permanent)
            store_mark_dead(box->durable, n, n->last_error, outcome_written, box);
        else
            store_mark_retry(box->durable, n, outcome_written, box);
    }
    let_go(box, n, NULL);
}

void outbox_clear_pause(outbox *box, const char *target)
{
    if (box->durable)
        store_clear_pause(box->durable, target);
}

int outbox_admit_send(outbox *box, const char *target, int64_t at_ms, send_admission *admission,
                      store_committed_fn answered, void *ctx)
{
    if (!box->durable)
        return 0;
    store_admit_send(box->durable, target, at_ms, admission, answered, ctx);
    return 1;
}

unsigned outbox_replicas(outbox *box) { return box->durable ? store_live_replicas() : 1; }

void outbox_record_pause(outbox *box, const char *target, int64_t until_ms)
{
    if (box->durable)
        store_record_pause(box->durable, target, until_ms);
}

int64_t outbox_oldest_created_ms(outbox *box)
{
    /* A walk over the backlog (at most the capacity), once a scrape: the
     * list cannot stay in age order, since a requeued dead letter starts
     * its age again under its old id. */
    pthread_mutex_lock(&box->lock);
    int64_t oldest = 0;
    for (const notification *n = box->live; n; n = n->live_next)
        if (oldest == 0 || n->created_ms < oldest)
            oldest = n->created_ms;
    pthread_mutex_unlock(&box->lock);
    return oldest;
}

outbox_stats outbox_get_stats(outbox *box)
{
    pthread_mutex_lock(&box->lock);
    outbox_stats s = box->stats;
    pthread_mutex_unlock(&box->lock);
    return s;
}
