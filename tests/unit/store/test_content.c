/* Each alert's labels and annotations stored once a day
 * (store/content.h), however many history rows and alert states of the
 * day name them; read back through the history and the state as before,
 * swept with the days past the retention, and moved there from the rows
 * of a store made before. */
#include "harness.h"

#include <sqlite3.h>
#include <stdlib.h>

#include "store/fresh_dir.h"
#include "store/query.h"
#include "store/sqlite/private.h"
#include "store/store.h"
#include "store/store_fixture.h"
#include "testutil.h"
#include "util/clock.h"

#define DAY_MS (86400LL * 1000)

/* Where today's UTC day begins. */
static int64_t midnight_ms(void) { return wall_ms() / DAY_MS * DAY_MS; }

static history_rows read_history(void)
{
    history_rows rows = {0};
    char err[512];
    store_reader *r = fixture_reader_open(dir);
    history_filter all = {.limit = 100};
    if (!r || store_history(r, &all, &rows, err, sizeof err))
        fprintf(stderr, "store_history: %s\n", r ? err : "no reader");
    if (r)
        store_reader_close(r);
    return rows;
}

/* The alert of `make`, seen and held back by a silence. */
static int seen_silenced(store *s, int64_t at_ms)
{
    notification *n = make("any", "DiskFull", "db1", at_ms);
    alert_report rep = {n->alerts, 1, "alerts", at_ms};
    n->alerts[0].silenced_by = xstrdup("sil-1");
    int rc = commit_seen(s, NULL, 0, &rep);
    notification_free(n);
    return rc;
}

/* The store opened with a retention of one day: the writer sweeps when
 * it starts. */
static int sweep_with_a_day_of_retention(void)
{
    store_settings settings = {0, DAY_MS, 3600000, 0};
    char err[512];
    store *s = store_open(&(store_location){.data_dir = dir}, &settings, err, sizeof err);
    int rc = s ? store_start(s, ignore_requeued, NULL, err, sizeof err) : -1;
    if (rc)
        fprintf(stderr, "store: %s\n", err);
    if (s)
        store_close(s);
    return rc;
}

TEST(the_same_alert_is_stored_once_a_day)
{
    store *s = fixture_store_open(dir, ignore_requeued, NULL);
    CHECK(s != NULL);
    int64_t now = midnight_ms() + 1; /* all on one day, whatever the time */
    /* two receivers, posted again (as every group_interval), another
     * instance, and the first silenced */
    notification *batch[5] = {make("ops", "DiskFull", "db1", now),
                              make("wms", "DiskFull", "db1", now),
                              make("ops", "DiskFull", "db1", now + 1),
                              make("wms", "DiskFull", "db1", now + 1),
                              make("ops", "DiskFull", "db2", now + 2)};
    CHECK_INT(commit(s, batch, 2), 0);
    CHECK_INT(commit(s, batch + 2, 3), 0);
    CHECK_INT(seen_silenced(s, now + 3), 0);
    store_close(s);

    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM history"), 6);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 2);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM pragma_table_info('history')"
                                 " WHERE name = 'labels'"),
              0);
    history_rows rows = read_history();
    CHECK_INT(rows.len, 6);
    for (size_t i = 0; i < rows.len; i++) {
        CHECK_CONTAINS(rows.items[i].labels_json, "\"alertname\":\"DiskFull\"");
        CHECK_CONTAINS(rows.items[i].labels_json,
                       i == 1 ? "\"instance\":\"db2\"" : "\"instance\":\"db1\"");
        CHECK_CONTAINS(rows.items[i].annotations_json, "\"summary\":\"磁盘将满\"");
    }
    CHECK_STR(rows.items[0].result, "silenced");
    history_rows_free(&rows);

    /* a notification's alerts, as `herald queue show` reads them */
    store_reader *r = fixture_reader_open(dir);
    CHECK(r != NULL);
    notification_detail d;
    char err[512];
    CHECK_INT(store_show(r, batch[4]->id, &d, err, sizeof err), 0);
    CHECK_INT(d.alerts_len, 1);
    CHECK_CONTAINS(d.alerts[0].labels_json, "\"instance\":\"db2\"");
    notification_detail_free(&d);
    store_reader_close(r);
    for (int i = 0; i < 5; i++)
        notification_free(batch[i]);
}

TEST(a_day_stores_its_own_content)
{
    store *s = fixture_store_open(dir, ignore_requeued, NULL);
    CHECK(s != NULL);
    int64_t midnight = midnight_ms();
    /* the same alert a millisecond before midnight, at midnight, and
     * silenced a millisecond after */
    notification *batch[2] = {make("ops", "DiskFull", "db1", midnight - 1),
                              make("ops", "DiskFull", "db1", midnight)};
    CHECK_INT(commit(s, batch, 2), 0);
    CHECK_INT(seen_silenced(s, midnight + 1), 0);
    store_close(s);

    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM history"), 3);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 2);
    CHECK_INT(fixture_count(dir, "SELECT count(DISTINCT id) FROM alert_content"), 1);
    history_rows rows = read_history();
    CHECK_INT(rows.len, 3);
    for (size_t i = 0; i < rows.len; i++) {
        CHECK_CONTAINS(rows.items[i].labels_json, "\"instance\":\"db1\"");
        CHECK_CONTAINS(rows.items[i].annotations_json, "\"summary\":\"磁盘将满\"");
    }
    CHECK_INT(rows.items[2].created_ms, midnight - 1);
    history_rows_free(&rows);
    for (int i = 0; i < 2; i++)
        notification_free(batch[i]);
}

TEST(the_days_past_retention_are_swept)
{
    store *s = fixture_store_open(dir, ignore_requeued, NULL);
    CHECK(s != NULL);
    int64_t now = wall_ms();
    notification *batch[4] = {make("ops", "Old", "h1", now - 3 * DAY_MS),
                              make("ops", "Both", "h2", now - 3 * DAY_MS),
                              make("ops", "Both", "h2", now - 2 * DAY_MS),
                              make("ops", "Both", "h2", now)};
    CHECK_INT(commit(s, batch, 4), 0);
    store_close(s);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 4);
    /* Its cutoff's day is yesterday (today, past midnight since): the
     * days before it go, today's stays. */
    CHECK_INT(sweep_with_a_day_of_retention(), 0);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM history"), 1);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 1);
    history_rows rows = read_history();
    CHECK_INT(rows.len, 1);
    CHECK_CONTAINS(rows.items[0].labels_json, "\"alertname\":\"Both\"");
    history_rows_free(&rows);
    for (int i = 0; i < 4; i++)
        notification_free(batch[i]);
}

/* How often the writer ran its INSERT of content. */
static int content_inserts(store *s)
{
    return sqlite3_stmt_status(((sqlite_store *)s)->stmt[STMT_INSERT_CONTENT],
                               SQLITE_STMTSTATUS_RUN, 0);
}

/* Posted again, as Alertmanager does every group_interval: the writer
 * knows its content is stored and runs no INSERT for it. */
TEST(content_stored_already_is_not_inserted_again)
{
    store *s = fixture_store_open(dir, ignore_requeued, NULL);
    CHECK(s != NULL);
    int64_t now = midnight_ms() + 1;
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        notification *n = make("ops", "DiskFull", "db1", now + i);
        failed |= commit(s, &n, 1);
        notification_free(n);
    }
    notification *other = make("ops", "DiskFull", "db2", now + 3);
    failed |= commit(s, &other, 1);
    notification_free(other);
    int inserts = content_inserts(s);
    store_close(s);
    CHECK_INT(failed, 0);
    CHECK_INT(inserts, 2);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 2);
    history_rows rows = read_history();
    CHECK_INT(rows.len, 4);
    for (size_t i = 0; i < rows.len; i++)
        CHECK_CONTAINS(rows.items[i].labels_json, "\"alertname\":\"DiskFull\"");
    history_rows_free(&rows);
}

/* A transaction that failed stored nothing, its content neither: the
 * next commit of the alert stores it. */
TEST(content_of_a_rolled_back_write_is_stored_by_the_next)
{
    store *s = fixture_store_open(dir, ignore_requeued, NULL);
    CHECK(s != NULL);
    CHECK_INT(fixture_exec(dir, "CREATE TRIGGER refuse BEFORE INSERT ON history"
                                " WHEN NEW.created_ms = 1 BEGIN SELECT RAISE(ABORT, 'refused'); END;"),
              SQLITE_OK);
    notification *refused = make("ops", "DiskFull", "db1", 1);
    int first = commit(s, &refused, 1);
    notification_free(refused);
    CHECK_INT(fixture_exec(dir, "DROP TRIGGER refuse;"), SQLITE_OK);
    notification *n = make("ops", "DiskFull", "db1", 1);
    int second = commit(s, &n, 1);
    notification_free(n);
    store_close(s);
    CHECK(first != 0);
    CHECK_INT(second, 0);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 1);
    history_rows rows = read_history();
    CHECK_INT(rows.len, 1);
    CHECK_CONTAINS(rows.items[0].labels_json, "\"instance\":\"db1\"");
    history_rows_free(&rows);
}

/* The tables and view an earlier herald made, each history row with its
 * own labels and annotations: two rows alike, one not, and a silenced. */
static const char old_store[] =
    "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  receiver TEXT NOT NULL, status TEXT NOT NULL, alert_count INTEGER NOT NULL,"
    "  format INTEGER NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,"
    "  mentions TEXT NOT NULL, payload BLOB, group_key TEXT NOT NULL, dedup_key TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, entries TEXT);"
    "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, state TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL,"
    "  last_error TEXT, finished_ms INTEGER);"
    "CREATE TABLE history (id INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL,"
    "  fingerprint TEXT NOT NULL, alertname TEXT NOT NULL, instance TEXT NOT NULL,"
    "  severity TEXT NOT NULL, status TEXT NOT NULL, starts_at REAL, ends_at REAL,"
    "  receiver TEXT NOT NULL, labels TEXT NOT NULL, annotations TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, silenced_by TEXT);"
    "CREATE INDEX history_by_time ON history(created_ms);"
    "CREATE VIEW history_results AS"
    "  SELECT h.*, CASE WHEN h.silenced_by IS NOT NULL THEN 'silenced'"
    "                 WHEN d.state IN ('delivered', 'dead', 'dropped') THEN d.state"
    "                 ELSE 'pending' END AS result"
    "  FROM history h LEFT JOIN deliveries d ON d.id = h.notification_id;"
    "INSERT INTO messages VALUES(1, 'ops', 'firing', 1, 0, 't', 'x', '[]', NULL, 'g', 'k',"
    "  %lld, NULL);"
    "INSERT INTO deliveries VALUES(1, 'delivered', 1, 0, NULL, %lld);"
    "INSERT INTO history VALUES(1, 1, 'f1', 'Old', 'h1', 'page', 'firing', 1.5, NULL, 'ops',"
    "  '{\"alertname\":\"Old\",\"instance\":\"h1\"}', '{\"summary\":\"one\"}', %lld, NULL);"
    "INSERT INTO history VALUES(2, 1, 'f1', 'Old', 'h1', 'page', 'firing', 1.5, NULL, 'wms',"
    "  '{\"alertname\":\"Old\",\"instance\":\"h1\"}', '{\"summary\":\"one\"}', %lld, NULL);"
    "INSERT INTO history VALUES(3, 1, 'f2', 'Old', 'h2', 'page', 'firing', 1.5, NULL, 'ops',"
    "  '{\"alertname\":\"Old\",\"instance\":\"h2\"}', '{\"summary\":\"two\"}', %lld, NULL);"
    "INSERT INTO history VALUES(4, 0, 'f2', 'Old', 'h2', 'page', 'firing', 1.5, NULL, '',"
    "  '{\"alertname\":\"Old\",\"instance\":\"h2\"}', '{\"summary\":\"two\"}', %lld, 'sil-1');";

TEST(an_older_store_keeps_its_history_labels)
{
    char sql[sizeof old_store + 128];
    long long now = (long long)wall_ms();
    snprintf(sql, sizeof sql, old_store, now, now, now, now, now, now);
    CHECK_INT(fixture_exec(dir, sql), SQLITE_OK);

    store *s = fixture_store_open(dir, ignore_requeued, NULL);
    CHECK(s != NULL);
    notification *n = make("ops", "DiskFull", "db1", now);
    CHECK_INT(commit(s, &n, 1), 0);
    store_close(s);

    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 3);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM pragma_table_info('history')"
                                 " WHERE name = 'labels'"),
              0);
    history_rows rows = read_history();
    CHECK_INT(rows.len, 5);
    CHECK_CONTAINS(rows.items[0].labels_json, "\"alertname\":\"DiskFull\"");
    CHECK_STR(rows.items[1].labels_json, "{\"alertname\":\"Old\",\"instance\":\"h2\"}");
    CHECK_STR(rows.items[1].annotations_json, "{\"summary\":\"two\"}");
    CHECK_STR(rows.items[1].result, "silenced");
    CHECK_STR(rows.items[2].labels_json, "{\"alertname\":\"Old\",\"instance\":\"h2\"}");
    CHECK_STR(rows.items[3].labels_json, "{\"alertname\":\"Old\",\"instance\":\"h1\"}");
    CHECK_STR(rows.items[3].receiver, "wms");
    CHECK_STR(rows.items[4].annotations_json, "{\"summary\":\"one\"}");
    CHECK_STR(rows.items[4].result, "delivered");
    history_rows_free(&rows);

    /* opened again: nothing left to move, nothing moved twice */
    s = fixture_store_open(dir, ignore_requeued, NULL);
    CHECK(s != NULL);
    store_close(s);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 3);
    rows = read_history();
    CHECK_INT(rows.len, 5);
    history_rows_free(&rows);
    notification_free(n);
}

/* The alert state as the API reads it. */
static alert_state_rows read_state(int64_t now_ms)
{
    alert_state_rows rows = {0};
    char err[512];
    query_args args = {0};
    alert_filter f;
    store_reader *r = fixture_reader_open(dir);
    if (!r || query_alerts(&args, QUERY_API, &f, err, sizeof err)) {
        fprintf(stderr, "query_alerts: %s\n", r ? err : "no reader");
    } else {
        if (store_alerts(r, &f, now_ms, &rows, err, sizeof err))
            fprintf(stderr, "store_alerts: %s\n", err);
        alert_filter_free(&f);
    }
    if (r)
        store_reader_close(r);
    return rows;
}

/* n's alerts seen at seen_ms, and n stored unless NULL. */
static int seen_at(store *s, notification *n, notification *stored, int64_t seen_ms)
{
    alert_report rep = {n->alerts, n->alerts_len, "webhook", seen_ms};
    return commit_seen(s, stored ? &stored : NULL, stored ? 1 : 0, &rep);
}

/* The state names its content as a history row does: a post rewrites
 * the alert's times and status, and its labels and annotations are the
 * history's row of the day, stored by one INSERT for both. */
TEST(the_alert_state_names_the_content_of_the_day_it_was_seen)
{
    store *s = fixture_store_open(dir, ignore_requeued, NULL);
    CHECK(s != NULL);
    int64_t now = midnight_ms() + 1;
    notification *n = make("ops", "DiskFull", "db1", now);
    CHECK_INT(seen_at(s, n, n, now), 0);
    int first_inserts = content_inserts(s);
    /* seen again the next day, without a notification */
    CHECK_INT(seen_at(s, n, NULL, now + DAY_MS), 0);
    int inserts = content_inserts(s);
    store_close(s);
    CHECK_INT(first_inserts, 1);
    CHECK_INT(inserts, 2);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM pragma_table_info('alert_state')"
                                 " WHERE name IN ('labels', 'annotations')"),
              0);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 2);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_state s JOIN alert_content c"
                                 " ON c.id = s.content_id AND c.day = s.last_seen_ms / 86400000"),
              1);
    alert_state_rows rows = read_state(now + DAY_MS);
    CHECK_INT(rows.len, 1);
    if (rows.len == 1) {
        CHECK_CONTAINS(rows.items[0].labels_json, "\"instance\":\"db1\"");
        CHECK_CONTAINS(rows.items[0].annotations_json, "\"summary\":\"磁盘将满\"");
        CHECK_INT(rows.items[0].last_seen_ms, now + DAY_MS);
    }
    alert_state_rows_free(&rows);
    history_rows history = read_history();
    CHECK_INT(history.len, 1);
    if (history.len == 1)
        CHECK_CONTAINS(history.items[0].labels_json, "\"instance\":\"db1\"");
    history_rows_free(&history);
    notification_free(n);
}

/* The retention sweep deletes the state of an alert not seen since its
 * cutoff with its day of content, and keeps the content of one seen
 * since. */
TEST(the_sweep_keeps_the_content_of_the_state_it_keeps)
{
    store *s = fixture_store_open(dir, ignore_requeued, NULL);
    CHECK(s != NULL);
    int64_t now = wall_ms();
    notification *gone = make("ops", "Gone", "h1", now - 3 * DAY_MS);
    notification *kept = make("ops", "Kept", "h2", now - 3 * DAY_MS);
    CHECK_INT(seen_at(s, gone, NULL, now - 3 * DAY_MS), 0);
    CHECK_INT(seen_at(s, kept, NULL, now - 3 * DAY_MS), 0);
    CHECK_INT(seen_at(s, kept, NULL, now), 0);
    store_close(s);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 3);
    CHECK_INT(sweep_with_a_day_of_retention(), 0);
    CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 1);
    alert_state_rows rows = read_state(now);
    CHECK_INT(rows.len, 1);
    if (rows.len == 1) {
        CHECK_STR(rows.items[0].alertname, "Kept");
        CHECK_CONTAINS(rows.items[0].labels_json, "\"instance\":\"h2\"");
    }
    alert_state_rows_free(&rows);
    notification_free(gone);
    notification_free(kept);
}

/* A store made before the state named its content: each state's labels
 * and annotations move to alert_content, once, and it keeps the rest. */
TEST(an_older_store_keeps_its_alert_state_labels)
{
    store *s = fixture_store_open(dir, ignore_requeued, NULL);
    CHECK(s != NULL);
    int64_t now = wall_ms();
    notification *n = make("ops", "DiskFull", "db1", now);
    CHECK_INT(seen_at(s, n, NULL, now), 0);
    store_close(s);
    /* the state's table as an older herald made it */
    CHECK_INT(fixture_exec(dir, "ALTER TABLE alert_state ADD COLUMN labels TEXT;"
                                "ALTER TABLE alert_state ADD COLUMN annotations TEXT;"
                                "UPDATE alert_state SET (labels, annotations) ="
                                "  (SELECT labels, annotations FROM alert_content"
                                "   WHERE day = last_seen_ms / 86400000 AND id = content_id);"
                                "UPDATE alert_state SET ack_by = 'li.lei';"
                                "DROP VIEW alert_state_labelled;"
                                "ALTER TABLE alert_state DROP COLUMN content_id;"
                                "DELETE FROM alert_content;"),
              SQLITE_OK);
    for (int opened = 0; opened < 2; opened++) { /* the second: nothing left to move */
        s = fixture_store_open(dir, ignore_requeued, NULL);
        CHECK(s != NULL);
        store_close(s);
        CHECK_INT(fixture_count(dir, "SELECT count(*) FROM pragma_table_info('alert_state')"
                                     " WHERE name IN ('labels', 'annotations')"),
                  0);
        CHECK_INT(fixture_count(dir, "SELECT count(*) FROM alert_content"), 1);
        alert_state_rows rows = read_state(now);
        CHECK_INT(rows.len, 1);
        if (rows.len == 1) {
            CHECK_STR(rows.items[0].labels_json, n->alerts[0].labels_json);
            CHECK_STR(rows.items[0].annotations_json, n->alerts[0].annotations_json);
            CHECK_STR(rows.items[0].acknowledged_by, "li.lei");
        }
        alert_state_rows_free(&rows);
    }
    /* and the content id is the one the writer computes */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM alert_state WHERE content_id = %lld",
             (long long)n->alerts[0].content_id);
    CHECK_INT(fixture_count(dir, sql), 1);
    notification_free(n);
}

WRAP(the_same_alert_is_stored_once_a_day)
WRAP(a_day_stores_its_own_content)
WRAP(the_days_past_retention_are_swept)
WRAP(an_older_store_keeps_its_history_labels)
WRAP(content_stored_already_is_not_inserted_again)
WRAP(content_of_a_rolled_back_write_is_stored_by_the_next)
WRAP(the_alert_state_names_the_content_of_the_day_it_was_seen)
WRAP(the_sweep_keeps_the_content_of_the_state_it_keeps)
WRAP(an_older_store_keeps_its_alert_state_labels)

RUN_TESTS(WCASE(the_same_alert_is_stored_once_a_day), WCASE(a_day_stores_its_own_content),
          WCASE(the_days_past_retention_are_swept), WCASE(an_older_store_keeps_its_history_labels),
          WCASE(content_stored_already_is_not_inserted_again),
          WCASE(content_of_a_rolled_back_write_is_stored_by_the_next),
          WCASE(the_alert_state_names_the_content_of_the_day_it_was_seen),
          WCASE(the_sweep_keeps_the_content_of_the_state_it_keeps),
          WCASE(an_older_store_keeps_its_alert_state_labels))
