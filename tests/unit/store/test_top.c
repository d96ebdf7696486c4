/* History top on a real SQLite file: by any label or by receiver, counting
 * firings (an alert once per startsAt), not the rows of its notifications. */
#include "harness.h"

#include "store/store.h"
#include "store/store_fixture.h"
#include "testutil.h"
#include "util/clock.h"

/* One alert, labels given as "name", "value" pairs ending with NULL, in a
 * notification of its own to receiver. */
static notification *notified(const char *receiver, double starts_at, alert_status status,
                              const char *const *labels)
{
    alert a = {.status = status, .starts_at = starts_at};
    for (const char *const *l = labels; *l; l += 2)
        labelset_set(&a.labels, l[0], l[1]);
    alert_fingerprint(&a.labels, a.fingerprint);
    notification *n = xcalloc(1, sizeof *n);
    n->receiver = xstrdup(receiver);
    n->status = xstrdup(alert_status_name(status));
    n->alert_count = 1;
    n->content.format = HERALD_FORMAT_MARKDOWN;
    n->content.title = xstrdup("t");
    n->content.text = xstrdup("x");
    n->created_ms = n->next_attempt_ms = wall_ms();
    const alert *list[1] = {&a};
    notification_describe(n, "{}:{}", list, 1);
    alert_free(&a);
    return n;
}

static const char *const backlog_wms[] = {"alertname", "Backlog", "project", "wms",
                                          "instance", "a", NULL};
static const char *const backlog_erp[] = {"alertname", "Backlog", "project", "erp",
                                          "instance", "b", NULL};
static const char *const disk_erp[] = {"alertname", "DiskFull", "project", "erp",
                                       "instance", "c", NULL};
static const char *const down_erp[] = {"alertname", "ErpDown", "project", "erp",
                                       "instance", "d", NULL};
static const char *const no_project[] = {"alertname", "NoProject", "instance", "e", NULL};
static const char *const empty_project[] = {"alertname", "EmptyProject", "project", "",
                                            "instance", "f", NULL};

/* Backlog/wms fires at 1000 to wms and oncall, is sent to wms again
 * (the same firing), resolves, and fires again at 2000: two firings in
 * six rows. The others fire once each. */
static void store_the_story(const char *dir)
{
    store_location where = {.data_dir = dir};
    store_settings settings = {0, 30LL * 86400 * 1000, 3600000, 0}; /* no dedup: every repeat is a row */
    char err[512];
    store *s = store_open(&where, &settings, err, sizeof err);
    CHECK(s != NULL);
    CHECK_INT(store_start(s, ignore_requeued, NULL, err, sizeof err), 0);
    notification *story[] = {
        notified("wms", 1000, ALERT_FIRING, backlog_wms),
        notified("oncall", 1000, ALERT_FIRING, backlog_wms),
        notified("wms", 1000, ALERT_FIRING, backlog_wms),
        notified("wms", 1000, ALERT_RESOLVED, backlog_wms),
        notified("wms", 2000, ALERT_FIRING, backlog_wms),
        notified("oncall", 2000, ALERT_FIRING, backlog_wms),
        notified("erp", 1000, ALERT_FIRING, backlog_erp),
        notified("erp", 1500, ALERT_FIRING, disk_erp),
        notified("erp", 1500, ALERT_FIRING, disk_erp),
        notified("erp", 1700, ALERT_FIRING, down_erp),
        notified("ops", 1000, ALERT_FIRING, no_project),
        notified("ops", 1000, ALERT_FIRING, empty_project),
    };
    size_t len = sizeof story / sizeof story[0];
    CHECK_INT(commit(s, story, len), 0);
    store_close(s);
    for (size_t i = 0; i < len; i++)
        notification_free(story[i]);
}

static store_reader *open_reader(const char *dir)
{
    char err[512];
    store_reader *r = store_reader_open(&(store_location){.data_dir = dir}, err, sizeof err);
    if (!r)
        fprintf(stderr, "store_reader_open: %s\n", err);
    return r;
}

typedef struct expected_row {
    const char *value;
    int64_t count;
} expected_row;

static void check_top(store_reader *r, const char *by, int limit, const expected_row *want,
                      size_t want_len)
{
    top_rows top;
    char err[256];
    history_top q = {by, wall_ms() - 3600 * 1000, limit};
    CHECK_INT(store_history_top(r, &q, &top, err, sizeof err), 0);
    CHECK_INT(top.len, want_len);
    for (size_t i = 0; i < top.len && i < want_len; i++) {
        CHECK_STR(top.items[i].value, want[i].value);
        CHECK_INT(top.items[i].count, want[i].count);
    }
    top_rows_free(&top);
}

#define CHECK_TOP(r, by, limit, ...)                                                           \
    check_top(r, by, limit, (const expected_row[]){__VA_ARGS__},                               \
              sizeof((const expected_row[]){__VA_ARGS__}) / sizeof(expected_row))

/* Without the label, or with it empty, an alert is not counted. */
TEST(top_by_any_label_counts_firings)
{
    char *dir = test_tmpdir();
    store_the_story(dir);
    store_reader *r = open_reader(dir);
    CHECK(r != NULL);
    CHECK_TOP(r, "project", 10, {"erp", 3}, {"wms", 2});
    CHECK_TOP(r, "alertname", 10, {"Backlog", 3}, {"DiskFull", 1}, {"EmptyProject", 1},
              {"ErpDown", 1}, {"NoProject", 1});
    CHECK_TOP(r, "alertname", 1, {"Backlog", 3});
    CHECK_TOP(r, "instance", 2, {"a", 2}, {"b", 1});
    store_reader_close(r);
    test_rmtree(dir);
    free(dir);
}

TEST(top_by_receiver_counts_each_receivers_firings)
{
    char *dir = test_tmpdir();
    store_the_story(dir);
    store_reader *r = open_reader(dir);
    CHECK(r != NULL);
    CHECK_TOP(r, "receiver", 10, {"erp", 3}, {"oncall", 2}, {"ops", 2}, {"wms", 2});
    store_reader_close(r);
    test_rmtree(dir);
    free(dir);
}

TEST(top_by_a_label_no_alert_has_is_empty)
{
    char *dir = test_tmpdir();
    store_the_story(dir);
    store_reader *r = open_reader(dir);
    CHECK(r != NULL);
    top_rows top;
    char err[256];
    history_top q = {"team", 0, 10};
    CHECK_INT(store_history_top(r, &q, &top, err, sizeof err), 0);
    CHECK_INT(top.len, 0);
    top_rows_free(&top);
    store_reader_close(r);
    test_rmtree(dir);
    free(dir);
}

RUN_TESTS(CASE(top_by_any_label_counts_firings), CASE(top_by_receiver_counts_each_receivers_firings),
          CASE(top_by_a_label_no_alert_has_is_empty))
