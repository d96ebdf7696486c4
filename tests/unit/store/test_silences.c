/* Silences in a real SQLite store: added, listed and expired by a
 * reader's connection; a silenced alert's history row written once per
 * state it is held back in, and its alert state naming the silence. */
#include "harness.h"

#include "store/fresh_dir.h"
#include "store/query.h"
#include "store/store.h"
#include "store/store_fixture.h"
#include "testutil.h"
#include "util/clock.h"

#define HOUR_MS (3600LL * 1000)

static store *open_store(void) { return fixture_store_open(dir, ignore_requeued, NULL); }

static store_reader *open_reader(void) { return fixture_reader_open(dir); }

static silence make_silence(const char *matchers, int64_t now, int64_t duration_ms)
{
    silence s;
    char err[256], duration[32];
    snprintf(duration, sizeof duration, "%llds", (long long)(duration_ms / 1000));
    if (silence_make(matchers, duration, NULL, "alice", "why", now, &silence_cli_words, &s, err,
                     sizeof err))
        fprintf(stderr, "silence_make: %s\n", err);
    return s;
}

TEST(added_listed_and_expired)
{
    store *s = open_store();
    store_reader *r = open_reader();
    CHECK(s && r);
    char err[512];
    int64_t t = wall_ms();
    silence a = make_silence("alertname=HostDown", t - 2000, HOUR_MS),
            b = make_silence("alertname=DiskFull", t - 1000, HOUR_MS);
    CHECK_INT(store_silence_add(r, &a, err, sizeof err), 0);
    CHECK_INT(store_silence_add(r, &b, err, sizeof err), 0);
    silence_rows rows;
    CHECK_INT(store_silences(r, 0, t, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 2);
    CHECK_STR(rows.items[0].id, b.id); /* newest first */
    CHECK_STR(rows.items[1].matchers, "alertname=HostDown");
    CHECK_STR(rows.items[1].created_by, "alice");
    CHECK_STR(rows.items[1].comment, "why");
    CHECK_INT(rows.items[1].ends_ms, a.ends_ms);
    silence_rows_free(&rows);

    CHECK_INT(store_silence_expire(r, a.id, t, err, sizeof err), 0);
    CHECK_INT(store_silence_expire(r, a.id, t + 1, err, sizeof err), 2);
    CHECK_INT(store_silence_expire(r, "nope", t, err, sizeof err), 1);
    CHECK_INT(store_silences(r, 0, t, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 1);
    CHECK_STR(rows.items[0].id, b.id);
    silence_rows_free(&rows);
    CHECK_INT(store_silences(r, 1, t, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 2);
    CHECK_INT(rows.items[1].ends_ms, t);
    silence_rows_free(&rows);
    /* the end is past for a later reader too */
    CHECK_INT(store_silences(r, 0, b.ends_ms, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 0);
    silence_rows_free(&rows);
    silence_free(&a);
    silence_free(&b);
    store_reader_close(r);
    store_close(s);
}

/* The alert of `make`, reported as seen (for the alert state) and held
 * back by silence `by` (NULL: not silenced). */
static int seen(store *s, alert_status status, const char *by, int64_t at_ms)
{
    notification *n = make_with_status("oncall", "HostDown", "h1", at_ms, status);
    alert_report rep = {n->alerts, 1, "alerts", at_ms};
    free(n->alerts[0].silenced_by);
    n->alerts[0].silenced_by = by ? xstrdup(by) : NULL;
    int rc = commit_seen(s, NULL, 0, &rep);
    notification_free(n);
    return rc;
}

static history_rows read_history(store_reader *r)
{
    history_filter f = {.limit = 100};
    history_rows rows = {0};
    char err[512];
    if (store_history(r, &f, &rows, err, sizeof err))
        fprintf(stderr, "store_history: %s\n", err);
    return rows;
}

TEST(a_silenced_alert_is_recorded_once_per_state)
{
    store *s = open_store();
    store_reader *r = open_reader();
    CHECK(s && r);
    int64_t t = wall_ms();
    CHECK_INT(seen(s, ALERT_FIRING, "sil-1", t), 0);
    CHECK_INT(seen(s, ALERT_FIRING, "sil-1", t + 1000), 0); /* Prometheus posts it again */
    history_rows h = read_history(r);
    CHECK_INT(h.len, 1);
    CHECK_STR(h.items[0].result, "silenced");
    CHECK_STR(h.items[0].silenced_by, "sil-1");
    CHECK_STR(h.items[0].receiver, "");
    CHECK_INT(h.items[0].notification_id, 0);
    CHECK_STR(h.items[0].alertname, "HostDown");
    CHECK_STR(h.items[0].instance, "h1");
    history_rows_free(&h);

    alert_filter f = {.limit = 10};
    alert_state_rows state;
    char err[512];
    CHECK_INT(store_alerts(r, &f, t + 1000, &state, err, sizeof err), 0);
    CHECK_INT(state.len, 1);
    CHECK_STR(state.items[0].silenced_by, "sil-1");
    CHECK_STR(state.items[0].status, "firing");
    alert_state_rows_free(&state);

    /* another silence, and the resolution: a row each */
    CHECK_INT(seen(s, ALERT_FIRING, "sil-2", t + 2000), 0);
    CHECK_INT(seen(s, ALERT_RESOLVED, "sil-2", t + 3000), 0);
    CHECK_INT(seen(s, ALERT_RESOLVED, "sil-2", t + 4000), 0);
    h = read_history(r);
    CHECK_INT(h.len, 3);
    CHECK_STR(h.items[0].status, "resolved");
    CHECK_STR(h.items[1].silenced_by, "sil-2");
    history_rows_free(&h);

    /* seen unsilenced: the state says so, the history has nothing new */
    CHECK_INT(seen(s, ALERT_FIRING, NULL, t + 5000), 0);
    CHECK_INT(store_alerts(r, &f, t + 5000, &state, err, sizeof err), 0);
    CHECK(state.len == 1 && state.items[0].silenced_by == NULL);
    alert_state_rows_free(&state);
    h = read_history(r);
    CHECK_INT(h.len, 3);
    history_rows_free(&h);
    store_reader_close(r);
    store_close(s);
}

/* A request's states go in statements of several rows; one that carries
 * an alert twice (a hand-written payload) still records its silenced row
 * once: the second copy sees the state the first left. */
TEST(a_silenced_alert_twice_in_one_request_is_recorded_once)
{
    store *s = open_store();
    store_reader *r = open_reader();
    CHECK(s && r);
    int64_t t = wall_ms();
    notification *first = make("oncall", "HostDown", "h1", t),
                 *again = make("oncall", "HostDown", "h1", t);
    alert_record twice[2] = {first->alerts[0], again->alerts[0]};
    for (int i = 0; i < 2; i++) {
        free(twice[i].silenced_by);
        twice[i].silenced_by = xstrdup("sil-1");
    }
    first->alerts[0] = twice[0];
    again->alerts[0] = twice[1];
    alert_report rep = {twice, 2, "alerts", t};
    CHECK_INT(commit_seen(s, NULL, 0, &rep), 0);
    history_rows h = read_history(r);
    CHECK_INT(h.len, 1);
    CHECK_STR(h.items[0].silenced_by, "sil-1");
    history_rows_free(&h);
    notification_free(first);
    notification_free(again);
    store_reader_close(r);
    store_close(s);
}

WRAP(added_listed_and_expired)
WRAP(a_silenced_alert_is_recorded_once_per_state)
WRAP(a_silenced_alert_twice_in_one_request_is_recorded_once)

RUN_TESTS(WCASE(added_listed_and_expired), WCASE(a_silenced_alert_is_recorded_once_per_state),
          WCASE(a_silenced_alert_twice_in_one_request_is_recorded_once))
