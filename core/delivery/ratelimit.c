#include "delivery/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

#define SECOND_MS 1000

typedef struct target_state {
    char *key;           /* NULL while only restored, until a key names it */
    char id[RATE_TARGET_ID_SIZE];
    int64_t *sends;      /* ring of the last `capacity` send times */
    unsigned capacity;
    unsigned count;
    unsigned oldest;     /* index of the oldest send in the ring */
    int64_t paused_until;
    unsigned failures;   /* in a row */
    unsigned in_flight;
    struct target_state *next;
} target_state;

struct rate_limits {
    target_state *targets;
};

rate_limits *rate_limits_new(void) { return xcalloc(1, sizeof(rate_limits)); }

void rate_limits_free(rate_limits *limits)
{
    if (!limits)
        return;
    while (limits->targets) {
        target_state *t = limits->targets;
        limits->targets = t->next;
        free(t->key);
        free(t->sends);
        free(t);
    }
    free(limits);
}

static target_state *add(rate_limits *limits, const char *id)
{
    target_state *t = xcalloc(1, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    t->next = limits->targets;
    limits->targets = t;
    return t;
}

static target_state *find_id(rate_limits *limits, const char *id)
{
    for (target_state *t = limits->targets; t; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    return add(limits, id);
}

/* The digest is taken once per target: when its key is first seen. */
static target_state *find(rate_limits *limits, const char *key)
{
    for (target_state *t = limits->targets; t; t = t->next)
        if (t->key && strcmp(t->key, key) == 0)
            return t;
    char id[RATE_TARGET_ID_SIZE];
    sha256_hex128(key, strlen(key), id);
    target_state *t = find_id(limits, id);
    t->key = xstrdup(key);
    return t;
}

const char *rate_target_id(rate_limits *limits, const char *key) { return find(limits, key)->id; }

/* How many sends the ring must remember to judge both windows. */
static unsigned ring_size(const rate_spec *rate)
{
    return rate->per_minute > rate->per_second ? rate->per_minute : rate->per_second;
}

static void grow_ring(target_state *t, unsigned size)
{
    int64_t *grown = xcalloc(size, sizeof *grown);
    for (unsigned i = 0; i < t->count; i++)
        grown[i] = t->sends[(t->oldest + i) % t->capacity];
    free(t->sends);
    t->sends = grown;
    t->capacity = size;
    t->oldest = 0;
}

/* Forgets sends older than the minute window. The ring only grows, to the
 * largest rate asked for: receivers with different rates may share one
 * robot, and forgetting sends would let the larger rate overshoot. */
static void settle_window(target_state *t, const rate_spec *rate, int64_t now)
{
    while (t->count && t->sends[t->oldest] + RATE_WINDOW_MS + RATE_SAFETY_MS <= now) {
        t->oldest = (t->oldest + 1) % t->capacity;
        t->count--;
    }
    unsigned size = ring_size(rate);
    if (size > t->capacity)
        grow_ring(t, size);
}

/* The time the send `back` places before the newest one (1: the newest)
 * leaves the window of `window_ms`: the next may go then. */
static int64_t expiry_of(const target_state *t, unsigned back, int64_t window_ms)
{
    return t->sends[(t->oldest + t->count - back) % t->capacity] + window_ms;
}

int64_t rate_window_slot(rate_limits *limits, const char *key, const rate_spec *rate, int64_t now)
{
    target_state *t = find(limits, key);
    /* One at a time to a failing target (the probe), and to a rate-limited
     * one, so messages arrive in the order they were sent; at 20 a minute
     * that costs nothing. Unlimited targets take many at once. */
    if (t->in_flight && (t->failures || rate_is_limited(rate)))
        return RATE_AFTER_ANSWER;
    int64_t slot = now;
    if (rate_is_limited(rate)) {
        settle_window(t, rate, now);
        if (rate->per_minute && t->count >= rate->per_minute)
            slot = expiry_of(t, rate->per_minute, RATE_WINDOW_MS + RATE_SAFETY_MS);
        if (rate->per_second && t->count >= rate->per_second) {
            int64_t second = expiry_of(t, rate->per_second, SECOND_MS + RATE_SECOND_SAFETY_MS);
            if (second > slot)
                slot = second;
        }
    }
    return slot;
}

int64_t rate_next_slot(rate_limits *limits, const char *key, const rate_spec *rate, int64_t now)
{
    int64_t slot = rate_window_slot(limits, key, rate, now);
    if (slot == RATE_AFTER_ANSWER)
        return slot;
    int64_t paused_until = find(limits, key)->paused_until;
    return paused_until > slot ? paused_until : slot;
}

int64_t rate_last_send(rate_limits *limits, const char *key)
{
    const target_state *t = find(limits, key);
    return t->count ? t->sends[(t->oldest + t->count - 1) % t->capacity] : 0;
}

int rate_unpause(rate_limits *limits, const char *key, int64_t now)
{
    target_state *t = find(limits, key);
    int was_paused = t->paused_until > now;
    t->paused_until = 0;
    return was_paused;
}

unsigned rate_free_slots(rate_limits *limits, const char *key, const rate_spec *rate, int64_t now)
{
    if (!rate->per_minute)
        return (unsigned)-1;
    target_state *t = find(limits, key);
    settle_window(t, rate, now);
    return t->paused_until > now || t->count >= rate->per_minute ? 0 : rate->per_minute - t->count;
}

void rate_restore_send(rate_limits *limits, const char *id, int64_t at)
{
    target_state *t = find_id(limits, id);
    if (t->count == t->capacity)
        grow_ring(t, t->capacity ? 2 * t->capacity : 8);
    t->sends[(t->oldest + t->count) % t->capacity] = at;
    t->count++;
}

void rate_restore_pause(rate_limits *limits, const char *id, int64_t until)
{
    target_state *t = find_id(limits, id);
    if (until > t->paused_until)
        t->paused_until = until;
}

void rate_record_send(rate_limits *limits, const char *key, const rate_spec *rate, int64_t now)
{
    target_state *t = find(limits, key);
    t->in_flight++;
    if (!rate_is_limited(rate))
        return;
    settle_window(t, rate, now);
    if (t->count == t->capacity) { /* only when the caller ignored the slot */
        t->oldest = (t->oldest + 1) % t->capacity;
        t->count--;
    }
    t->sends[(t->oldest + t->count) % t->capacity] = now;
    t->count++;
}

unsigned rate_record_failure(rate_limits *limits, const char *key, int64_t now)
{
    target_state *t = find(limits, key);
    if (t->paused_until > now && t->failures)
        return t->failures;
    return ++t->failures;
}

void rate_pause(rate_limits *limits, const char *key, int64_t until)
{
    target_state *t = find(limits, key);
    if (until > t->paused_until)
        t->paused_until = until;
}

void rate_record_success(rate_limits *limits, const char *key)
{
    find(limits, key)->failures = 0;
}

void rate_record_done(rate_limits *limits, const char *key)
{
    target_state *t = find(limits, key);
    if (t->in_flight)
        t->in_flight--;
}

void rate_forget_send(rate_limits *limits, const char *key, int64_t at)
{
    target_state *t = find(limits, key);
    for (unsigned i = t->count; i-- > 0;) {
        unsigned at_index = (t->oldest + i) % t->capacity;
        if (t->sends[at_index] != at)
            continue;
        /* close the gap: move the newer sends one place back */
        for (unsigned j = i; j + 1 < t->count; j++)
            t->sends[(t->oldest + j) % t->capacity] = t->sends[(t->oldest + j + 1) % t->capacity];
        t->count--;
        return;
    }
}

send_admission rate_admission_ask(const rate_spec *rate, int past_pause)
{
    return (send_admission){.per_minute = rate->per_minute,
                            .per_second = rate->per_second,
                            .minute_window_ms = RATE_WINDOW_MS + RATE_SAFETY_MS,
                            .second_window_ms = SECOND_MS + RATE_SECOND_SAFETY_MS,
                            .past_pause = past_pause};
}

void rate_follow(rate_limits *limits, const char *key, const rate_spec *rate,
                 const send_admission *answer)
{
    if (!answer->window)
        return;
    target_state *t = find(limits, key);
    size_t keep = answer->window_len;
    if (keep > t->capacity || ring_size(rate) > t->capacity)
        grow_ring(t, keep > ring_size(rate) ? (unsigned)keep : ring_size(rate));
    t->oldest = 0;
    t->count = (unsigned)keep;
    if (keep)
        memcpy(t->sends, answer->window, keep * sizeof *t->sends);
    if (answer->paused_until_ms > t->paused_until)
        t->paused_until = answer->paused_until_ms;
}
