/* The per-target limiter and digests: the DingTalk/WeCom promise that no
 * 60-second window ever holds more than the rate. */
#include "harness.h"

#include "digest.h"
#include "ratelimit.h"
#include "strbuf.h"

#define WINDOW 60000

/* Sends whenever the limiter allows, over ten minutes, and checks every
 * window: the worst window holds at most `rate` sends. */
TEST(no_window_ever_exceeds_the_rate)
{
    rate_limits *limits = rate_limits_new();
    int64_t sends[2000];
    size_t n = 0;
    int64_t now = 1000000;
    while (now < 1000000 + 10 * WINDOW && n < 2000) {
        int64_t slot = rate_next_slot(limits, "robot", 20, now);
        if (slot > now) {
            now = slot;
            continue;
        }
        rate_record_send(limits, "robot", 20, now);
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
    CHECK_INT(rate_free_slots(limits, "a", 3, 0), 3);
    rate_record_send(limits, "a", 3, 0);
    /* a rate-limited target takes one at a time, in order */
    CHECK(rate_next_slot(limits, "a", 3, 5) == RATE_AFTER_ANSWER);
    rate_record_done(limits, "a");
    rate_record_send(limits, "a", 3, 10);
    rate_record_done(limits, "a");
    CHECK_INT(rate_free_slots(limits, "a", 3, 20), 1);
    CHECK_INT(rate_free_slots(limits, "b", 3, 20), 3); /* keys are separate */
    rate_record_send(limits, "a", 3, 20);
    rate_record_done(limits, "a");
    CHECK_INT(rate_next_slot(limits, "a", 3, 30), WINDOW + RATE_SAFETY_MS);
    /* a send that never reached the service gives its slot back */
    rate_forget_send(limits, "a", 10);
    CHECK_INT(rate_free_slots(limits, "a", 3, 30), 1);
    rate_record_send(limits, "a", 3, 30);
    rate_record_done(limits, "a");
    CHECK_INT(rate_next_slot(limits, "a", 3, WINDOW + RATE_SAFETY_MS), WINDOW + RATE_SAFETY_MS);
    /* unlimited: always now, unless paused */
    CHECK_INT(rate_next_slot(limits, "c", 0, 5), 5);
    rate_pause(limits, "c", 600000);
    CHECK_INT(rate_next_slot(limits, "c", 0, 5), 600000);
    CHECK_INT(rate_free_slots(limits, "c", 20, 5), 0);
    /* failures while paused by an earlier one are the same outage */
    CHECK_INT(rate_record_failure(limits, "d", 5), 1);
    rate_pause(limits, "d", 1000);
    CHECK_INT(rate_record_failure(limits, "d", 500), 1);
    CHECK_INT(rate_record_failure(limits, "d", 1000), 2);
    rate_record_success(limits, "d");
    CHECK_INT(rate_record_failure(limits, "d", 2000), 1);
    /* receivers sharing a robot with other rates see the same sends */
    for (int64_t at = 0; at < 3; at++) {
        rate_record_send(limits, "shared", 5, at);
        rate_record_done(limits, "shared");
    }
    CHECK_INT(rate_free_slots(limits, "shared", 2, 10), 0);
    CHECK_INT(rate_free_slots(limits, "shared", 5, 10), 2);
    /* at rate 2 the second newest send (at 1) must leave the window */
    CHECK_INT(rate_next_slot(limits, "shared", 2, 10), 1 + WINDOW + RATE_SAFETY_MS);
    for (int64_t at = 11; at < 13; at++) {
        rate_record_send(limits, "shared", 5, at);
        rate_record_done(limits, "shared");
    }
    CHECK_INT(rate_free_slots(limits, "shared", 2, 13), 0);
    CHECK_INT(rate_free_slots(limits, "shared", 5, 13), 0); /* the rate-2 look forgot nothing */
    rate_limits_free(limits);
}

static notification *message(const char *title, const char *text, herald_format format)
{
    notification *n = xcalloc(1, sizeof *n);
    n->receiver = xstrdup("ops");
    n->status = xstrdup("firing");
    n->alert_count = 1;
    n->content.format = format;
    n->content.title = xstrdup(title);
    n->content.text = xstrdup(text);
    return n;
}

TEST(digests_merge_in_order_within_the_budget)
{
    notification *items[4] = {
        message("[故障] A", "alert A text", HERALD_FORMAT_MARKDOWN),
        message("[故障] B", "alert B text", HERALD_FORMAT_MARKDOWN),
        message("[故障] C", "alert C text", HERALD_FORMAT_MARKDOWN),
        message("native", "{\"msgtype\":\"text\"}", HERALD_FORMAT_NATIVE),
    };
    mention_set_add_mobile(&items[0]->content.mentions, "100");
    mention_set_add_mobile(&items[2]->content.mentions, "300");
    CHECK_INT(digest_fit(items, 4, 0, 0), 3);        /* stops before the native body */
    CHECK_INT(digest_fit(items, 3, 140, 0), 2);      /* overhead + two texts fit in 140 */
    CHECK_INT(digest_fit(items, 3, 10, 0), 1);       /* always at least one */
    CHECK_INT(digest_fit(items + 3, 1, 0, 0), 1);    /* a native body goes alone */
    items[1]->content.format = HERALD_FORMAT_HTML;   /* its tags would show as text */
    CHECK_INT(digest_fit(items, 3, 0, 0), 1);
    CHECK_INT(digest_fit(items + 1, 2, 0, 0), 1);
    items[1]->content.format = HERALD_FORMAT_MARKDOWN;
    CHECK_INT(digest_fit(items, 3, 145, 0), 2);
    CHECK_INT(digest_fit(items, 3, 145, 7), 3);      /* cut to 7 bytes each, three fit */
    /* the share of each item lets all of them fit in the messages left */
    CHECK_INT(digest_item_cap(0, 60, 20), 0);        /* no budget: no cut */
    CHECK_INT(digest_item_cap(4000, 20, 20), 0);     /* one each: no cut */
    size_t cap = digest_item_cap(145, 6, 2);          /* three per message */
    CHECK(cap > 0);
    CHECK_INT(digest_fit(items, 3, 145, cap), 3);
    cap = digest_item_cap(1792, 60, 20);
    CHECK(cap > 0 && cap < 1792 / 3);
    rendered out;
    digest_build(items, 3, 7, 0, &out);
    CHECK_INT(out.format, HERALD_FORMAT_MARKDOWN);
    CHECK_STR(out.title, "[故障] A (3)");
    CHECK_STR(out.text, "alert A text\n\n---\n\nalert B text\n\n---\n\nalert C text\n\n---\n\n+7 …");
    CHECK_INT(out.mentions.mobiles_len, 2);
    rendered_free(&out);
    /* cut to a share: each text keeps its start and shows the cut */
    digest_build(items, 2, 0, 11, &out); /* 7 bytes of text and " …" */
    CHECK_STR(out.text, "alert A …\n\n---\n\nalert B …");
    rendered_free(&out);
    for (int i = 0; i < 4; i++)
        notification_free(items[i]);
}

RUN_TESTS(CASE(no_window_ever_exceeds_the_rate), CASE(free_slots_pause_and_keys),
          CASE(digests_merge_in_order_within_the_budget))
