/* The alert state on a real SQLite file: a receiver's repeat interval,
 * the current view and the direct path's expired alerts. */
#include "harness.h"

#include "store/query.h"
#include "store/store.h"
#include "store/fresh_dir.h"
#include "store/store_fixture.h"
#include "testutil.h"
#include "util/clock.h"

#define HOUR_MS (3600LL * 1000)

static store *open_state_store_dedup(int64_t dedup_ms)
{
    store_settings settings = {dedup_ms, 30LL * 86400 * 1000, HOUR_MS, 0};
    char err[512];
    store *s = store_open(&(store_location){.data_dir = dir}, &settings, err, sizeof err);
    if (s && store_start(s, ignore_requeued, NULL, err, sizeof err)) {
        store_close(s);
        s = NULL;
    }
    if (!s)
        fprintf(stderr, "store_open: %s\n", err);
    return s;
}

static store *open_state_store(void) { return open_state_store_dedup(0); }

static store_reader *open_reader(void) { return fixture_reader_open(dir); }

/* Commits one notification and says whether the store took it. */
static int stored(store *s, notification *n, int64_t repeat_ms)
{
    n->repeat_interval_ms = repeat_ms;
    if (commit(s, &n, 1))
        return -1;
    int took = n->id != 0;
    notification_free(n);
    return took;
}

TEST(repeat_interval_holds_back_the_same_state)
{
    store *s = open_state_store();
    CHECK(s != NULL);
    int64_t t = wall_ms();
    CHECK_INT(stored(s, make("oncall", "HostDown", "h1", t), HOUR_MS), 1);
    /* the same alert, the same state: held back, however often */
    CHECK_INT(stored(s, make("oncall", "HostDown", "h1", t + 1000), HOUR_MS), 0);
    CHECK_INT(stored(s, make("oncall", "HostDown", "h1", t + 2000), HOUR_MS), 0);
    /* another receiver was never told */
    CHECK_INT(stored(s, make("audit", "HostDown", "h1", t + 2000), HOUR_MS), 1);
    /* a status change goes at once, once */
    CHECK_INT(stored(s, make_with_status("oncall", "HostDown", "h1", t + 3000, ALERT_RESOLVED),
                     HOUR_MS), 1);
    CHECK_INT(stored(s, make_with_status("oncall", "HostDown", "h1", t + 4000, ALERT_RESOLVED),
                     HOUR_MS), 0);
    /* a reminder once the interval has passed since it was last told */
    CHECK_INT(stored(s, make("oncall", "Disk", "h2", t), HOUR_MS), 1);
    CHECK_INT(stored(s, make("oncall", "Disk", "h2", t + HOUR_MS - 1), HOUR_MS), 0);
    CHECK_INT(stored(s, make("oncall", "Disk", "h2", t + HOUR_MS), HOUR_MS), 1);
    /* no interval: every time */
    CHECK_INT(stored(s, make("oncall", "Disk", "h2", t + HOUR_MS + 1), 0), 1);
    store_close(s);
}

TEST(a_new_start_is_a_new_firing)
{
    store *s = open_state_store();
    CHECK(s != NULL);
    int64_t t = wall_ms();
    notification *first = make("oncall", "Flap", "h3", t);
    notification *again = make("oncall", "Flap", "h3", t + 1000);
    again->alerts[0].starts_at += 60; /* fired, resolved unseen, fired anew */
    CHECK_INT(stored(s, first, HOUR_MS), 1);
    CHECK_INT(stored(s, again, HOUR_MS), 1);
    store_close(s);
}

TEST(a_reminder_sooner_than_the_dedup_window_still_goes)
{
    store *s = open_state_store_dedup(5 * 60 * 1000);
    CHECK(s != NULL);
    int64_t t = wall_ms();
    CHECK_INT(stored(s, make("oncall", "Disk", "h2", t), 40000), 1);
    CHECK_INT(stored(s, make("oncall", "Disk", "h2", t + 39999), 40000), 0);
    CHECK_INT(stored(s, make("oncall", "Disk", "h2", t + 40000), 40000), 1);
    /* without a repeat interval the window holds it back */
    CHECK_INT(stored(s, make("audit", "Disk", "h2", t), 0), 1);
    CHECK_INT(stored(s, make("audit", "Disk", "h2", t + 40000), 0), 0);
    store_close(s);
}

/* One alert notified to oncall, with the alert state told of it as ingest
 * tells it: from `source`, starting at starts_at. */
static int stored_seen(store *s, const char *source, alert_status status, double starts_at,
                       int64_t at_ms)
{
    alert a = {.status = status, .starts_at = starts_at};
    labelset_set(&a.labels, "alertname", "HostDown");
    labelset_set(&a.labels, "instance", "h1");
    alert_fingerprint(&a.labels, a.fingerprint);
    alert_batch batch = {.alerts = &a, .len = 1, .endpoint = source};
    alert_report seen;
    alert_report_fill(&seen, &batch, at_ms);
    notification *n = make_with_status("oncall", "HostDown", "h1", at_ms, status);
    n->alerts[0].starts_at = starts_at;
    n->repeat_interval_ms = HOUR_MS;
    n->source = source;
    int took = commit_seen(s, &n, 1, &seen) ? -1 : n->id != 0;
    notification_free(n);
    alert_report_free(&seen);
    alert_free(&a);
    return took;
}

TEST(two_prometheus_replicas_starts_are_one_firing)
{
    store *s = open_state_store();
    CHECK(s != NULL);
    int64_t t = wall_ms();
    double start = (double)(t / 1000 - 600);
    CHECK_INT(stored_seen(s, "alerts", ALERT_FIRING, start + 7.5, t), 1);
    /* the other replica evaluated earlier: the same firing, the earlier start */
    CHECK_INT(stored_seen(s, "alerts", ALERT_FIRING, start, t + 1000), 0);
    CHECK_INT(stored_seen(s, "alerts", ALERT_FIRING, start + 7.5, t + 2000), 0);
    store_close(s);
    store_reader *r = open_reader();
    CHECK(r != NULL);
    alert_state_rows rows;
    char err[256];
    alert_filter f = {.limit = 10};
    CHECK_INT(store_alerts(r, &f, t, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 1);
    CHECK(rows.items[0].starts_at == start);
    alert_state_rows_free(&rows);
    store_reader_close(r);
}

TEST(a_resolution_never_told_is_news_only_from_alertmanager)
{
    store *s = open_state_store();
    CHECK(s != NULL);
    int64_t t = wall_ms();
    double start = (double)(t / 1000 - 600);
    /* Prometheus re-sends resolved alerts for 15 minutes, told or not */
    CHECK_INT(stored_seen(s, "alerts", ALERT_RESOLVED, start, t), 0);
    /* Alertmanager resolves only what it notified */
    CHECK_INT(stored_seen(s, "webhook", ALERT_RESOLVED, start, t + 1000), 1);
    store_close(s);
}

/* A report of one alert as ingest makes it, from `source`. */
static void report_one(store *s, const char *source, const char *name, alert_status status,
                       double ends_at, int64_t seen_ms)
{
    alert a = {.status = status, .starts_at = (double)(seen_ms / 1000 - 600), .ends_at = ends_at};
    labelset_set(&a.labels, "alertname", name);
    labelset_set(&a.labels, "project", "wms");
    alert_fingerprint(&a.labels, a.fingerprint);
    alert_batch batch = {.alerts = &a, .len = 1, .endpoint = source};
    alert_report seen;
    alert_report_fill(&seen, &batch, seen_ms);
    commit_seen(s, NULL, 0, &seen);
    alert_report_free(&seen);
    alert_free(&a);
}

static char *names(const alert_state_rows *rows)
{
    strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < rows->len; i++)
        sb_printf(&sb, "%s%s", i ? "," : "", rows->items[i].alertname);
    return sb_take(&sb);
}

TEST(expired_alerts_are_the_direct_paths_past_their_end)
{
    store *s = open_state_store();
    CHECK(s != NULL);
    int64_t now = wall_ms();
    double past = (double)(now - 1000) / 1000, later = (double)(now + HOUR_MS) / 1000;
    report_one(s, "alerts", "Ended", ALERT_FIRING, past, now - 60000);
    report_one(s, "alerts", "Later", ALERT_FIRING, later, now);
    report_one(s, "alerts", "NoEndStale", ALERT_FIRING, 0, now - 6 * 60 * 1000);
    report_one(s, "alerts", "NoEndFresh", ALERT_FIRING, 0, now);
    report_one(s, "webhook", "FromAlertmanager", ALERT_FIRING, past, now);
    report_one(s, "alerts", "Resolved", ALERT_RESOLVED, past, now);
    /* through Alertmanager as well while it fires: Alertmanager resolves it */
    report_one(s, "alerts", "BothWays", ALERT_FIRING, past, now - 60000);
    report_one(s, "webhook", "BothWays", ALERT_FIRING, 0, now - 30000);
    report_one(s, "alerts", "BothWays", ALERT_FIRING, past, now - 20000);
    store_close(s);
    store_reader *r = open_reader();
    CHECK(r != NULL);
    alert_state_rows rows;
    char err[256];
    CHECK_INT(store_expired_alerts(r, now, 100, &rows, err, sizeof err), 0);
    char *got = names(&rows);
    CHECK_STR(got, "NoEndStale,Ended");
    free(got);
    /* without endsAt: it ends resolve_timeout (5m) after it was last seen */
    CHECK(rows.items[0].ends_at > 0);
    alert_state_rows_free(&rows);

    query_args args = {.filter = "alertname=~\"No.*\"", .status = "firing"};
    alert_filter f;
    CHECK_INT(query_alerts(&args, QUERY_API, &f, err, sizeof err), 0);
    CHECK_INT(store_alerts(r, &f, now, &rows, err, sizeof err), 0);
    alert_filter_free(&f);
    got = names(&rows);
    CHECK_STR(got, "NoEndStale,NoEndFresh");
    free(got);
    alert_state_rows_free(&rows);
    /* a resolved alert leaves the view when resolved_retention passes */
    args = (query_args){.status = "resolved"};
    CHECK_INT(query_alerts(&args, QUERY_API, &f, err, sizeof err), 0);
    CHECK_INT(store_alerts(r, &f, now, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 1);
    alert_state_rows_free(&rows);
    CHECK_INT(store_alerts(r, &f, now + 2 * HOUR_MS, &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 0);
    alert_state_rows_free(&rows);
    alert_filter_free(&f);
    store_reader_close(r);
}

/* The expiry finds the firing alerts posted to /api/v2/alerts through a
 * partial index, which the alerts Alertmanager sends never touch (the
 * case above checks what it finds); a store made with the index of every
 * alert state loses that one when opened. */
TEST(an_old_store_trades_its_index_of_every_state_for_the_partial_one)
{
    store *s = open_state_store();
    CHECK(s != NULL);
    store_close(s);
    CHECK_INT(fixture_exec(dir, "CREATE INDEX alert_state_by_end"
                                " ON alert_state(status, source, ends_at)"),
              SQLITE_OK);
    s = open_state_store();
    CHECK(s != NULL);
    store_close(s);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM sqlite_master"
                                 " WHERE name = 'alert_state_by_end'"),
              0);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM sqlite_master"
                                 " WHERE name = 'alert_state_firing_from_api'"),
              1);
}

WRAP(repeat_interval_holds_back_the_same_state)
WRAP(an_old_store_trades_its_index_of_every_state_for_the_partial_one)
WRAP(a_new_start_is_a_new_firing)
WRAP(expired_alerts_are_the_direct_paths_past_their_end)
WRAP(a_reminder_sooner_than_the_dedup_window_still_goes)
WRAP(two_prometheus_replicas_starts_are_one_firing)
WRAP(a_resolution_never_told_is_news_only_from_alertmanager)

RUN_TESTS(WCASE(repeat_interval_holds_back_the_same_state), WCASE(a_new_start_is_a_new_firing),
          WCASE(expired_alerts_are_the_direct_paths_past_their_end),
          WCASE(a_reminder_sooner_than_the_dedup_window_still_goes),
          WCASE(two_prometheus_replicas_starts_are_one_firing),
          WCASE(a_resolution_never_told_is_news_only_from_alertmanager),
          WCASE(an_old_store_trades_its_index_of_every_state_for_the_partial_one))
