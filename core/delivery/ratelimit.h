/* Per-target send limits. DingTalk and WeCom allow 20 messages a minute
 * per robot and block a robot that sends more for 10 minutes, so herald
 * must never exceed the rate in any 60-second window. A token bucket with
 * a burst still allows almost twice the rate across a window boundary; a
 * sliding window over the last N send times does not. Each target also
 * carries a pause (the service throttled it, or it is failing) with its
 * own backoff. Used by the dispatcher thread only. */
#ifndef HERALD_RATELIMIT_H
#define HERALD_RATELIMIT_H

#include <stdint.h>

#include "config/conf.h"
#include "store/store.h"
#include "util/hash.h"

typedef struct rate_limits rate_limits;

#define RATE_WINDOW_MS 60000

/* Kept between a window's oldest send and the next, for clock skew and
 * network delay between herald and the service. */
#define RATE_SAFETY_MS 1000
/* The same for the one-second window: a quarter of it, since requests
 * sent 200 ms apart can arrive closer together. */
#define RATE_SECOND_SAFETY_MS 250

rate_limits *rate_limits_new(void);
void rate_limits_free(rate_limits *limits);

/* A target's name for the store: a digest of its key (which holds the
 * robot's token), valid while `limits` lives. */
#define RATE_TARGET_ID_SIZE SHA256_HEX128_SIZE
const char *rate_target_id(rate_limits *limits, const char *key);
/* From the store at start, before any other call: a send (oldest first)
 * and a pause of the target so named. */
void rate_restore_send(rate_limits *limits, const char *id, int64_t at);
void rate_restore_pause(rate_limits *limits, const char *id, int64_t until);

/* The earliest time a message may go to `key` (now when it may go now).
 * With no limits set, only pauses apply. */
int64_t rate_next_slot(rate_limits *limits, const char *key, const rate_spec *rate, int64_t now);
/* The same, past the target's pause: what its windows allow (an
 * operator's send-now, and an answer still awaited, wait for them). */
int64_t rate_window_slot(rate_limits *limits, const char *key, const rate_spec *rate, int64_t now);
/* When the last message went to `key` (0: none within the window). */
int64_t rate_last_send(rate_limits *limits, const char *key);
/* An operator cleared the target's pause. Returns 1 if one was running. */
int rate_unpause(rate_limits *limits, const char *key, int64_t now);
/* How many more messages may go to `key` within the current minute. */
unsigned rate_free_slots(rate_limits *limits, const char *key, const rate_spec *rate, int64_t now);
/* A message goes to the target now; rate_record_done when it is answered.
 * A rate-limited or failing target takes one message at a time (in order;
 * while failing, the probe): rate_next_slot answers RATE_AFTER_ANSWER
 * until that one is done. */
void rate_record_send(rate_limits *limits, const char *key, const rate_spec *rate, int64_t now);
void rate_record_done(rate_limits *limits, const char *key);
/* The send recorded at `at` never reached the service (the connection was
 * refused): it does not count against the window. */
void rate_forget_send(rate_limits *limits, const char *key, int64_t at);

#define RATE_AFTER_ANSWER INT64_MAX

/* What the store is asked when admitting a send to a target with these
 * limits (store_admit_send): the limits and the windows they span, the
 * answer cleared. */
send_admission rate_admission_ask(const rate_spec *rate, int past_pause);
/* The store's answer for `key`: where replicas share the target, its
 * window as they all filled it, and its pause, become this limiter's. */
void rate_follow(rate_limits *limits, const char *key, const rate_spec *rate,
                 const send_admission *answer);

/* Returns how many times in a row the target has failed, this one
 * included. Failures of transfers that were in flight together, while the
 * target is already paused, are one failure: they are the same outage. */
unsigned rate_record_failure(rate_limits *limits, const char *key, int64_t now);
void rate_record_success(rate_limits *limits, const char *key);
/* Nothing goes to the target before `until` (throttled, or failing). */
void rate_pause(rate_limits *limits, const char *key, int64_t until);

#endif
