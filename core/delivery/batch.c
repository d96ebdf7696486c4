#include "delivery/batch.h"

#include <limits.h>

#include "delivery/digest.h"

/* The bytes each text of a digest keeps so that everything waiting fits
 * in the slots left: 0 (whole) when that is the whole budget anyway, and
 * never less than a message's first lines. */
static size_t share_of_budget(size_t budget, size_t waiting, unsigned free_slots)
{
    size_t cap = digest_item_cap(budget, waiting, free_slots);
    if (cap >= budget)
        return 0;
    if (cap && cap < DIGEST_MIN_ITEM_BYTES)
        return DIGEST_MIN_ITEM_BYTES;
    return cap;
}

batch_plan batch_next(notification *const *items, size_t len, const batch_limits *limits,
                      int64_t now)
{
    batch_plan plan = {.action = BATCH_SEND, .count = 1, .item_cap = 0, .until = -1};
    /* Half of each window stays for digests, so a trickle sent one by one
     * cannot use up the slots a storm will need. */
    size_t reserve = (size_t)(limits->per_minute / 2) * limits->targets;
    /* Replicas sharing the window each plan as if every other held as
     * many as this one: behind one load balancer they take alerts from
     * the same senders, and none can see the others' queues. */
    size_t waiting = len * (limits->replicas > 1 ? limits->replicas : 1);
    if (limits->free_slots == UINT_MAX || !limits->merge ||
        (!limits->in_storm && waiting + reserve <= limits->free_slots))
        return plan;
    /* A storm: gather for a moment, then share the window's remaining
     * slots among everything waiting. */
    int64_t gathered_at = items[0]->next_attempt_ms + DIGEST_GATHER_MS;
    if (now < gathered_at)
        return (batch_plan){.action = BATCH_GATHER, .until = gathered_at};
    /* Paced once the window is down to its reserve: what arrives later in
     * the storm needs slots too. Not one message alone, nor one a refused
     * digest left to go by itself. */
    if (len > 1 && !items[0]->send_alone && limits->free_slots <= reserve &&
        now < limits->paced_from)
        return (batch_plan){.action = BATCH_GATHER, .until = limits->paced_from};
    size_t item_cap = share_of_budget(limits->text_budget, waiting, limits->free_slots);
    size_t k = digest_fit(items, len, limits->text_budget, item_cap);
    if (k > limits->room && limits->room < limits->max_unrecorded &&
        now < gathered_at + DIGEST_GATHER_MS) {
        /* Outcomes are on their way to disk: wait a moment for them
         * rather than spend a slot of the window on a smaller digest (not
         * longer: under steady load from other receivers the room may
         * never open wide). */
        return (batch_plan){.action = BATCH_AWAIT_ROOM, .until = gathered_at + DIGEST_GATHER_MS};
    }
    if (k > limits->room)
        k = limits->room;
    /* One a digest was refused with goes by itself; those before it go
     * together. */
    for (size_t i = 0; i < k; i++)
        if (items[i]->send_alone) {
            k = i ? i : 1;
            break;
        }
    plan.count = k;
    plan.item_cap = item_cap;
    return plan;
}
