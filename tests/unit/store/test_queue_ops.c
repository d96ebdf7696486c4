/* An operator's requests about waiting notifications (send-now, drop,
 * unpause), as the store records them and its writer hands them to the
 * daemon, and the attempt history the marks write: on a real SQLite
 * file, with the writer running. */
#include "harness.h"

#include <pthread.h>
#include <time.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/fresh_dir.h"
#include "store/store_fixture.h"
#include "testutil.h"
#include "util/clock.h"


static const store_location *here(void)
{
    static store_location where;
    where.data_dir = dir;
    return &where;
}

/* What the writer handed over, waited for as the dispatcher would be woken. */
typedef struct requests_seen {
    pthread_mutex_t lock;
    pthread_cond_t arrived;
    queue_request *head, **tail;
} requests_seen;

static requests_seen seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL};

static void take_request(void *ctx, queue_request *q)
{
    requests_seen *r = ctx;
    pthread_mutex_lock(&r->lock);
    *r->tail = q;
    r->tail = &q->next;
    pthread_cond_signal(&r->arrived);
    pthread_mutex_unlock(&r->lock);
}

/* The next request handed over; NULL after 10 s without one. */
static queue_request *next_request(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&seen.lock);
    while (!seen.head && pthread_cond_timedwait(&seen.arrived, &seen.lock, &until) == 0)
        ;
    queue_request *q = seen.head;
    if (q) {
        seen.head = q->next;
        if (!seen.head)
            seen.tail = &seen.head;
    }
    pthread_mutex_unlock(&seen.lock);
    return q;
}

static store *open_store(void)
{
    seen.head = NULL;
    seen.tail = &seen.head;
    store_settings settings = {0, 30LL * 86400 * 1000, 3600000, 0};
    char err[512];
    store *s = store_open(here(), &settings, err, sizeof err);
    if (s) {
        store_on_requests(s, take_request, &seen);
        if (store_start(s, ignore_requeued, NULL, err, sizeof err)) {
            store_close(s);
            s = NULL;
        }
    }
    if (!s)
        fprintf(stderr, "store_open: %s\n", err);
    return s;
}

static store_reader *reader(void)
{
    char err[512];
    store_reader *r = store_reader_open(here(), err, sizeof err);
    if (!r)
        fprintf(stderr, "store_reader_open: %s\n", err);
    return r;
}

static void wait_written(void *ctx, int failed, const char *error)
{
    (void)error;
    commit_wait *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    w->failed = failed;
    pthread_cond_signal(&w->done_cond);
    pthread_mutex_unlock(&w->lock);
}

/* A mark, waited for until it is on disk. */
static int mark(store *s, const notification *n, const char *dead_reason, int delivered)
{
    commit_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    if (delivered)
        store_mark_delivered(s, n, wait_written, &w);
    else if (dead_reason)
        store_mark_dead(s, n, dead_reason, wait_written, &w);
    else
        store_mark_retry(s, n, wait_written, &w);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.done_cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    return w.failed ? -1 : 0;
}

/* A failed attempt, then a delivery: both listed, and the error of the
 * first is not the delivered one's last_error. Outcomes that end no
 * attempt (a notification put back at a stop) list nothing. */
TEST(attempts_are_listed_and_a_delivery_clears_the_last_error)
{
    store *s = open_store();
    notification *n = make("ops", "A", "h1", wall_ms());
    CHECK_INT(commit(s, &n, 1), 0);
    n->attempts = 1;
    n->attempted = 1;
    notification_set_error(n, "errcode 130101: send too fast");
    n->next_attempt_ms = wall_ms() + 600000;
    CHECK_INT(mark(s, n, NULL, 0), 0);
    n->attempted = 0; /* put back without an attempt's outcome */
    CHECK_INT(mark(s, n, NULL, 0), 0);
    n->attempts = 2;
    n->attempted = 1;
    CHECK_INT(mark(s, n, NULL, 1), 0);

    char err[256];
    store_reader *r = reader();
    notification_detail d;
    CHECK_INT(store_show(r, n->id, &d, err, sizeof err), 0);
    CHECK_STR(d.summary.state, "delivered");
    CHECK(d.summary.last_error == NULL);
    CHECK_INT(d.attempts_len, 2);
    CHECK_STR(d.attempts[0].outcome, "retry");
    CHECK_STR(d.attempts[0].detail, "errcode 130101: send too fast");
    CHECK(d.attempts[0].actor == NULL);
    CHECK_STR(d.attempts[1].outcome, "delivered");
    CHECK(d.attempts[1].detail == NULL);
    CHECK(d.attempts[0].at_ms <= d.attempts[1].at_ms && d.attempts[0].at_ms > 0);
    notification_detail_free(&d);
    store_reader_close(r);
    store_close(s);
    notification_free(n);
}

/* send-now: only a waiting notification, due now in the store, and the
 * daemon is told. */
TEST(send_now_is_for_waiting_notifications_and_reaches_the_daemon)
{
    store *s = open_store();
    int64_t now = wall_ms();
    notification *batch[2] = {make("ops", "A", "h1", now), make("ops", "B", "h2", now)};
    CHECK_INT(commit(s, batch, 2), 0);
    batch[0]->next_attempt_ms = now + 600000;
    CHECK_INT(mark(s, batch[0], NULL, 0), 0);
    CHECK_INT(mark(s, batch[1], "errcode 310000: sign not match", 0), 0);

    char err[256];
    store_reader *r = reader();
    CHECK_INT(store_send_now(r, batch[1]->id, err, sizeof err), 1); /* dead: retry it */
    CHECK_INT(store_send_now(r, 999999, err, sizeof err), 1);
    CHECK_INT(store_send_now(r, batch[0]->id, err, sizeof err), 0);
    queue_rows rows;
    CHECK_INT(store_list(r, QUEUE_PENDING, 10, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 1);
    CHECK(rows.items[0].next_attempt_ms <= wall_ms());
    queue_rows_free(&rows);
    queue_request *q = next_request();
    CHECK(q != NULL);
    CHECK_INT(q->kind, QUEUE_SEND_NOW);
    CHECK_INT(q->id, batch[0]->id);
    queue_request_free(q);
    store_reader_close(r);
    store_close(s);
    notification_free(batch[0]);
    notification_free(batch[1]);
}

static void count_loaded(void *ctx, notification *n)
{
    ++*(size_t *)ctx;
    notification_free(n);
}

/* drop: the store has it dropped at once, with the reason and who, the
 * daemon is told, and the outcome of an attempt that was in flight is
 * listed without making it delivered again. */
TEST(a_dropped_notification_stays_dropped)
{
    store *s = open_store();
    notification *n = make("ops", "A", "h1", wall_ms());
    CHECK_INT(commit(s, &n, 1), 0);

    char err[256];
    store_reader *r = reader();
    CHECK_INT(store_drop_pending(r, n->id, "maintenance", "alice (herald queue)", err,
                                 sizeof err),
              0);
    CHECK_INT(store_drop_pending(r, n->id, NULL, "bob", err, sizeof err), 1);
    CHECK_INT(store_send_now(r, n->id, err, sizeof err), 1);
    queue_request *q = next_request();
    CHECK(q != NULL);
    CHECK_INT(q->kind, QUEUE_DROP);
    CHECK_INT(q->id, n->id);
    queue_request_free(q);

    n->attempts = 1;
    n->attempted = 1;
    CHECK_INT(mark(s, n, NULL, 1), 0); /* the answer that was in flight */
    notification_detail d;
    CHECK_INT(store_show(r, n->id, &d, err, sizeof err), 0);
    CHECK_STR(d.summary.state, "dropped");
    CHECK_STR(d.summary.last_error, "maintenance");
    CHECK(d.summary.finished_ms > 0);
    CHECK_INT(d.summary.attempts, 0);
    CHECK_INT(d.attempts_len, 2);
    CHECK_STR(d.attempts[0].outcome, "dropped");
    CHECK_STR(d.attempts[0].detail, "maintenance");
    CHECK_STR(d.attempts[0].actor, "alice (herald queue)");
    CHECK_STR(d.attempts[1].outcome, "delivered");
    notification_detail_free(&d);

    queue_rows rows;
    CHECK_INT(store_list(r, QUEUE_PENDING, 10, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 0);
    queue_rows_free(&rows);
    CHECK_INT(store_list(r, QUEUE_DEAD, 10, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 0);
    queue_rows_free(&rows);
    history_filter f = {.limit = 10};
    history_rows h;
    CHECK_INT(store_history(r, &f, &h, err, sizeof err), 0);
    CHECK_INT(h.len, 1);
    CHECK_STR(h.items[0].result, "dropped");
    history_rows_free(&h);
    store_reader_close(r);
    store_close(s);
    notification_free(n);

    /* a restart does not load it */
    store_settings settings = {0, 0, 3600000, 0};
    s = store_open(here(), &settings, err, sizeof err);
    CHECK(s != NULL);
    size_t loaded = 0;
    CHECK_INT(store_load_pending(s, count_loaded, &loaded, err, sizeof err), 0);
    store_close(s);
    CHECK_INT(loaded, 0);
}

static void count_pause(void *ctx, const char *target, int64_t until_ms)
{
    (void)target;
    (void)until_ms;
    ++*(int *)ctx;
}

static void ignore_send(void *ctx, const char *target, int64_t at_ms)
{
    (void)ctx;
    (void)target;
    (void)at_ms;
}

static int pauses_stored(void)
{
    store_settings settings = {0, 0, 3600000, 0};
    char err[256];
    store *s = store_open(here(), &settings, err, sizeof err);
    int pauses = 0;
    if (!s || store_load_targets(s, 0, wall_ms(), ignore_send, count_pause, &pauses, err,
                                 sizeof err))
        pauses = -1;
    store_close(s);
    return pauses;
}

/* unpause names a receiver: the daemon, which knows its targets, clears
 * their pauses, in the store too. */
TEST(unpause_reaches_the_daemon_and_a_cleared_pause_is_gone)
{
    store *s = open_store();
    store_record_pause(s, "target-a", wall_ms() + 600000);
    store_record_pause(s, "target-b", wall_ms() + 600000);
    char err[256];
    store_reader *r = reader();
    CHECK_INT(store_unpause(r, "ops", err, sizeof err), 0);
    queue_request *q = next_request();
    CHECK(q != NULL);
    CHECK_INT(q->kind, QUEUE_UNPAUSE);
    CHECK_STR(q->receiver, "ops");
    queue_request_free(q);
    store_clear_pause(s, "target-a");
    store_reader_close(r);
    store_close(s);
    CHECK_INT(pauses_stored(), 1);
}

/* Requests made while no daemon runs wait for the next. */
TEST(requests_made_while_stopped_reach_the_next_start)
{
    store *s = open_store();
    notification *n = make("ops", "A", "h1", wall_ms());
    CHECK_INT(commit(s, &n, 1), 0);
    store_close(s);
    char err[256];
    store_reader *r = reader();
    CHECK_INT(store_send_now(r, n->id, err, sizeof err), 0);
    CHECK_INT(store_unpause(r, "ops", err, sizeof err), 0);
    store_reader_close(r);
    s = open_store();
    queue_request *first = next_request(), *second = next_request();
    CHECK(first != NULL && second != NULL);
    CHECK_INT(first->kind, QUEUE_SEND_NOW); /* in the order they were made */
    CHECK_INT(second->kind, QUEUE_UNPAUSE);
    queue_request_free(first);
    queue_request_free(second);
    store_close(s);
    notification_free(n);
}

/* A store from before 'dropped' gets the history's view that knows it. */
TEST(an_older_store_learns_dropped_in_its_history)
{
    store *s = open_store();
    notification *n = make("ops", "A", "h1", wall_ms());
    CHECK_INT(commit(s, &n, 1), 0);
    store_close(s);
    char path[1024];
    snprintf(path, sizeof path, "%s/herald.db", dir);
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db,
                           "DROP VIEW history_results;"
                           "CREATE VIEW history_results AS SELECT h.*, CASE d.state"
                           " WHEN 'delivered' THEN 'delivered' WHEN 'dead' THEN 'dead'"
                           " ELSE 'pending' END AS result FROM history h"
                           " LEFT JOIN deliveries d ON d.id = h.notification_id;",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    s = open_store();
    char err[256];
    store_reader *r = reader();
    CHECK_INT(store_drop_pending(r, n->id, NULL, "alice", err, sizeof err), 0);
    history_filter f = {.limit = 10};
    history_rows h;
    CHECK_INT(store_history(r, &f, &h, err, sizeof err), 0);
    CHECK_INT(h.len, 1);
    CHECK_STR(h.items[0].result, "dropped");
    history_rows_free(&h);
    notification_detail d;
    CHECK_INT(store_show(r, n->id, &d, err, sizeof err), 0);
    CHECK_STR(d.summary.last_error, "dropped by operator");
    notification_detail_free(&d);
    store_reader_close(r);
    store_close(s);
    notification_free(n);
}

WRAP(attempts_are_listed_and_a_delivery_clears_the_last_error)
WRAP(send_now_is_for_waiting_notifications_and_reaches_the_daemon)
WRAP(a_dropped_notification_stays_dropped)
WRAP(unpause_reaches_the_daemon_and_a_cleared_pause_is_gone)
WRAP(requests_made_while_stopped_reach_the_next_start)
WRAP(an_older_store_learns_dropped_in_its_history)

RUN_TESTS(WCASE(attempts_are_listed_and_a_delivery_clears_the_last_error),
          WCASE(send_now_is_for_waiting_notifications_and_reaches_the_daemon),
          WCASE(a_dropped_notification_stays_dropped),
          WCASE(unpause_reaches_the_daemon_and_a_cleared_pause_is_gone),
          WCASE(requests_made_while_stopped_reach_the_next_start),
          WCASE(an_older_store_learns_dropped_in_its_history))
