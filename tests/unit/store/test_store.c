/* The durable store: commit, dedup, delivery results, recovery, dead
 * letters and the alert history, on a real SQLite file. */
#include "harness.h"

#include <pthread.h>
#include <unistd.h>

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

static store_reader *reader(void)
{
    char err[512];
    store_reader *r = store_reader_open(here(), err, sizeof err);
    if (!r)
        fprintf(stderr, "store_reader_open: %s\n", err);
    return r;
}

static void collect(void *ctx, notification *n)
{
    notification ***out = ctx;
    size_t len = 0;
    while ((*out)[len])
        len++;
    *out = xrealloc(*out, (len + 2) * sizeof **out);
    (*out)[len] = n;
    (*out)[len + 1] = NULL;
}

/* Outcomes the writer reports on disk; read after store_close joined it. */
static int outcomes_written;

static void count_written(void *ctx, int failed, const char *error)
{
    (void)ctx;
    (void)error;
    if (!failed)
        outcomes_written++;
}

/* load_pending: collect into *pending before the writer starts, as serve does */
static store *open_store_loading(int64_t dedup_ms, notification ***pending)
{
    store_settings settings = {dedup_ms, 30LL * 86400 * 1000, 3600000, 0};
    char err[512];
    store *s = store_open(here(), &settings, err, sizeof err);
    if (s && pending && store_load_pending(s, collect, pending, err, sizeof err)) {
        store_close(s);
        s = NULL;
    }
    if (s && store_start(s, ignore_requeued, NULL, err, sizeof err)) {
        store_close(s);
        s = NULL;
    }
    if (!s)
        fprintf(stderr, "store_open: %s\n", err);
    return s;
}

static store *open_store(int64_t dedup_ms) { return open_store_loading(dedup_ms, NULL); }

TEST(commit_dedup_and_recover)
{
    store *s = open_store(60000);
    CHECK(s != NULL);
    int64_t now = wall_ms();
    notification *batch[3] = {make("ops", "DiskFull", "db1", now), make("ops", "DiskFull", "db2", now),
                              make("ops", "DiskFull", "db1", now + 1000)};
    CHECK_INT(commit(s, batch, 2), 0);
    CHECK(batch[0]->id > 0 && batch[1]->id > batch[0]->id);
    /* the same receiver, group, status and alert (and its status) within the window */
    CHECK_INT(commit(s, &batch[2], 1), 0);
    CHECK_INT(batch[2]->id, 0);
    batch[0]->attempts = 1;
    outcomes_written = 0;
    store_mark_delivered(s, batch[0], count_written, NULL);
    store_close(s); /* flushes the mark */
    CHECK_INT(outcomes_written, 1);

    /* after a restart only the undelivered one comes back, whole */
    notification **pending = xcalloc(1, sizeof *pending);
    s = open_store_loading(60000, &pending);
    CHECK(s != NULL);
    CHECK(pending[0] != NULL && pending[1] == NULL);
    CHECK_INT(pending[0]->id, batch[1]->id);
    CHECK_STR(pending[0]->content.text, "### 告警\nbody");
    CHECK_INT(pending[0]->content.format, HERALD_FORMAT_MARKDOWN);
    CHECK_INT(pending[0]->content.mentions.mobiles_len, 1);
    CHECK_STR(pending[0]->content.mentions.mobiles[0], "13800000000");
    CHECK_STR(pending[0]->dedup_key, batch[1]->dedup_key);
    notification_free(pending[0]);
    free(pending);
    store_close(s);
    for (int i = 0; i < 3; i++)
        notification_free(batch[i]);
}

/* What is held back is the last notification of the stream again: a
 * group firing, resolved and firing again is three messages; a dead
 * letter does not hold back the next copy. */
TEST(dedup_compares_with_the_last_of_the_stream)
{
    store *s = open_store(60000);
    CHECK(s != NULL);
    int64_t now = wall_ms();
    notification *n[6];
    for (int i = 0; i < 6; i++) /* the second: resolved in between */
        n[i] = make_with_status("ops", "Flap", "db1", now + i,
                                i == 1 ? ALERT_RESOLVED : ALERT_FIRING);
    CHECK_INT(commit(s, &n[0], 1), 0);
    CHECK(n[0]->id > 0);
    CHECK_INT(commit(s, &n[1], 1), 0);
    CHECK(n[1]->id > 0);          /* resolved: news */
    CHECK_INT(commit(s, &n[2], 1), 0);
    CHECK(n[2]->id > 0);          /* firing again: news */
    CHECK_INT(commit(s, &n[3], 1), 0);
    CHECK_INT(n[3]->id, 0);       /* the replica's copy */
    store_mark_dead(s, n[2], "errcode 310000: sign not match", count_written, NULL);
    CHECK_INT(commit(s, &n[4], 1), 0);
    CHECK(n[4]->id > 0);          /* the last one died: this one goes */
    CHECK_INT(commit(s, &n[5], 1), 0);
    CHECK_INT(n[5]->id, 0);
    store_close(s);
    for (int i = 0; i < 6; i++)
        notification_free(n[i]);
}

/* A group still firing, in which one alert resolved, is news: not a
 * duplicate of the same group with both firing. Alert order is irrelevant. */
TEST(dedup_key_sees_each_alert_status)
{
    alert a = {0}, b = {0}, b_resolved = {0};
    labelset_set(&a.labels, "alertname", "A");
    labelset_set(&b.labels, "alertname", "B");
    labelset_set(&b_resolved.labels, "alertname", "B");
    b_resolved.status = ALERT_RESOLVED;
    alert_fingerprint(&a.labels, a.fingerprint);
    alert_fingerprint(&b.labels, b.fingerprint);
    alert_fingerprint(&b_resolved.labels, b_resolved.fingerprint);
    const alert *both_firing[2] = {&a, &b}, *reversed[2] = {&b, &a}, *one_resolved[2] = {&a, &b_resolved};
    notification *n[3];
    const alert *const *sets[3] = {both_firing, reversed, one_resolved};
    for (int i = 0; i < 3; i++) {
        n[i] = xcalloc(1, sizeof *n[i]);
        n[i]->receiver = xstrdup("ops");
        n[i]->status = xstrdup("firing");
        notification_describe(n[i], "{}:{}", sets[i], 2);
    }
    CHECK_STR(n[0]->dedup_key, n[1]->dedup_key);
    CHECK(strcmp(n[0]->dedup_key, n[2]->dedup_key) != 0);
    for (int i = 0; i < 3; i++)
        notification_free(n[i]);
    alert_free(&a);
    alert_free(&b);
    alert_free(&b_resolved);
}

TEST(dead_letters_requeue_and_drop)
{
    store *s = open_store(0);
    int64_t now = wall_ms();
    notification *batch[2] = {make("ops", "A", "h1", now), make("ops", "B", "h2", now)};
    char err[256];
    CHECK_INT(commit(s, batch, 2), 0);
    batch[0]->attempts = 1;
    outcomes_written = 0;
    store_mark_dead(s, batch[0], "errcode 310000: sign not match", count_written, NULL);
    store_mark_dead(s, batch[1], "errcode 300001: token is not exist", count_written, NULL);
    store_close(s);
    CHECK_INT(outcomes_written, 2);

    store_reader *r = reader();
    CHECK(r != NULL);
    queue_rows rows;
    CHECK_INT(store_list(r, QUEUE_DEAD, 10, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 2);
    CHECK_INT(rows.items[0].id, batch[1]->id); /* newest first */
    CHECK_STR(rows.items[1].last_error, "errcode 310000: sign not match");
    CHECK_STR(rows.items[1].state, "dead");
    CHECK_INT(rows.items[1].attempts, 1);
    CHECK(rows.items[1].finished_ms >= now);
    CHECK_STR(rows.items[1].title, "A");
    queue_rows_free(&rows);
    CHECK_INT(store_list(r, QUEUE_PENDING, 10, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 0);
    notification_detail d;
    CHECK_INT(store_show(r, batch[0]->id, &d, err, sizeof err), 0);
    CHECK_STR(d.text, "### 告警\nbody");
    CHECK_CONTAINS(d.mentions_json, "\"13800000000\"");
    CHECK_INT(d.alerts_len, 1);
    CHECK_STR(d.alerts[0].alertname, "A");
    CHECK_STR(d.alerts[0].status, "firing");
    CHECK_CONTAINS(d.alerts[0].labels_json, "\"instance\":\"h1\"");
    notification_detail_free(&d);
    CHECK_INT(store_show(r, 9999, &d, err, sizeof err), 1);

    CHECK_INT(store_requeue(r, batch[0]->id, err, sizeof err), 0);
    CHECK_INT(store_requeue(r, batch[0]->id, err, sizeof err), 1); /* no longer dead */
    CHECK_INT(store_drop(r, batch[1]->id, err, sizeof err), 0);
    CHECK_INT(store_drop(r, batch[1]->id, err, sizeof err), 1);
    CHECK_INT(store_list(r, QUEUE_DEAD, 10, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 0);
    store_reader_close(r);

    /* the requeued one is pending again, attempts reset */
    notification **pending = xcalloc(1, sizeof *pending);
    s = open_store_loading(0, &pending);
    CHECK(s != NULL);
    CHECK(pending[0] != NULL && pending[1] == NULL);
    CHECK_INT(pending[0]->id, batch[0]->id);
    CHECK_INT(pending[0]->attempts, 0);
    notification_free(pending[0]);
    free(pending);
    store_close(s);
    notification_free(batch[0]);
    notification_free(batch[1]);
}

TEST(history_filters_and_top)
{
    store *s = open_store(0);
    int64_t now = wall_ms();
    notification *batch[4] = {make("ops", "DiskFull", "db1", now), make("ops", "DiskFull", "db2", now),
                              make("wms", "HostDown", "web1", now), make("ops", "CPU", "db1", now)};
    char err[256];
    CHECK_INT(commit(s, batch, 4), 0);
    store_mark_delivered(s, batch[0], count_written, NULL);
    store_close(s);

    store_reader *r = reader();
    CHECK(r != NULL);
    history_rows rows;
    history_filter f = {.alertname = "DiskFull", .limit = 100};
    CHECK_INT(store_history(r, &f, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 2);
    CHECK_STR(rows.items[1].result, "delivered");
    CHECK_STR(rows.items[0].result, "pending");
    CHECK_STR(rows.items[0].instance, "db2");
    CHECK_CONTAINS(rows.items[0].labels_json, "\"instance\":\"db2\"");
    CHECK_CONTAINS(rows.items[0].annotations_json, "磁盘将满");
    CHECK_INT(rows.items[0].notification_id, batch[1]->id);
    CHECK(rows.items[0].starts_at > 1795238566.38 && rows.items[0].starts_at < 1795238566.4);
    CHECK(rows.items[0].ends_at == 0);
    history_rows_free(&rows);

    history_filter by_receiver = {.receiver = "wms", .limit = 5};
    CHECK_INT(store_history(r, &by_receiver, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 1);
    CHECK_STR(rows.items[0].alertname, "HostDown");
    history_rows_free(&rows);

    history_filter future = {.since_ms = now + 3600000, .limit = 100};
    CHECK_INT(store_history(r, &future, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 0);

    top_rows top;
    history_top by_name = {"alertname", now - 60000, 10};
    CHECK_INT(store_history_top(r, &by_name, &top, err, sizeof err), 0);
    CHECK_INT(top.len, 3);
    CHECK_STR(top.items[0].value, "DiskFull");
    CHECK_INT(top.items[0].count, 2);
    CHECK_STR(top.items[1].value, "CPU"); /* ties by name */
    CHECK_STR(top.items[2].value, "HostDown");
    top_rows_free(&top);
    history_top by_instance = {"instance", now - 60000, 1};
    CHECK_INT(store_history_top(r, &by_instance, &top, err, sizeof err), 0);
    CHECK_INT(top.len, 1);
    CHECK_STR(top.items[0].value, "db1");
    CHECK_INT(top.items[0].count, 2);
    top_rows_free(&top);
    store_reader_close(r);
    for (int i = 0; i < 4; i++)
        notification_free(batch[i]);
}

/* A notification's history rows, its alerts' states and what its
 * receiver was told go in statements of up to eight rows: 19 alerts are
 * two of eight and one of three, each row its own alert's. */
TEST(a_notification_of_many_alerts_has_a_row_of_each_for_each)
{
    enum { ALERTS = 19 };
    alert alerts[ALERTS];
    const alert *list[ALERTS];
    for (int i = 0; i < ALERTS; i++) {
        char instance[16];
        snprintf(instance, sizeof instance, "host%02d", i);
        alerts[i] = (alert){.status = i % 3 ? ALERT_FIRING : ALERT_RESOLVED};
        labelset_set(&alerts[i].labels, "alertname", "Many");
        labelset_set(&alerts[i].labels, "instance", instance);
        labelset_set(&alerts[i].annotations, "summary", instance);
        alerts[i].starts_at = 1795238000 + i;
        alerts[i].ends_at = i % 3 ? 0 : 1795239000 + i;
        alert_fingerprint(&alerts[i].labels, alerts[i].fingerprint);
        list[i] = &alerts[i];
    }
    notification *n = xcalloc(1, sizeof *n);
    n->receiver = xstrdup("many");
    n->status = xstrdup("firing");
    n->alert_count = ALERTS;
    n->content.format = HERALD_FORMAT_TEXT;
    n->content.title = xstrdup("Many");
    n->content.text = xstrdup("many alerts");
    n->created_ms = n->next_attempt_ms = wall_ms();
    notification_describe(n, "{}:{alertname=\"Many\"}", list, ALERTS);
    for (int i = 0; i < ALERTS; i++)
        alert_free(&alerts[i]);

    store *s = open_store(0);
    alert_report report = {n->alerts, n->alerts_len, "webhook", n->created_ms};
    CHECK_INT(commit_seen(s, &n, 1, &report), 0);
    store_close(s);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_state"), ALERTS);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_state WHERE status = 'resolved'"
                                 " AND expires_ms IS NOT NULL"),
              (ALERTS + 2) / 3);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_notified n JOIN alert_state s"
                                 " USING (fingerprint) WHERE n.receiver = 'many'"
                                 " AND n.status = s.status AND n.starts_at = s.starts_at"),
              ALERTS);

    store_reader *r = reader();
    CHECK(r != NULL);
    history_rows rows;
    history_filter by_receiver = {.receiver = "many", .limit = 100};
    char err[256];
    CHECK_INT(store_history(r, &by_receiver, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, ALERTS);
    int seen[ALERTS] = {0};
    for (size_t k = 0; k < rows.len; k++) {
        int i = atoi(rows.items[k].instance + strlen("host"));
        CHECK(i >= 0 && i < ALERTS);
        if (i < 0 || i >= ALERTS)
            continue;
        seen[i]++;
        CHECK_INT(rows.items[k].notification_id, n->id);
        CHECK_STR(rows.items[k].status, i % 3 ? "firing" : "resolved");
        CHECK(rows.items[k].starts_at == 1795238000 + i);
        CHECK(rows.items[k].ends_at == (i % 3 ? 0 : 1795239000 + i));
        CHECK_CONTAINS(rows.items[k].annotations_json, rows.items[k].instance);
    }
    for (int i = 0; i < ALERTS; i++)
        CHECK_INT(seen[i], 1);
    history_rows_free(&rows);
    store_reader_close(r);
    notification_free(n);
}

/* A duplicate found by the dedup check must not leave the writer's
 * connection reading an old snapshot: once `herald queue retry` (another
 * connection) had written, every later write would fail. */
TEST(writes_go_on_after_a_duplicate_and_a_requeue)
{
    store *s = open_store(60000);
    CHECK(s != NULL);
    int64_t now = wall_ms();
    notification *batch[4] = {make("ops", "DiskFull", "db1", now),
                              make("ops", "DiskFull", "db1", now + 1),
                              make("ops", "DiskFull", "db2", now + 2),
                              make("ops", "DiskFull", "db3", now + 3)};
    char err[256];
    CHECK_INT(commit(s, &batch[0], 1), 0);
    CHECK_INT(commit(s, &batch[1], 1), 0); /* finds the duplicate */
    CHECK_INT(batch[1]->id, 0);
    store_mark_dead(s, batch[0], "errcode 310000: sign not match", count_written, NULL);
    CHECK_INT(commit(s, &batch[2], 1), 0); /* writes the mark too */
    store_reader *r = reader();
    CHECK(r != NULL);
    CHECK_INT(store_requeue(r, batch[0]->id, err, sizeof err), 0);
    store_reader_close(r);
    CHECK_INT(commit(s, &batch[3], 1), 0);
    CHECK(batch[3]->id > batch[2]->id);
    store_close(s);
    for (int i = 0; i < 4; i++)
        notification_free(batch[i]);
}

/* A dropped dead letter's id is never given to a new notification: its
 * history rows would show up as the new one's. */
TEST(ids_are_not_reused_after_a_drop)
{
    store *s = open_store(0);
    CHECK(s != NULL);
    int64_t now = wall_ms();
    notification *batch[2] = {make("ops", "DiskFull", "db1", now), make("ops", "DiskFull", "db2", now)};
    char err[256];
    CHECK_INT(commit(s, &batch[0], 1), 0);
    store_mark_dead(s, batch[0], "errcode 300001: token is not exist", count_written, NULL);
    store_close(s);
    store_reader *r = reader();
    CHECK(r != NULL);
    CHECK_INT(store_drop(r, batch[0]->id, err, sizeof err), 0);
    store_reader_close(r);
    s = open_store(0);
    CHECK(s != NULL);
    CHECK_INT(commit(s, &batch[1], 1), 0);
    CHECK(batch[1]->id > batch[0]->id);
    store_close(s);
    notification_free(batch[0]);
    notification_free(batch[1]);
}

TEST(unusable_data_dir_is_named)
{
    store_settings settings = {0, 0, 3600000, 0};
    char err[512];
    store *s = store_open(&(store_location){.data_dir = "/proc/herald-cannot-be-here"}, &settings, err,
                          sizeof err);
    CHECK(s == NULL);
    CHECK_CONTAINS(err, "data_dir: /proc/herald-cannot-be-here");
    /* a reader never creates the store: it says there is none yet */
    store_reader *r = store_reader_open(&(store_location){.data_dir = "/nonexistent-herald"}, err, sizeof err);
    CHECK(r == NULL);
    CHECK_CONTAINS(err, "/nonexistent-herald/herald.db: no store yet");
}

TEST(retention_removes_old_history)
{
    store *s = open_store(0);
    int64_t now = wall_ms();
    notification *batch[2] = {make("ops", "Old", "h1", now - 3LL * 86400 * 1000),
                              make("ops", "New", "h2", now)};
    char err[256];
    CHECK_INT(commit(s, batch, 2), 0);
    store_close(s);
    /* retention one day: the writer sweeps when it starts */
    store_settings settings = {0, 86400LL * 1000, 3600000, 0};
    s = store_open(here(), &settings, err, sizeof err);
    CHECK(s != NULL);
    CHECK_INT(store_start(s, ignore_requeued, NULL, err, sizeof err), 0);
    store_close(s);
    store_reader *r = reader();
    CHECK(r != NULL);
    history_rows rows;
    history_filter all = {.limit = 100};
    CHECK_INT(store_history(r, &all, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 1);
    CHECK_STR(rows.items[0].alertname, "New");
    history_rows_free(&rows);
    store_reader_close(r);
    notification_free(batch[0]);
    notification_free(batch[1]);
}

typedef struct loaded_targets {
    char seen[512];
} loaded_targets;

static void loaded_send(void *ctx, const char *target, int64_t at_ms)
{
    loaded_targets *l = ctx;
    size_t used = strlen(l->seen);
    snprintf(l->seen + used, sizeof l->seen - used, "send %s %lld;", target, (long long)at_ms);
}

static void loaded_pause(void *ctx, const char *target, int64_t until_ms)
{
    loaded_targets *l = ctx;
    size_t used = strlen(l->seen);
    snprintf(l->seen + used, sizeof l->seen - used, "pause %s %lld;", target, (long long)until_ms);
}

/* What the rate limiter needs after a restart: recent sends, oldest
 * first, and pauses still running (a later, shorter pause keeps the
 * longer one). */
TEST(target_sends_and_pauses_survive_a_restart)
{
    store *s = open_store(0);
    CHECK(s != NULL);
    int64_t now = wall_ms();
    commit_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    send_admission asks[4] = {{.per_minute = 20}, {.per_minute = 20}, {.per_minute = 20},
                              {.per_minute = 20}};
    store_admit_send(s, "aa", now - 90000, &asks[0], count_written, NULL); /* outside the window */
    store_admit_send(s, "bb", now - 2000, &asks[1], count_written, NULL);
    store_admit_send(s, "aa", now - 1000, &asks[2], count_written, NULL);
    store_record_pause(s, "bb", now + 600000);
    store_record_pause(s, "bb", now + 5000);
    store_record_pause(s, "cc", now - 1);     /* over */
    store_admit_send(s, "cc", now, &asks[3], committed, &w);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.done_cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    CHECK_INT(w.failed, 0);
    store_close(s);

    store_settings settings = {0, 0, 3600000, 0};
    char err[256];
    s = store_open(here(), &settings, err, sizeof err);
    CHECK(s != NULL);
    loaded_targets got = {""};
    CHECK_INT(store_load_targets(s, now - 61000, now, loaded_send, loaded_pause, &got, err,
                                 sizeof err),
              0);
    char want[512];
    snprintf(want, sizeof want, "send bb %lld;send aa %lld;send cc %lld;pause bb %lld;",
             (long long)(now - 2000), (long long)(now - 1000), (long long)now,
             (long long)(now + 600000));
    CHECK_STR(got.seen, want);
    store_close(s);
}

/* A second daemon on the same data_dir is refused, naming the first. */
TEST(a_store_in_use_is_refused)
{
    store *s = open_store(0);
    CHECK(s != NULL);
    store_settings settings = {0, 0, 3600000, 0};
    char err[512], want[256];
    store *second = store_open(here(), &settings, err, sizeof err);
    CHECK(second == NULL);
    snprintf(want, sizeof want, "data_dir: %s is in use by another herald serve (pid %ld)", dir,
             (long)getpid());
    CHECK_CONTAINS(err, want);
    store_close(s);
    second = store_open(here(), &settings, err, sizeof err); /* free again */
    CHECK(second != NULL);
    store_close(second);
}

WRAP(commit_dedup_and_recover)
WRAP(dead_letters_requeue_and_drop)
WRAP(history_filters_and_top)
WRAP(a_notification_of_many_alerts_has_a_row_of_each_for_each)
WRAP(retention_removes_old_history)
WRAP(writes_go_on_after_a_duplicate_and_a_requeue)
WRAP(ids_are_not_reused_after_a_drop)
WRAP(target_sends_and_pauses_survive_a_restart)
WRAP(dedup_compares_with_the_last_of_the_stream)
WRAP(a_store_in_use_is_refused)

RUN_TESTS(CASE(dedup_key_sees_each_alert_status), WCASE(commit_dedup_and_recover), WCASE(dead_letters_requeue_and_drop),
          WCASE(history_filters_and_top), WCASE(a_notification_of_many_alerts_has_a_row_of_each_for_each),
          WCASE(retention_removes_old_history),
          WCASE(writes_go_on_after_a_duplicate_and_a_requeue), WCASE(ids_are_not_reused_after_a_drop),
          CASE(unusable_data_dir_is_named), WCASE(target_sends_and_pauses_survive_a_restart),
          WCASE(dedup_compares_with_the_last_of_the_stream), WCASE(a_store_in_use_is_refused))
