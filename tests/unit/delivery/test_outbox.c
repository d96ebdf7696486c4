#include "harness.h"

#include <stdatomic.h>
#include <time.h>

#include "delivery/outbox.h"
#include "testutil.h"
#include "util/strbuf.h"

static notification *make(int64_t due)
{
    notification *n = xcalloc(1, sizeof *n);
    n->receiver = xstrdup("r");
    n->status = xstrdup("firing");
    n->next_attempt_ms = due;
    return n;
}

typedef struct put_outcome {
    outbox_put_result result;
    size_t duplicates;
    size_t repeats;
    int calls;
} put_outcome;

static void record(void *ctx, outbox_put_result result, size_t duplicates, size_t repeats,
                   const char *error)
{
    (void)error;
    put_outcome *o = ctx;
    o->result = result;
    o->duplicates = duplicates;
    o->repeats = repeats;
    o->calls++;
}

/* Without a store the outcome is known before outbox_put returns. */
static outbox_put_result put(outbox *box, notification **items, size_t n)
{
    put_outcome o = {0};
    outbox_put(box, items, n, NULL, record, &o);
    return o.calls == 1 ? o.result : (outbox_put_result)99;
}

TEST(put_is_all_or_nothing)
{
    outbox *box = outbox_new(3, NULL);
    notification *two[2] = {make(0), make(0)};
    CHECK_INT(put(box, two, 2), OUTBOX_ACCEPTED);
    notification *more[2] = {make(0), make(0)};
    /* would exceed 3: none taken */
    CHECK_INT(put(box, more, 2), OUTBOX_FULL);
    CHECK_INT(outbox_get_stats(box).queued, 2);
    notification_free(more[0]);
    notification_free(more[1]);
    outbox_free(box);
}

TEST(due_order_and_retry)
{
    outbox *box = outbox_new(10, NULL);
    notification *items[3] = {make(300), make(100), make(200)};
    for (int i = 0; i < 3; i++)
        CHECK_INT(put(box, &items[i], 1), OUTBOX_ACCEPTED);
    int64_t next = 0;
    CHECK(outbox_take_due(box, 50, &next) == NULL);
    CHECK_INT(next, 100);
    notification *n = outbox_take_due(box, 1000, &next);
    CHECK(n == items[1]);
    CHECK_INT(outbox_get_stats(box).in_flight, 1);
    n->next_attempt_ms = 250;
    outbox_retry(box, n);
    CHECK(outbox_take_due(box, 1000, &next) == items[2]);
    CHECK(outbox_take_due(box, 1000, &next) == items[1]);
    CHECK(outbox_take_due(box, 1000, &next) == items[0]);
    CHECK(outbox_take_due(box, 1000, &next) == NULL);
    CHECK_INT(next, -1);
    outbox_delivered(box, items[2]);
    outbox_dead_letter(box, items[1], "test");
    outbox_delivered(box, items[0]);
    outbox_stats s = outbox_get_stats(box);
    CHECK_INT(s.delivered, 2);
    CHECK_INT(s.dead_letters, 1);
    CHECK_INT(s.in_flight, 0);
    outbox_free(box);
}

/* What an operator's request needs: one found by id wherever it waits,
 * taken out of the queue early, ended without an outcome. */
TEST(found_by_id_taken_early_and_forgotten)
{
    outbox *box = outbox_new(10, NULL);
    notification *items[3] = {make(100), make(200), make(300)};
    for (int i = 0; i < 3; i++)
        CHECK_INT(put(box, &items[i], 1), OUTBOX_ACCEPTED);
    CHECK(outbox_find(box, items[1]->id) == items[1]);
    CHECK(outbox_find(box, 999) == NULL);
    CHECK_INT(outbox_take(box, items[2]), 1); /* the tail, long before it is due */
    CHECK_INT(outbox_take(box, items[2]), 0); /* taken: not queued any more */
    outbox_stats s = outbox_get_stats(box);
    CHECK_INT(s.queued, 2);
    CHECK_INT(s.in_flight, 1);
    uint64_t forgotten = items[2]->id;
    CHECK(outbox_find(box, forgotten) == items[2]); /* still held, in flight */
    outbox_forget(box, items[2], 0);
    CHECK(outbox_find(box, forgotten) == NULL);
    /* the queue is whole: a new tail goes after what is left */
    notification *late = make(400);
    CHECK_INT(put(box, &late, 1), OUTBOX_ACCEPTED);
    int64_t next = 0;
    CHECK(outbox_take_due(box, 1000, &next) == items[0]);
    CHECK(outbox_take_due(box, 1000, &next) == items[1]);
    CHECK(outbox_take_due(box, 1000, &next) == late);
    s = outbox_get_stats(box);
    CHECK_INT(s.queued, 0);
    CHECK_INT(s.in_flight, 3);
    CHECK_INT(s.delivered + s.dead_letters, 0);
    outbox_delivered(box, items[0]);
    outbox_delivered(box, items[1]);
    outbox_delivered(box, late);
    outbox_free(box);
}

static void count_wakeup(void *ctx) { atomic_fetch_add((atomic_int *)ctx, 1); }

static void ignore_requeued(void *ctx, notification *n)
{
    (void)ctx;
    notification_free(n);
}

/* An outbox over a real store whose writer has not started yet (so the
 * moment before a write can be looked at), with one notification taken
 * for delivery. The test closes the store; stored_outbox_free the rest. */
typedef struct stored_outbox {
    char *dir;
    store *db;
    outbox *box;
    notification *taken;
} stored_outbox;

static int stored_outbox_open(stored_outbox *f)
{
    f->dir = test_tmpdir();
    store_settings settings = {0, 86400000, 3600000, 0};
    char err[256];
    f->db = store_open(&(store_location){.data_dir = f->dir}, &settings, err, sizeof err);
    if (!f->db)
        return -1;
    f->box = outbox_new(10, f->db);
    outbox_restore(f->box, make(0));
    int64_t next = 0;
    f->taken = outbox_take_due(f->box, 1000, &next);
    return f->taken ? 0 : -1;
}

static void stored_outbox_free(stored_outbox *f)
{
    outbox_free(f->box);
    test_rmtree(f->dir);
    free(f->dir);
}

/* A delivered notification still counts until its outcome is on disk (a
 * crash before would send it again), and the dispatcher waiting for a
 * slot is woken when it is. */
TEST(outcome_counts_until_written)
{
    stored_outbox f = {0};
    CHECK_INT(stored_outbox_open(&f), 0);
    atomic_int wakeups = 0;
    outbox_set_wakeup(f.box, count_wakeup, &wakeups);
    outbox_delivered(f.box, f.taken);
    CHECK_INT(outbox_get_stats(f.box).in_flight, 0);
    CHECK_INT(outbox_unsettled(f.box, 1), 1);

    char err[256];
    CHECK_INT(store_start(f.db, ignore_requeued, NULL, err, sizeof err), 0);
    for (int i = 0; i < 500 && outbox_unsettled(f.box, 0); i++)
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    CHECK_INT(outbox_unsettled(f.box, 0), 0);
    CHECK_INT(atomic_load(&wakeups), 1);

    store_close(f.db);
    stored_outbox_free(&f);
}

/* A store closed before its writer ran still answers every outcome it
 * was handed, so no count stays up and nothing waits for it forever. */
TEST(outcome_answered_when_the_store_closes_first)
{
    stored_outbox f = {0};
    CHECK_INT(stored_outbox_open(&f), 0);
    outbox_dead_letter(f.box, f.taken, "test");
    CHECK_INT(outbox_unsettled(f.box, 0), 1);
    store_close(f.db);
    CHECK_INT(outbox_unsettled(f.box, 0), 0);
    stored_outbox_free(&f);
}

/* The oldest notification still waiting, queued or taken, whatever its
 * place in the schedule; gone once delivered or given up on. */
TEST(oldest_created_counts_queued_and_taken_until_they_end)
{
    outbox *box = outbox_new(10, NULL);
    CHECK_INT(outbox_oldest_created_ms(box), 0);
    notification *items[3] = {make(300), make(100), make(200)};
    items[0]->created_ms = 5000;
    items[1]->created_ms = 7000;
    items[2]->created_ms = 6000;
    for (int i = 0; i < 3; i++)
        CHECK_INT(put(box, &items[i], 1), OUTBOX_ACCEPTED);
    CHECK_INT(outbox_oldest_created_ms(box), 5000);
    int64_t next;
    notification *first = outbox_take_due(box, 1000, &next); /* items[1], due first */
    notification *second = outbox_take_due(box, 1000, &next); /* items[2] */
    notification *third = outbox_take_due(box, 1000, &next); /* items[0], the oldest */
    CHECK(third == items[0]);
    CHECK_INT(outbox_oldest_created_ms(box), 5000); /* in flight still waits */
    outbox_delivered(box, third);
    CHECK_INT(outbox_oldest_created_ms(box), 6000);
    outbox_dead_letter(box, second, "test");
    CHECK_INT(outbox_oldest_created_ms(box), 7000);
    outbox_retry(box, first);
    CHECK_INT(outbox_oldest_created_ms(box), 7000);
    first = outbox_take_due(box, 1000, &next);
    outbox_delivered(box, first);
    CHECK_INT(outbox_oldest_created_ms(box), 0);
    outbox_free(box);
}

/* A dispatcher busy with the first put is not woken again for each
 * next one; once it looks again, the next put wakes it. */
TEST(wakeups_wait_until_the_dispatcher_looks)
{
    outbox *box = outbox_new(10, NULL);
    atomic_int wakeups = 0;
    outbox_set_wakeup(box, count_wakeup, &wakeups);
    for (int i = 0; i < 3; i++) {
        notification *one[1] = {make(0)};
        CHECK_INT(put(box, one, 1), OUTBOX_ACCEPTED);
    }
    CHECK_INT(atomic_load(&wakeups), 1);
    outbox_looking(box);
    notification *one[1] = {make(0)};
    CHECK_INT(put(box, one, 1), OUTBOX_ACCEPTED);
    CHECK_INT(atomic_load(&wakeups), 2);
    outbox_free(box);
}

RUN_TESTS(CASE(put_is_all_or_nothing), CASE(wakeups_wait_until_the_dispatcher_looks), CASE(due_order_and_retry),
          CASE(found_by_id_taken_early_and_forgotten),
          CASE(oldest_created_counts_queued_and_taken_until_they_end),
          CASE(outcome_counts_until_written),
          CASE(outcome_answered_when_the_store_closes_first))
