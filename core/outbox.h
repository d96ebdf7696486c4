/* The hand-off between ingest and delivery. Ingest puts whole batches in
 * (all or nothing, so a 200 always covers every notification of a request);
 * the dispatcher takes due notifications out and reports their fate.
 *
 * This implementation keeps notifications in memory. It is the seam where
 * the durable store takes over: the pipeline and the dispatcher only use
 * these functions. */
#ifndef HERALD_OUTBOX_H
#define HERALD_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "notification.h"

typedef struct outbox outbox;

outbox *outbox_new(size_t capacity);
/* Frees the outbox and every notification still in it. */
void outbox_free(outbox *box);

/* Called (from the putting thread) after notifications were added. */
void outbox_set_wakeup(outbox *box, void (*wakeup)(void *ctx), void *ctx);

/* Takes ownership of all n notifications, or of none and returns -1 when
 * the outbox cannot hold them all right now. */
int outbox_put(outbox *box, notification **items, size_t n);

/* Removes and returns the notification due first if it is due at `now_ms`;
 * else NULL, with *next_due_ms set to the earliest due time (or -1). */
notification *outbox_take_due(outbox *box, int64_t now_ms, int64_t *next_due_ms);
/* Puts a taken notification back for another attempt at n->next_attempt_ms. */
void outbox_retry(outbox *box, notification *n);
/* Ends a taken notification: delivered, or given up (dead letter). */
void outbox_delivered(outbox *box, notification *n);
void outbox_dead_letter(outbox *box, notification *n, const char *reason);

typedef struct outbox_stats {
    size_t queued;      /* waiting in the outbox */
    size_t in_flight;   /* taken and not yet ended */
    uint64_t delivered;
    uint64_t dead_letters;
} outbox_stats;

outbox_stats outbox_get_stats(outbox *box);

#endif
