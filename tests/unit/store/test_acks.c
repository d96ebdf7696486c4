/* Acknowledgements in a real SQLite store: who may acknowledge what, the
 * acknowledgement held while the firing lasts and cleared as it resolves,
 * and the repeats it stops whatever the receiver's repeat interval. */
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

/* HostDown on h1 seen in `status` from Alertmanager and notified to
 * oncall (whose repeat interval is repeat_ms), as ingest commits it:
 * 1 stored, 0 held back, -1 failed. The fingerprint goes to fp. */
static int post(store *s, alert_status status, double starts_at, int64_t at_ms,
                int64_t repeat_ms, char fp[17])
{
    alert a = {.status = status, .starts_at = starts_at};
    labelset_set(&a.labels, "alertname", "HostDown");
    labelset_set(&a.labels, "instance", "h1");
    alert_fingerprint(&a.labels, a.fingerprint);
    memcpy(fp, a.fingerprint, 17);
    alert_batch batch = {.alerts = &a, .len = 1, .endpoint = "webhook"};
    alert_report seen;
    alert_report_fill(&seen, &batch, at_ms);
    notification *n = make_with_status("oncall", "HostDown", "h1", at_ms, status);
    n->alerts[0].starts_at = starts_at;
    n->repeat_interval_ms = repeat_ms;
    n->source = "webhook";
    int took = commit_seen(s, &n, 1, &seen) ? -1 : n->id != 0;
    notification_free(n);
    alert_report_free(&seen);
    alert_free(&a);
    return took;
}

/* The one alert's state: its acknowledger copied to by ("" for none). */
static int acked_by(store_reader *r, char *by, size_t cap, char *comment, size_t comment_cap)
{
    alert_filter f = {.limit = 10};
    alert_state_rows rows;
    char err[512];
    if (store_alerts(r, &f, wall_ms(), &rows, err, sizeof err) || rows.len != 1)
        return -1;
    snprintf(by, cap, "%s", rows.items[0].acknowledged_by ? rows.items[0].acknowledged_by : "");
    snprintf(comment, comment_cap, "%s", rows.items[0].ack_comment ? rows.items[0].ack_comment : "");
    int has_time = rows.items[0].acknowledged_ms > 0;
    alert_state_rows_free(&rows);
    return has_time;
}

TEST(acknowledged_once_per_firing)
{
    store *s = open_store();
    store_reader *r = open_reader();
    CHECK(s && r);
    char err[512], fp[17], by[64], comment[64];
    int64_t t = wall_ms();
    double start = (double)(t / 1000 - 60);
    CHECK_INT(store_acknowledge(r, "0123456789abcdef", "alice", NULL, t, err, sizeof err),
              ACK_UNKNOWN);
    CHECK_INT(post(s, ALERT_FIRING, start, t, 0, fp), 1);
    CHECK_INT(acked_by(r, by, sizeof by, comment, sizeof comment), 0);
    CHECK_STR(by, "");
    CHECK_INT(store_acknowledge(r, fp, "alice", "disk swap", t + 1, err, sizeof err), ACK_DONE);
    CHECK_INT(acked_by(r, by, sizeof by, comment, sizeof comment), 1);
    CHECK_STR(by, "alice");
    CHECK_STR(comment, "disk swap");
    /* a second acknowledgement (a reused link) is refused and changes nothing */
    CHECK_INT(store_acknowledge(r, fp, "bob", NULL, t + 2, err, sizeof err), ACK_ALREADY);
    CHECK_INT(acked_by(r, by, sizeof by, comment, sizeof comment), 1);
    CHECK_STR(by, "alice");
    /* posted again while firing: it stays acknowledged */
    CHECK_INT(post(s, ALERT_FIRING, start, t + 3, 0, fp), 0);
    CHECK_INT(acked_by(r, by, sizeof by, comment, sizeof comment), 1);
    /* resolved: cleared, and nothing to acknowledge */
    CHECK_INT(post(s, ALERT_RESOLVED, start, t + 4, 0, fp), 1);
    CHECK_INT(acked_by(r, by, sizeof by, comment, sizeof comment), 0);
    CHECK_INT(store_acknowledge(r, fp, "alice", NULL, t + 5, err, sizeof err), ACK_NOT_FIRING);
    /* firing anew: not acknowledged, and acknowledged again */
    CHECK_INT(post(s, ALERT_FIRING, start + 100, t + 6, 0, fp), 1);
    CHECK_INT(acked_by(r, by, sizeof by, comment, sizeof comment), 0);
    CHECK_INT(store_acknowledge(r, fp, "bob", NULL, t + 7, err, sizeof err), ACK_DONE);
    CHECK_INT(acked_by(r, by, sizeof by, comment, sizeof comment), 1);
    CHECK_STR(by, "bob");
    CHECK_STR(comment, "");
    store_reader_close(r);
    store_close(s);
}

TEST(acknowledged_alerts_are_not_repeated_whatever_the_interval)
{
    store *s = open_store();
    store_reader *r = open_reader();
    CHECK(s && r);
    char err[512], fp[17];
    int64_t t = wall_ms();
    double start = (double)(t / 1000 - 60);
    /* a repeat interval: the reminder after it would go */
    CHECK_INT(post(s, ALERT_FIRING, start, t, HOUR_MS, fp), 1);
    CHECK_INT(post(s, ALERT_FIRING, start, t + HOUR_MS / 2, HOUR_MS, fp), 0);
    CHECK_INT(store_acknowledge(r, fp, "alice", NULL, t, err, sizeof err), ACK_DONE);
    CHECK_INT(post(s, ALERT_FIRING, start, t + 2 * HOUR_MS, HOUR_MS, fp), 0);
    /* without one (every post goes), the acknowledgement holds them back */
    CHECK_INT(post(s, ALERT_FIRING, start, t + 3 * HOUR_MS, 0, fp), 0);
    /* the resolution goes */
    CHECK_INT(post(s, ALERT_RESOLVED, start, t + 4 * HOUR_MS, 0, fp), 1);
    store_reader_close(r);
    store_close(s);
}

WRAP(acknowledged_once_per_firing)
WRAP(acknowledged_alerts_are_not_repeated_whatever_the_interval)

RUN_TESTS(WCASE(acknowledged_once_per_firing),
          WCASE(acknowledged_alerts_are_not_repeated_whatever_the_interval))
