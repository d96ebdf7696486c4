/* Notifications the dispatcher took from the outbox that wait for a free
 * target of their receiver: one queue per receiver, in arrival order, so
 * a target that fails keeps its messages in order. Used by the dispatcher
 * thread only. */
#ifndef HERALD_HELD_H
#define HERALD_HELD_H

#include <stddef.h>
#include <stdint.h>

#include "notification/notification.h"

typedef struct held_queue {
    char *receiver;
    notification **items;
    size_t len;
    int64_t next_age_check;
    int64_t storm_until;   /* a digest went: what follows within the window is the storm's */
    /* Quiet hours (delivery/quiet.c): muted until then (0: not muted), as
     * the generation numbered quiet_generation says, with the note the
     * held notifications show; their age counts from when the last ended. */
    int64_t quiet_until;
    unsigned quiet_generation;
    char *quiet_note;
    int64_t quiet_ended_ms;
    struct held_queue *next;
} held_queue;

/* The receiver's queue in *list, added empty when it has none. */
held_queue *held_for(held_queue **list, const char *receiver);
/* Adds n at the back: it arrived last. */
void held_append(held_queue *q, notification *n);
/* Puts back a notification that was tried: before the first held one
 * that arrived after it (a higher id), so the queue stays in arrival
 * order whatever order failed transfers finish in. */
void held_put_back(held_queue *q, notification *n);
/* Where n is in the queue; -1 when it is not there. */
long held_find(const held_queue *q, const notification *n);
/* Removes the one at `at`, keeping the others' order. */
void held_remove_at(held_queue *q, size_t at);
/* Removes the first n (they are being sent). */
void held_remove_front(held_queue *q, size_t n);
/* Removes every notification older than max_age_ms at `now` (counted
 * from the end of the queue's last quiet hours, if later) and hands
 * each to `expired`, in queue order; the rest keep their order. */
void held_expire(held_queue *q, int64_t max_age_ms, int64_t now,
                 void (*expired)(void *ctx, notification *n), void *ctx);
/* Frees every queue of *list, not the notifications they still hold. */
void held_free_all(held_queue **list);

#endif
