/* Escalations in a real SQLite store: one per receiver per firing however
 * often it is posted, held back from the dispatcher until due; then handed
 * over as requeued, or cancelled with the reason when the alert was
 * acknowledged or resolved meanwhile. */
#include "harness.h"

#include <time.h>

#include "store/fresh_dir.h"
#include "store/query.h"
#include "store/store.h"
#include "store/store_fixture.h"
#include "testutil.h"
#include "util/clock.h"

#define HOUR_MS (3600LL * 1000)

/* What the writer handed back: the ids of the escalations it released. */
typedef struct released {
    pthread_mutex_t lock;
    uint64_t ids[8];
    size_t len;
} released;

static void on_requeued(void *ctx, notification *n)
{
    released *r = ctx;
    pthread_mutex_lock(&r->lock);
    if (r->len < 8)
        r->ids[r->len++] = n->id;
    pthread_mutex_unlock(&r->lock);
    notification_free(n);
}

static size_t released_count(released *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->len;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static store *open_store(released *r) { return fixture_store_open(dir, on_requeued, r); }

static store_reader *open_reader(void) { return fixture_reader_open(dir); }

/* HostDown on `instance` seen firing (or resolved) and an escalation of
 * it to oncall due at due_ms, committed as ingest commits them: the
 * escalation's held reason, or -1. */
static int post(store *s, const char *instance, alert_status status, int64_t due_ms,
                char fp[17])
{
    alert a = {.status = status, .starts_at = 1795238566.39};
    labelset_set(&a.labels, "alertname", "HostDown");
    labelset_set(&a.labels, "instance", instance);
    alert_fingerprint(&a.labels, a.fingerprint);
    memcpy(fp, a.fingerprint, 17);
    alert_batch batch = {.alerts = &a, .len = 1, .endpoint = "webhook"};
    alert_report seen;
    alert_report_fill(&seen, &batch, wall_ms());
    notification *n = make_with_status("oncall", "HostDown", instance, wall_ms(), status);
    n->escalate_at_ms = due_ms;
    n->escalated_from = xstrdup("ops");
    int held = commit_seen(s, &n, 1, &seen) || n->id ? -1 : (int)n->held;
    notification_free(n);
    alert_report_free(&seen);
    alert_free(&a);
    return held;
}

/* The escalation of fp: its notification's state and last error, from
 * the alert state's view and the queue (0, or -1 when not found). */
static int escalation_state(store_reader *r, uint64_t id, char *state, size_t cap, char *error,
                            size_t error_cap)
{
    notification_detail d;
    char err[512];
    if (store_show(r, id, &d, err, sizeof err))
        return -1;
    snprintf(state, cap, "%s", d.summary.state);
    snprintf(error, error_cap, "%s", d.summary.last_error ? d.summary.last_error : "");
    notification_detail_free(&d);
    return 0;
}

static int wait_released(released *r, size_t count)
{
    int64_t deadline = wall_ms() + 10000;
    while (released_count(r) < count && wall_ms() < deadline) {
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return released_count(r) == count ? 0 : -1;
}

TEST(made_once_per_firing_and_released_when_due)
{
    released r = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};
    store *s = open_store(&r);
    store_reader *rd = open_reader();
    CHECK(s && rd);
    char fp[17], state[32], error[256];
    int64_t t = wall_ms();
    CHECK_INT(post(s, "h1", ALERT_FIRING, t + 1500, fp), HELD_ESCALATION);
    /* posted again in the same firing: nothing new waits */
    CHECK_INT(post(s, "h1", ALERT_FIRING, t + 1600, fp), HELD_ESCALATION);
    CHECK_INT(wait_released(&r, 1), 0);
    CHECK(wall_ms() >= t + 1500);
    CHECK_INT(escalation_state(rd, r.ids[0], state, sizeof state, error, sizeof error), 0);
    CHECK_STR(state, "pending");
    alert_filter f = {.limit = 10};
    alert_state_rows rows;
    char err[512];
    CHECK_INT(store_alerts(rd, &f, wall_ms(), &rows, err, sizeof err), 0);
    CHECK_INT(rows.len, 1);
    CHECK_STR(rows.items[0].escalated_to, "oncall");
    CHECK_INT(rows.items[0].receivers_len, 1); /* oncall: told by the escalation */
    alert_state_rows_free(&rows);
    /* still the same firing: no second escalation, even once the first went */
    CHECK_INT(post(s, "h1", ALERT_FIRING, wall_ms(), fp), HELD_ESCALATION);
    store_close(s);
    CHECK_INT(released_count(&r), 1);
    store_reader_close(rd);
}

TEST(cancelled_when_acknowledged_or_resolved)
{
    released r = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};
    store *s = open_store(&r);
    store_reader *rd = open_reader();
    CHECK(s && rd);
    char acked[17], resolved[17], control[17], err[512];
    int64_t due = wall_ms() + 1000;
    CHECK_INT(post(s, "acked", ALERT_FIRING, due, acked), HELD_ESCALATION);
    CHECK_INT(post(s, "resolved", ALERT_FIRING, due, resolved), HELD_ESCALATION);
    CHECK_INT(post(s, "control", ALERT_FIRING, due, control), HELD_ESCALATION);
    CHECK_INT(store_acknowledge(rd, acked, "alice", NULL, wall_ms(), err, sizeof err), ACK_DONE);
    CHECK_INT(post(s, "resolved", ALERT_RESOLVED, due, resolved), HELD_ESCALATION);
    /* the control one proves the time came */
    CHECK_INT(wait_released(&r, 1), 0);
    store_close(s);
    CHECK_INT(released_count(&r), 1);
    /* the three were stored in order: the control's is the third message */
    char state[32], error[256];
    uint64_t control_id = r.ids[0];
    CHECK_INT(escalation_state(rd, control_id - 2, state, sizeof state, error, sizeof error), 0);
    CHECK_STR(state, "dropped");
    CHECK_STR(error, "escalation cancelled: acknowledged by alice");
    CHECK_INT(escalation_state(rd, control_id - 1, state, sizeof state, error, sizeof error), 0);
    CHECK_STR(state, "dropped");
    CHECK_STR(error, "escalation cancelled: the alert resolved");
    store_reader_close(rd);
}

WRAP(made_once_per_firing_and_released_when_due)
WRAP(cancelled_when_acknowledged_or_resolved)

RUN_TESTS(WCASE(made_once_per_firing_and_released_when_due),
          WCASE(cancelled_when_acknowledged_or_resolved))
