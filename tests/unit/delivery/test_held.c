/* The dispatcher's held queues: one per receiver, in arrival order
 * whatever order failed transfers come back in, and old notifications
 * taken out at max_age. */
#include "harness.h"

#include "delivery/held.h"
#include "util/strbuf.h"

static notification *make(uint64_t id, int64_t created_ms)
{
    notification *n = xcalloc(1, sizeof *n);
    n->id = id;
    n->receiver = xstrdup("ops");
    n->status = xstrdup("firing");
    n->created_ms = created_ms;
    return n;
}

/* "1 2 3": the ids in q, in order. */
static const char *ids(const held_queue *q, char *out, size_t cap)
{
    strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < q->len; i++)
        sb_printf(&sb, "%s%llu", i ? " " : "", (unsigned long long)q->items[i]->id);
    snprintf(out, cap, "%s", sb_str(&sb));
    sb_free(&sb);
    return out;
}

TEST(one_queue_per_receiver)
{
    held_queue *list = NULL;
    held_queue *ops = held_for(&list, "ops");
    held_queue *db = held_for(&list, "db");
    CHECK(ops != db);
    CHECK(held_for(&list, "ops") == ops);
    CHECK_STR(ops->receiver, "ops");
    CHECK_INT(ops->len, 0);
    held_free_all(&list);
    CHECK(list == NULL);
}

TEST(retried_notifications_go_back_in_arrival_order)
{
    held_queue *list = NULL;
    held_queue *q = held_for(&list, "ops");
    notification *n[7];
    for (uint64_t id = 1; id <= 6; id++)
        held_append(q, n[id] = make(id, 0));
    char text[64];
    CHECK_STR(ids(q, text, sizeof text), "1 2 3 4 5 6");
    /* 1, 2 and 3 go out (a digest, or one at a time) and fail; their
     * transfers finish in another order, while 7 arrives */
    held_remove_front(q, 3);
    CHECK_STR(ids(q, text, sizeof text), "4 5 6");
    notification *late = make(7, 0);
    held_append(q, late);
    held_put_back(q, n[3]);
    held_put_back(q, n[1]);
    held_put_back(q, n[2]);
    CHECK_STR(ids(q, text, sizeof text), "1 2 3 4 5 6 7");
    for (uint64_t id = 1; id <= 6; id++)
        notification_free(n[id]);
    notification_free(late);
    held_free_all(&list);
}

typedef struct expired_list {
    notification *items[8];
    size_t len;
} expired_list;

static void collect(void *ctx, notification *n)
{
    expired_list *e = ctx;
    e->items[e->len++] = n;
}

TEST(expiry_at_max_age_keeps_the_rest_in_order)
{
    held_queue *list = NULL;
    held_queue *q = held_for(&list, "ops");
    /* max_age 1000 at 5000: created at 4000 is exactly max_age old and
     * stays; 3999 and older go */
    notification *n[5] = {make(1, 1000), make(2, 4000), make(3, 3999), make(4, 4500),
                          make(5, 2000)};
    for (int i = 0; i < 5; i++)
        held_append(q, n[i]);
    expired_list gone = {0};
    held_expire(q, 1000, 5000, collect, &gone);
    char text[64];
    CHECK_STR(ids(q, text, sizeof text), "2 4");
    CHECK_INT(gone.len, 3);
    CHECK(gone.items[0] == n[0] && gone.items[1] == n[2] && gone.items[2] == n[4]);
    /* nothing old enough: nothing changes */
    gone.len = 0;
    held_expire(q, 1000, 5000, collect, &gone);
    CHECK_INT(gone.len, 0);
    CHECK_STR(ids(q, text, sizeof text), "2 4");
    for (int i = 0; i < 5; i++)
        notification_free(n[i]);
    held_free_all(&list);
}

/* What quiet hours held ages from their end: a night's mute does not
 * spend a notification's max_age. */
TEST(expiry_counts_from_the_end_of_quiet_hours)
{
    held_queue *list = NULL;
    held_queue *q = held_for(&list, "ops");
    notification *n[2] = {make(1, 1000), make(2, 9000)};
    for (int i = 0; i < 2; i++)
        held_append(q, n[i]);
    q->quiet_ended_ms = 8000;
    expired_list gone = {0};
    held_expire(q, 1000, 9000, collect, &gone);
    char text[64];
    CHECK_INT(gone.len, 0);
    held_expire(q, 1000, 9001, collect, &gone);
    CHECK_INT(gone.len, 1);
    CHECK(gone.items[0] == n[0]);
    CHECK_STR(ids(q, text, sizeof text), "2");
    for (int i = 0; i < 2; i++)
        notification_free(n[i]);
    held_free_all(&list);
}

/* An operator's send-now or drop takes one out of the middle. */
TEST(one_is_found_and_taken_out_of_the_middle)
{
    held_queue *list = NULL;
    held_queue *q = held_for(&list, "ops");
    notification *n[3] = {make(1, 0), make(2, 0), make(3, 0)};
    for (int i = 0; i < 3; i++)
        held_append(q, n[i]);
    notification *stranger = make(4, 0);
    CHECK_INT(held_find(q, n[1]), 1);
    CHECK_INT(held_find(q, stranger), -1);
    held_remove_at(q, 1);
    char buf[64];
    CHECK_STR(ids(q, buf, sizeof buf), "1 3");
    CHECK_INT(held_find(q, n[1]), -1);
    held_remove_at(q, 1);
    CHECK_STR(ids(q, buf, sizeof buf), "1");
    for (int i = 0; i < 3; i++)
        notification_free(n[i]);
    notification_free(stranger);
    held_free_all(&list);
}

RUN_TESTS(CASE(one_queue_per_receiver), CASE(retried_notifications_go_back_in_arrival_order),
          CASE(expiry_at_max_age_keeps_the_rest_in_order),
          CASE(expiry_counts_from_the_end_of_quiet_hours),
          CASE(one_is_found_and_taken_out_of_the_middle))
