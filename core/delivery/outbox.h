/* The hand-off between ingest and delivery. Ingest puts whole batches in
 * (all or nothing, so a 200 always covers every notification of a request);
 * the dispatcher takes due notifications out and reports their fate.
 *
 * The schedule (what is due when) lives in memory; with a store, every
 * notification is durable before outbox_put returns and every fate is
 * recorded, so a restart resumes from the store. */
#ifndef HERALD_OUTBOX_H
#define HERALD_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "delivery/call.h"
#include "notification/notification.h"
#include "store/store.h"

typedef struct outbox outbox;

/* `durable` may be NULL: the schedule alone, in memory (unit tests). */
outbox *outbox_new(size_t capacity, store *durable);
/* Frees the outbox and every notification still in it. */
void outbox_free(outbox *box);
/* Fixed at creation: the most notifications queued and in flight at once. */
size_t outbox_capacity(const outbox *box);
/* The store it was made with (NULL: none). */
store *outbox_store(const outbox *box);

/* Called (from the putting thread) after notifications were added, or
 * anything else the dispatcher acts on changed; once until the dispatcher
 * calls outbox_looking. */
void outbox_set_wakeup(outbox *box, void (*wakeup)(void *ctx), void *ctx);
/* The dispatcher is about to look at all it acts on: the next change
 * wakes it again. */
void outbox_looking(outbox *box);

typedef enum outbox_put_result {
    OUTBOX_ACCEPTED = 0,
    OUTBOX_FULL = -1,        /* the backlog is at capacity */
    OUTBOX_STORE_FAILED = -2 /* the store could not write; err says why */
} outbox_put_result;

/* How a put ended. On OUTBOX_ACCEPTED the outbox owns the notifications
 * (those the store held back, as duplicates or as repeats, are already
 * freed and counted); on a refusal the caller still owns them. */
typedef void (*outbox_put_fn)(void *ctx, outbox_put_result result, size_t duplicates,
                              size_t repeats, const char *error);

/* Puts the notifications in, all or none, and tells the store's alert
 * state what was seen (NULL: nothing, as for a test message). `done` runs once they are
 * durable and scheduled, or refused: right away when the backlog is full
 * or there is no store, else later on the store's writer thread, so one
 * fsync covers many requests. items must stay alive until then. */
void outbox_put(outbox *box, notification **items, size_t n, const alert_report *seen,
                outbox_put_fn done, void *ctx);
/* Schedules a notification that is already durable (recovered at start,
 * or requeued by `herald queue retry`), whatever the capacity. */
void outbox_restore(outbox *box, notification *n);

/* Removes and returns the notification due first if it is due at `now_ms`;
 * else NULL, with *next_due_ms set to the earliest due time (or -1). */
notification *outbox_take_due(outbox *box, int64_t now_ms, int64_t *next_due_ms);
/* Puts a taken notification back for another attempt at n->next_attempt_ms. */
void outbox_retry(outbox *box, notification *n);
/* Records a failed attempt of a taken notification that the dispatcher
 * keeps, to retry it first when its target is free again. */
void outbox_note_retry(outbox *box, notification *n);
/* Ends a taken notification: delivered, or given up (dead letter). */
void outbox_delivered(outbox *box, notification *n);
void outbox_dead_letter(outbox *box, notification *n, const char *reason);
/* Ends a taken notification herald chose not to deliver (quiet hours with
 * muted = "drop"): kept as dropped, for the reason. */
void outbox_dropped(outbox *box, notification *n, const char *reason);

/* How many outcomes (delivered, retry, dead letter) are not on disk yet:
 * a crash now would send those notifications again, so the dispatcher
 * counts them against max_unrecorded. With `wake_when_one_settles`, the
 * wakeup runs when the next one is written. */
size_t outbox_unsettled(outbox *box, int wake_when_one_settles);

/* A send to a rate-limited target (named by a digest), admitted and made
 * durable before it goes: returns 1 and calls `answered` as
 * store_admit_send does, or returns 0 without a store (send at once). */
int outbox_admit_send(outbox *box, const char *target, int64_t at_ms, send_admission *admission,
                      store_committed_fn answered, void *ctx);
/* How many replicas share the targets' windows (1: this process alone). */
unsigned outbox_replicas(outbox *box);
/* A pause a service imposed on a target, kept for the next start. */
void outbox_record_pause(outbox *box, const char *target, int64_t until_ms);

/* An operator's request (store_on_requests), for the dispatcher's thread:
 * outbox_request queues it and wakes the dispatcher, which takes them all,
 * oldest first, and frees them. */
void outbox_request(outbox *box, queue_request *q);
queue_request *outbox_take_requests(outbox *box);
/* A request of herald's own (delivery/call.h), for the dispatcher's
 * thread: outbox_call queues it (the dispatcher then holds one of its
 * references) and wakes the dispatcher, which takes them all. */
void outbox_call(outbox *box, http_call *c);
http_call *outbox_take_calls(outbox *box);
/* The notification `id` if the outbox holds it (queued, or taken and not
 * ended); for the dispatcher's thread, which alone may touch a taken one. */
notification *outbox_find(outbox *box, uint64_t id);
/* Takes n (from outbox_find) out of the queue as outbox_take_due would;
 * 0 when it was not queued (the dispatcher has it). */
int outbox_take(outbox *box, notification *n);
/* Ends a taken notification an operator dropped (the store has it
 * dropped already). An attempt that was in flight failed: recorded as a
 * retry, or with `permanent` as dead, for the reason in n->last_error. */
void outbox_forget(outbox *box, notification *n, int permanent);
/* An operator cleared the target's pause: forgotten by the store too. */
void outbox_clear_pause(outbox *box, const char *target);

typedef struct outbox_stats {
    size_t queued;      /* waiting in the outbox */
    size_t in_flight;   /* taken and not yet ended */
    uint64_t delivered;
    uint64_t dead_letters;
} outbox_stats;

outbox_stats outbox_get_stats(outbox *box);

/* When the oldest notification still held (queued or in flight) was
 * accepted; 0 when the outbox holds none. */
int64_t outbox_oldest_created_ms(outbox *box);

#endif
