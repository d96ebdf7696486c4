/* What the front of a receiver's held queue does now: go alone, go merged
 * with those behind it as a digest, or wait a moment. Digests are for
 * storms: once more messages wait than a rate-limited robot's window has
 * slots left (less a reserve), the slots left are shared among everything
 * waiting, each message cut to its share, so every alert goes out now
 * rather than a minute later. Pure: the dispatcher supplies the limits. */
#ifndef HERALD_BATCH_H
#define HERALD_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "notification/notification.h"

/* How long messages waiting for a nearly spent window gather before they
 * go out as digests: a storm arrives over a moment, not all at once. Once
 * the window is down to its reserve, its digests are paced, one per
 * window / rate (3 s at 20 a minute), so that the window lasts the storm:
 * what arrives late in it goes seconds later, not after the window slides
 * on. */
#define DIGEST_GATHER_MS 2000

typedef struct batch_limits {
    unsigned free_slots;   /* left in the receiver's targets' windows; UINT_MAX: no limit */
    unsigned per_minute;   /* the receiver's rate per target (0: none) */
    size_t targets;        /* the receiver's targets (robots) */
    int merge;             /* the channel takes digests: it does not forward
                            * each notification's own request body */
    size_t text_budget;    /* bytes of text one message carries; 0: any */
    size_t room;           /* notifications that may go now, at least 1 */
    size_t max_unrecorded; /* the most that may ever go unrecorded */
    unsigned replicas;     /* replicas sharing the targets' windows (0 or 1: this one) */
    int64_t paced_from;    /* a storm's next digest goes no sooner (0: at once) */
    int in_storm;          /* a digest went within the window: the storm goes on, and
                            * what arrives now gathers too, not one by one */
} batch_limits;

typedef enum batch_action {
    BATCH_SEND,       /* send the first `count` (more than one: as a digest) */
    BATCH_GATHER,     /* a storm is gathering: look again at `until` */
    BATCH_AWAIT_ROOM, /* the digest would be cut short by the room: wait for outcomes to
                       * reach the disk (and widen it), until `until` at most */
} batch_action;

typedef struct batch_plan {
    batch_action action;
    size_t count;     /* BATCH_SEND: how many go */
    size_t item_cap;  /* BATCH_SEND: the bytes each text keeps (0: whole) */
    int64_t until;    /* BATCH_GATHER, BATCH_AWAIT_ROOM */
} batch_plan;

/* The plan for items[0..len) (len >= 1) under `limits` at `now`. */
batch_plan batch_next(notification *const *items, size_t len, const batch_limits *limits,
                      int64_t now);

#endif
