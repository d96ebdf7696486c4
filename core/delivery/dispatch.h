/* The dispatcher: the one thread that does network I/O. It takes due
 * notifications from the outbox, has the receiver's channel prepare a
 * request, runs transfers concurrently on one libcurl multi handle
 * (keep-alive connections and TLS sessions are shared), has the channel
 * classify each response, and retries RETRY verdicts with exponential
 * backoff and jitter (delivery/backoff.h) until the notification's
 * maximum age. */
#ifndef HERALD_DISPATCH_H
#define HERALD_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "delivery/outbox.h"
#include "delivery/ratelimit.h"

typedef struct dispatcher dispatcher;

/* Starts the thread, which takes over `limits` (restored from the store,
 * or new). Delivery settings come from the generation current at each
 * attempt, so a reload applies to queued notifications too. Returns NULL
 * with err set when the thread cannot start. */
dispatcher *dispatcher_start(outbox *box, rate_limits *limits, char *err, size_t err_cap);

/* Stops: transfers in flight finish and notifications that can go at once
 * go; what would have to wait (a backoff, a paused or rate-limited target)
 * stays in the outbox (and the store). Gives up at drain_ms, putting back
 * what is still in flight. Joins the thread, frees the dispatcher and
 * returns how many notifications were not delivered. */
size_t dispatcher_stop(dispatcher *d, int64_t drain_ms);

#endif
