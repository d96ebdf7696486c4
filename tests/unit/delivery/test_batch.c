/* What the front of a held queue does now: alone while the robot's window
 * has slots to spare, as a digest in a storm (after a moment's gathering),
 * as many per digest as the free slots and the text budget require. */
#include "harness.h"

#include <limits.h>

#include "delivery/batch.h"
#include "delivery/digest.h"
#include "util/strbuf.h"

#define QUEUED 60

/* A queue of n messages that became due at 1000; each text `text_bytes`
 * long. */
typedef struct queue {
    notification *items[QUEUED];
    size_t len;
} queue;

static void queue_fill(queue *q, size_t n, size_t text_bytes)
{
    char *text = xmalloc(text_bytes + 1);
    memset(text, 'x', text_bytes);
    text[text_bytes] = '\0';
    for (size_t i = 0; i < n; i++) {
        notification *m = xcalloc(1, sizeof *m);
        m->id = i + 1;
        m->receiver = xstrdup("ops");
        m->status = xstrdup("firing");
        m->alert_count = 1;
        m->next_attempt_ms = 1000;
        m->content.format = HERALD_FORMAT_MARKDOWN;
        m->content.title = xstrdup("[FIRING] disk full");
        m->content.text = xstrdup(text);
        q->items[i] = m;
    }
    q->len = n;
    free(text);
}

static void queue_free(queue *q)
{
    for (size_t i = 0; i < q->len; i++)
        notification_free(q->items[i]);
}

/* A DingTalk-like robot: 20 a minute, one target, 4000 bytes of text. */
static batch_limits robot(unsigned free_slots)
{
    return (batch_limits){.free_slots = free_slots, .per_minute = 20, .targets = 1, .merge = 1,
                          .text_budget = 4000, .room = 100, .max_unrecorded = 100};
}

/* After the storm gathered: DIGEST_GATHER_MS after the first came due. */
#define GATHERED (1000 + DIGEST_GATHER_MS)

TEST(without_a_limit_each_goes_alone)
{
    queue q;
    queue_fill(&q, QUEUED, 10);
    batch_plan p = batch_next(q.items, q.len, &(batch_limits){.free_slots = UINT_MAX, .merge = 1,
                                                              .room = 100}, 5000);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, 1);
    queue_free(&q);
}

/* Half the window is kept for a storm: with 20 free slots, 10 waiting go
 * one by one, the 11th makes a storm. */
TEST(a_trickle_goes_alone_while_the_reserve_stays_free)
{
    queue q;
    queue_fill(&q, 11, 10);
    batch_limits lim = robot(20);
    batch_plan p = batch_next(q.items, 10, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, 1);
    p = batch_next(q.items, 11, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, 11);
    /* two robots keep a reserve each */
    lim.targets = 2;
    lim.free_slots = 30;
    CHECK_INT(batch_next(q.items, 10, &lim, GATHERED).count, 1);
    queue_free(&q);
}

TEST(a_storm_gathers_for_a_moment_first)
{
    queue q;
    queue_fill(&q, QUEUED, 10);
    batch_limits lim = robot(20);
    batch_plan p = batch_next(q.items, q.len, &lim, GATHERED - 1);
    CHECK_INT(p.action, BATCH_GATHER);
    CHECK_INT(p.until, GATHERED);
    p = batch_next(q.items, q.len, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, QUEUED); /* short texts: one digest holds them all */
    queue_free(&q);
}

/* Sixty long messages and twenty slots: three per digest, whole. */
TEST(a_digest_takes_the_share_of_the_free_slots_within_the_budget)
{
    queue q;
    queue_fill(&q, QUEUED, 1000);
    batch_limits lim = robot(20);
    batch_plan p = batch_next(q.items, q.len, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, 3);
    CHECK(p.item_cap == 0 || p.item_cap >= 1000); /* nothing is cut */
    queue_free(&q);
}

/* Sixty long messages and two slots: each is cut to its first lines
 * (never less), and a digest holds as many of those as the budget does. */
TEST(few_slots_cut_each_message_to_its_first_lines)
{
    queue q;
    queue_fill(&q, QUEUED, 1000);
    batch_limits lim = robot(2);
    batch_plan p = batch_next(q.items, q.len, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.item_cap, DIGEST_MIN_ITEM_BYTES);
    CHECK_INT(p.count, digest_fit(q.items, q.len, 4000, DIGEST_MIN_ITEM_BYTES));
    CHECK(p.count > 3 && p.count < QUEUED);
    /* a budget that fits everything at its share: no cut */
    lim.text_budget = 0;
    p = batch_next(q.items, q.len, &lim, GATHERED);
    CHECK_INT(p.item_cap, 0);
    CHECK_INT(p.count, QUEUED);
    queue_free(&q);
}

/* A digest bigger than the room (outcomes not yet on disk) waits a moment
 * for the room to widen, then goes as large as the room allows. */
TEST(the_room_to_send_bounds_a_digest)
{
    queue q;
    queue_fill(&q, QUEUED, 10);
    batch_limits lim = robot(20);
    lim.room = 5;
    batch_plan p = batch_next(q.items, q.len, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_AWAIT_ROOM);
    CHECK_INT(p.until, GATHERED + DIGEST_GATHER_MS);
    p = batch_next(q.items, q.len, &lim, GATHERED + DIGEST_GATHER_MS);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, 5);
    /* a room that can never be wider goes at once */
    lim.max_unrecorded = 5;
    p = batch_next(q.items, q.len, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, 5);
    queue_free(&q);
}

TEST(a_message_a_digest_was_refused_with_goes_alone)
{
    queue q;
    queue_fill(&q, QUEUED, 10);
    batch_limits lim = robot(20);
    q.items[2]->send_alone = 1;
    CHECK_INT(batch_next(q.items, q.len, &lim, GATHERED).count, 2); /* those before it */
    CHECK_INT(batch_next(q.items + 2, q.len - 2, &lim, GATHERED).count, 1);
    CHECK_INT(batch_next(q.items + 3, q.len - 3, &lim, GATHERED).count, QUEUED - 3);
    queue_free(&q);
}

TEST(what_cannot_be_merged_goes_alone)
{
    queue q;
    queue_fill(&q, QUEUED, 10);
    batch_limits lim = robot(20);
    /* a channel that forwards each notification's own body */
    lim.merge = 0;
    CHECK_INT(batch_next(q.items, q.len, &lim, GATHERED).count, 1);
    /* a native body, and the digest before one */
    lim.merge = 1;
    q.items[0]->content.format = HERALD_FORMAT_NATIVE;
    q.items[4]->content.format = HERALD_FORMAT_NATIVE;
    CHECK_INT(batch_next(q.items, q.len, &lim, GATHERED).count, 1);
    CHECK_INT(batch_next(q.items + 1, q.len - 1, &lim, GATHERED).count, 3);
    queue_free(&q);
}

/* Three replicas share the robot: each plans as if the other two held as
 * many as it does. Four waiting here are twelve in all, a storm past the
 * reserve; and sixty long ones share the twenty slots with 120 more, so
 * each digest takes nine, cut to fit, where one replica alone sends three
 * whole. */
TEST(replicas_sharing_a_robot_plan_with_its_share_of_the_window)
{
    queue q;
    queue_fill(&q, QUEUED, 1000);
    batch_limits lim = robot(20);
    CHECK_INT(batch_next(q.items, 4, &lim, GATHERED).count, 1);
    lim.replicas = 3;
    CHECK_INT(batch_next(q.items, 3, &lim, GATHERED).count, 1);
    batch_plan p = batch_next(q.items, 4, &lim, GATHERED - 1);
    CHECK_INT(p.action, BATCH_GATHER);
    p = batch_next(q.items, q.len, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, 9);
    CHECK(p.item_cap > 0 && p.item_cap < 1000);
    queue_free(&q);
}

/* A storm's digests are paced over the window once it is down to its
 * reserve (half): the next waits for the last send plus the window's
 * share of one message; a message alone, or one a refused digest left to
 * go by itself, is not held. */
TEST(a_storms_digests_are_paced_over_the_window)
{
    queue q;
    queue_fill(&q, QUEUED, 10);
    batch_limits lim = robot(11);
    lim.paced_from = GATHERED + 3000;
    CHECK_INT(batch_next(q.items, q.len, &lim, GATHERED).action, BATCH_SEND);
    lim.free_slots = 10;
    batch_plan p = batch_next(q.items, q.len, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_GATHER);
    CHECK_INT(p.until, GATHERED + 3000);
    p = batch_next(q.items, q.len, &lim, GATHERED + 3000);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, QUEUED);
    CHECK_INT(batch_next(q.items, 1, &lim, GATHERED).action, BATCH_SEND);
    q.items[0]->send_alone = 1;
    p = batch_next(q.items, q.len, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, 1);
    queue_free(&q);
}

/* Once a digest went, the storm goes on for the window: a few alerts
 * arriving between its digests gather for the next one instead of each
 * spending a slot alone. */
TEST(within_a_storm_even_a_few_gather)
{
    queue q;
    queue_fill(&q, 2, 10);
    batch_limits lim = robot(19);
    CHECK_INT(batch_next(q.items, 2, &lim, GATHERED - 1).action, BATCH_SEND);
    lim.in_storm = 1;
    batch_plan p = batch_next(q.items, 2, &lim, GATHERED - 1);
    CHECK_INT(p.action, BATCH_GATHER);
    p = batch_next(q.items, 2, &lim, GATHERED);
    CHECK_INT(p.action, BATCH_SEND);
    CHECK_INT(p.count, 2);
    queue_free(&q);
}

RUN_TESTS(CASE(without_a_limit_each_goes_alone),
          CASE(a_trickle_goes_alone_while_the_reserve_stays_free),
          CASE(a_storm_gathers_for_a_moment_first),
          CASE(a_digest_takes_the_share_of_the_free_slots_within_the_budget),
          CASE(few_slots_cut_each_message_to_its_first_lines),
          CASE(the_room_to_send_bounds_a_digest),
          CASE(a_message_a_digest_was_refused_with_goes_alone),
          CASE(what_cannot_be_merged_goes_alone),
          CASE(replicas_sharing_a_robot_plan_with_its_share_of_the_window),
          CASE(a_storms_digests_are_paced_over_the_window),
          CASE(within_a_storm_even_a_few_gather))
