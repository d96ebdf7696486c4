/* The per-target limiter: the DingTalk/WeCom promise that no 60-second
 * window ever holds more than the rate. */
#include "harness.h"

#include "delivery/ratelimit.h"
#include "util/strbuf.h"

#define WINDOW 60000
#define PER_MINUTE(n) (&(rate_spec){(n), 0})

/* Sends whenever the limiter allows, over ten minutes, and checks every
 * window: the worst window holds at most `rate` sends. */
TEST(no_window_ever_exceeds_the_rate)
{
    rate_limits *limits = rate_limits_new();
    int64_t sends[2000];
    size_t n = 0;
    int64_t now = 1000000;
    while (now < 1000000 + 10 * WINDOW && n < 2000) {
        int64_t slot = rate_next_slot(limits, "robot", PER_MINUTE(20), now);
        if (slot > now) {
            now = slot;
            continue;
        }
        rate_record_send(limits, "robot", PER_MINUTE(20), now);
        rate_record_done(limits, "robot"); /* answered */
        sends[n++] = now;
        now += 7; /* a message every 7 ms when allowed: bursts */
    }
    CHECK(n >= 9 * 20); /* it does send at the rate, not below it */
    for (size_t i = 0; i < n; i++) {
        size_t in_window = 0;
        for (size_t j = i; j < n && sends[j] < sends[i] + WINDOW; j++)
            in_window++;
        if (in_window > 20)
            FAIL_AT("%zu sends within 60 s from send %zu", in_window, i);
    }
    rate_limits_free(limits);
}

TEST(free_slots_pause_and_keys)
{
    rate_limits *limits = rate_limits_new();
    CHECK_INT(rate_free_slots(limits, "a", PER_MINUTE(3), 0), 3);
    rate_record_send(limits, "a", PER_MINUTE(3), 0);
    /* a rate-limited target takes one at a time, in order */
    CHECK(rate_next_slot(limits, "a", PER_MINUTE(3), 5) == RATE_AFTER_ANSWER);
    rate_record_done(limits, "a");
    rate_record_send(limits, "a", PER_MINUTE(3), 10);
    rate_record_done(limits, "a");
    CHECK_INT(rate_free_slots(limits, "a", PER_MINUTE(3), 20), 1);
    CHECK_INT(rate_free_slots(limits, "b", PER_MINUTE(3), 20), 3); /* keys are separate */
    rate_record_send(limits, "a", PER_MINUTE(3), 20);
    rate_record_done(limits, "a");
    CHECK_INT(rate_next_slot(limits, "a", PER_MINUTE(3), 30), WINDOW + RATE_SAFETY_MS);
    /* a send that never reached the service gives its slot back */
    rate_forget_send(limits, "a", 10);
    CHECK_INT(rate_free_slots(limits, "a", PER_MINUTE(3), 30), 1);
    rate_record_send(limits, "a", PER_MINUTE(3), 30);
    rate_record_done(limits, "a");
    CHECK_INT(rate_next_slot(limits, "a", PER_MINUTE(3), WINDOW + RATE_SAFETY_MS), WINDOW + RATE_SAFETY_MS);
    /* unlimited: always now, unless paused */
    CHECK_INT(rate_next_slot(limits, "c", PER_MINUTE(0), 5), 5);
    rate_pause(limits, "c", 600000);
    CHECK_INT(rate_next_slot(limits, "c", PER_MINUTE(0), 5), 600000);
    CHECK_INT(rate_free_slots(limits, "c", PER_MINUTE(20), 5), 0);
    /* failures while paused by an earlier one are the same outage */
    CHECK_INT(rate_record_failure(limits, "d", 5), 1);
    rate_pause(limits, "d", 1000);
    CHECK_INT(rate_record_failure(limits, "d", 500), 1);
    CHECK_INT(rate_record_failure(limits, "d", 1000), 2);
    rate_record_success(limits, "d");
    CHECK_INT(rate_record_failure(limits, "d", 2000), 1);
    /* receivers sharing a robot with other rates see the same sends */
    for (int64_t at = 0; at < 3; at++) {
        rate_record_send(limits, "shared", PER_MINUTE(5), at);
        rate_record_done(limits, "shared");
    }
    CHECK_INT(rate_free_slots(limits, "shared", PER_MINUTE(2), 10), 0);
    CHECK_INT(rate_free_slots(limits, "shared", PER_MINUTE(5), 10), 2);
    /* at rate 2 the second newest send (at 1) must leave the window */
    CHECK_INT(rate_next_slot(limits, "shared", PER_MINUTE(2), 10), 1 + WINDOW + RATE_SAFETY_MS);
    for (int64_t at = 11; at < 13; at++) {
        rate_record_send(limits, "shared", PER_MINUTE(5), at);
        rate_record_done(limits, "shared");
    }
    CHECK_INT(rate_free_slots(limits, "shared", PER_MINUTE(2), 13), 0);
    CHECK_INT(rate_free_slots(limits, "shared", PER_MINUTE(5), 13), 0); /* the rate-2 look forgot nothing */
    rate_limits_free(limits);
}

/* Feishu: 100 a minute and 5 a second. Sending whenever the limiter
 * allows, no second (with its safety margin) and no minute holds more. */
TEST(per_second_and_per_minute_limits_hold_together)
{
    rate_limits *limits = rate_limits_new();
    const rate_spec feishu = {100, 5};
    int64_t sends[400];
    size_t n = 0;
    int64_t now = 5000000;
    while (now < 5000000 + 3 * WINDOW && n < 400) {
        int64_t slot = rate_next_slot(limits, "bot", &feishu, now);
        if (slot <= now) {
            rate_record_send(limits, "bot", &feishu, now);
            rate_record_done(limits, "bot"); /* answered at once */
            sends[n++] = now;
        }
        now += 10;
    }
    CHECK(n >= 200); /* the minute limit is used, not starved */
    for (size_t i = 0; i + 5 < n; i++)
        if (sends[i + 5] - sends[i] < 1000 + RATE_SECOND_SAFETY_MS)
            FAIL_AT("6 sends within %lld ms from %lld", (long long)(sends[i + 5] - sends[i]),
                    (long long)sends[i]);
    for (size_t i = 0; i + 100 < n; i++)
        CHECK(sends[i + 100] - sends[i] >= WINDOW + RATE_SAFETY_MS);
    /* a burst: five go at once, the sixth waits for the first's second */
    rate_limits *fresh = rate_limits_new();
    for (int i = 0; i < 5; i++) {
        CHECK_INT(rate_next_slot(fresh, "bot", &feishu, 100 + i), 100 + i);
        rate_record_send(fresh, "bot", &feishu, 100 + i);
        rate_record_done(fresh, "bot");
    }
    CHECK_INT(rate_next_slot(fresh, "bot", &feishu, 105), 100 + 1000 + RATE_SECOND_SAFETY_MS);
    /* a per-second limit alone also counts, and takes one at a time */
    const rate_spec second_only = {0, 2};
    rate_record_send(fresh, "solo", &second_only, 0);
    CHECK(rate_next_slot(fresh, "solo", &second_only, 1) == RATE_AFTER_ANSWER);
    rate_record_done(fresh, "solo");
    rate_record_send(fresh, "solo", &second_only, 2);
    rate_record_done(fresh, "solo");
    CHECK_INT(rate_next_slot(fresh, "solo", &second_only, 3), 1000 + RATE_SECOND_SAFETY_MS);
    CHECK_INT(rate_free_slots(fresh, "solo", &second_only, 3), (unsigned)-1);
    rate_limits_free(fresh);
    rate_limits_free(limits);
}

/* A restarted limiter, given the sends and pauses the store kept under
 * the target's digest, holds the window and the pause as if it had never
 * stopped; the digest does not show the key (which holds the token). */
TEST(restored_sends_and_pauses_hold_after_a_restart)
{
    const char *key = "dingtalk https://oapi.dingtalk.com/robot/send?access_token=tok-4f1e";
    rate_limits *before = rate_limits_new();
    char id[RATE_TARGET_ID_SIZE];
    snprintf(id, sizeof id, "%s", rate_target_id(before, key));
    CHECK_INT(strlen(id), RATE_TARGET_ID_SIZE - 1);
    CHECK(strspn(id, "0123456789abcdef") == strlen(id));
    CHECK(!strstr(id, "tok-4f1e"));
    CHECK(strcmp(rate_target_id(before, "other robot"), id) != 0);
    rate_limits_free(before);

    rate_limits *after = rate_limits_new();
    for (int i = 0; i < 3; i++)
        rate_restore_send(after, id, 1000 + i);
    /* the three restored sends fill a window of 3: the next slot is when
     * the oldest leaves it */
    CHECK_INT(rate_next_slot(after, key, PER_MINUTE(3), 5000), 1000 + WINDOW + RATE_SAFETY_MS);
    CHECK_INT(rate_free_slots(after, key, PER_MINUTE(3), 5000), 0);
    CHECK_STR(rate_target_id(after, key), id);
    /* a paused target stays paused, whatever its rate */
    rate_limits *paused = rate_limits_new();
    rate_restore_pause(paused, id, 600000);
    CHECK_INT(rate_next_slot(paused, key, PER_MINUTE(0), 1000), 600000);
    rate_limits_free(paused);
    rate_limits_free(after);
}

/* An operator's send-now goes past a pause, never past the window; an
 * unpause ends the pause for every message. */
TEST(window_slot_ignores_the_pause_and_unpause_ends_it)
{
    rate_limits *limits = rate_limits_new();
    int64_t now = 5000000;
    for (int i = 0; i < 2; i++) {
        rate_record_send(limits, "robot", PER_MINUTE(2), now + i);
        rate_record_done(limits, "robot");
    }
    rate_pause(limits, "robot", now + 600000); /* a 130101's ten minutes */
    CHECK_INT(rate_next_slot(limits, "robot", PER_MINUTE(2), now + 10), now + 600000);
    /* the window is full until its oldest send leaves it */
    CHECK_INT(rate_window_slot(limits, "robot", PER_MINUTE(2), now + 10),
              now + WINDOW + RATE_SAFETY_MS);
    int64_t later = now + WINDOW + RATE_SAFETY_MS;
    CHECK_INT(rate_window_slot(limits, "robot", PER_MINUTE(2), later), later);
    CHECK_INT(rate_next_slot(limits, "robot", PER_MINUTE(2), later), now + 600000);
    /* an answer awaited holds a send-now back too: one at a time */
    rate_record_send(limits, "robot", PER_MINUTE(2), later);
    CHECK(rate_window_slot(limits, "robot", PER_MINUTE(2), later) == RATE_AFTER_ANSWER);
    rate_record_done(limits, "robot");
    CHECK_INT(rate_unpause(limits, "robot", later), 1);
    CHECK_INT(rate_unpause(limits, "robot", later), 0); /* nothing left to clear */
    int64_t free_again = later + WINDOW + RATE_SAFETY_MS;
    CHECK_INT(rate_next_slot(limits, "robot", PER_MINUTE(2), free_again), free_again);
    rate_limits_free(limits);
}

/* Replicas share a robot: the store's answer to an admission is the
 * window as all of them filled it, and the limiter takes it for its own,
 * so its free slots and next slot are the shared ones; a pause another
 * replica saw holds here too. An answer with no window (one process)
 * changes nothing. */
TEST(the_limiter_follows_the_shared_window)
{
    rate_limits *limits = rate_limits_new();
    int64_t now = 7000000;
    rate_record_send(limits, "robot", PER_MINUTE(3), now);
    rate_record_done(limits, "robot");
    CHECK_INT(rate_free_slots(limits, "robot", PER_MINUTE(3), now + 10), 2);

    send_admission alone = rate_admission_ask(PER_MINUTE(3), 0);
    rate_follow(limits, "robot", PER_MINUTE(3), &alone);
    CHECK_INT(rate_free_slots(limits, "robot", PER_MINUTE(3), now + 10), 2);

    int64_t shared[3] = {now - 2000, now - 1000, now};
    send_admission answer = rate_admission_ask(PER_MINUTE(3), 0);
    CHECK_INT(answer.minute_window_ms, WINDOW + RATE_SAFETY_MS);
    answer.window = shared;
    answer.window_len = 3;
    answer.paused_until_ms = now + 600000;
    rate_follow(limits, "robot", PER_MINUTE(3), &answer);
    CHECK_INT(rate_free_slots(limits, "robot", PER_MINUTE(3), now + 10), 0);
    CHECK_INT(rate_window_slot(limits, "robot", PER_MINUTE(3), now + 10),
              now - 2000 + WINDOW + RATE_SAFETY_MS);
    CHECK_INT(rate_next_slot(limits, "robot", PER_MINUTE(3), now + 10), now + 600000);
    /* the window names more sends than the rate (older settings): kept */
    int64_t busy[5] = {now - 4, now - 3, now - 2, now - 1, now};
    answer.window = busy;
    answer.window_len = 5;
    rate_follow(limits, "robot", PER_MINUTE(3), &answer);
    CHECK_INT(rate_window_slot(limits, "robot", PER_MINUTE(3), now + 10),
              now - 2 + WINDOW + RATE_SAFETY_MS);
    rate_limits_free(limits);
}

RUN_TESTS(CASE(no_window_ever_exceeds_the_rate), CASE(free_slots_pause_and_keys),
          CASE(restored_sends_and_pauses_hold_after_a_restart),
          CASE(per_second_and_per_minute_limits_hold_together),
          CASE(the_limiter_follows_the_shared_window),
          CASE(window_slot_ignores_the_pause_and_unpause_ends_it))
