#include "store/sqlite/private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/content.h"
#include "store/escalation_sql.h"
#include "util/error.h"
#include "util/strbuf.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000

/* Written once a day per labels and annotations, however many rows of
 * the day name them (store/content.h); the retention sweep deletes the
 * days past. */
#define ALERT_CONTENT_COLUMNS                                                                  \
    "day INTEGER NOT NULL, id INTEGER NOT NULL, labels TEXT NOT NULL,"                         \
    " annotations TEXT NOT NULL, PRIMARY KEY (day, id)"

/* A notification's content never changes after it is stored; its delivery
 * state changes on every attempt. They live in separate tables, so an
 * attempt rewrites a small row, not the message and its payload, and the
 * history's result is read through the state instead of being rewritten. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS messages ("
    /* never reused: history rows of a dropped or swept notification must
     * not attach to a new one */
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  receiver TEXT NOT NULL, status TEXT NOT NULL, alert_count INTEGER NOT NULL,"
    "  format INTEGER NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,"
    "  mentions TEXT NOT NULL, payload BLOB, group_key TEXT NOT NULL, dedup_key TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  entries TEXT);" /* the alerts as a digest names them (notification/rendered.h) */
    "CREATE INDEX IF NOT EXISTS messages_by_dedup ON messages(dedup_key, created_ms);"
    "CREATE TABLE IF NOT EXISTS deliveries ("
    "  id INTEGER PRIMARY KEY,"       /* the message's id */
    "  state TEXT NOT NULL,"          /* pending | requeued | delivered | dead | dropped
                                       * | escalation (waiting: store/escalation_sql.h) */
    "  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL,"
    "  last_error TEXT, finished_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries(state);"
    "CREATE VIEW IF NOT EXISTS notifications AS"
    "  SELECT m.id, m.receiver, m.status, m.alert_count, m.format, m.title, m.text, m.mentions,"
    "         m.payload, m.group_key, m.dedup_key, m.created_ms, d.state, d.attempts,"
    "         d.next_attempt_ms, d.last_error, d.finished_ms"
    "  FROM messages m JOIN deliveries d ON d.id = m.id;"
    "CREATE TABLE IF NOT EXISTS history ("
    "  id INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL,"
    "  fingerprint TEXT NOT NULL, alertname TEXT NOT NULL, instance TEXT NOT NULL,"
    "  severity TEXT NOT NULL, status TEXT NOT NULL, starts_at REAL, ends_at REAL,"
    "  receiver TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  silenced_by TEXT," /* a silenced alert's row: no notification (0), receiver '' */
    "  content_id INTEGER NOT NULL);" /* its labels and annotations (store/content.h) */
    "CREATE TABLE IF NOT EXISTS alert_content (" ALERT_CONTENT_COLUMNS ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS history_by_time ON history(created_ms);"
    "CREATE INDEX IF NOT EXISTS history_by_notification ON history(notification_id);"
    /* What the rate limiter must remember across a restart: recent sends
     * to rate-limited targets and the pauses services imposed. A target
     * is named by a digest of its key, which holds the robot's token. */
    "CREATE TABLE IF NOT EXISTS target_sends (target TEXT NOT NULL, sent_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS target_sends_by_time ON target_sends(sent_ms);"
    "CREATE TABLE IF NOT EXISTS target_pauses ("
    "  target TEXT PRIMARY KEY, until_ms INTEGER NOT NULL);"
    /* Each alert's current state, one row per fingerprint: what is firing
     * now. expires_ms is set when it resolves: the row leaves the view
     * then, and the table at the next sweep. */
    "CREATE TABLE IF NOT EXISTS alert_state ("
    "  fingerprint TEXT PRIMARY KEY, alertname TEXT NOT NULL,"
    /* its labels and annotations, of the day of last_seen_ms
     * (store/content.h): read through alert_state_labelled */
    "  content_id INTEGER NOT NULL,"
    "  status TEXT NOT NULL, starts_at REAL, ends_at REAL,"
    "  source TEXT NOT NULL, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,"
    "  resolved_ms INTEGER, expires_ms INTEGER, webhook_seen_ms INTEGER,"
    "  silenced_by TEXT,"
    /* who acknowledged this firing (store_acknowledge); cleared as it
     * resolves */
    "  ack_by TEXT, ack_ms INTEGER, ack_comment TEXT);"
    /* The expiry's question (alerts.c): firing alerts posted to
     * /api/v2/alerts. Partial, so the upsert of every alert Alertmanager
     * sends touches the table alone; an index of every row cost each
     * upsert an index entry deleted and made again. Stores made before
     * it drop the index it replaces, once. */
    "DROP INDEX IF EXISTS alert_state_by_end;"
    "CREATE INDEX IF NOT EXISTS alert_state_firing_from_api ON alert_state(ends_at)"
    "  WHERE status = 'firing' AND source = 'alerts';"
    /* What each receiver was last told of an alert, and when: the repeat
     * interval is counted from here. */
    "CREATE TABLE IF NOT EXISTS alert_notified ("
    "  fingerprint TEXT NOT NULL, receiver TEXT NOT NULL, status TEXT NOT NULL,"
    "  starts_at REAL, notified_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (fingerprint, receiver)) WITHOUT ROWID;"
    /* Each attempt's outcome, written with the delivery state it sets, and
     * an operator's drop: what `herald queue show` lists. */
    "CREATE TABLE IF NOT EXISTS attempts ("
    "  id INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL, at_ms INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL,"        /* delivered | retry | dead | dropped */
    "  detail TEXT, actor TEXT);"     /* the error or the drop's reason; who dropped it */
    "CREATE INDEX IF NOT EXISTS attempts_by_notification ON attempts(notification_id);"
    /* What operators asked of the running daemon (send-now, drop, unpause),
     * taken by its writer: the daemon's memory, not only the store, must
     * change. Never reused ids: the writer takes them in order. */
    "CREATE TABLE IF NOT EXISTS queue_requests ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, notification_id INTEGER,"
    "  receiver TEXT, requested_ms INTEGER NOT NULL);"
    /* Silences (alert/silence.h): the daemon reads the active ones every
     * second; ended ones stay for `silence list --all` until retention. */
    "CREATE TABLE IF NOT EXISTS silences ("
    "  id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_ms INTEGER NOT NULL,"
    "  ends_ms INTEGER NOT NULL, created_by TEXT NOT NULL, comment TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS silences_by_end ON silences(ends_ms);";

/* How the history is read: each row with its labels and annotations and
 * its notification's result; and the alert state, each with its labels
 * and annotations ('{}' should its content be missing: the alert still
 * shows). Made after the upgrades, which need the content_id columns and
 * the content's day before they can be read, and drop columns no view may
 * name then. */
static const char read_schema[] =
    "CREATE VIEW IF NOT EXISTS alert_state_labelled AS"
    "  SELECT s.*, coalesce(c.labels, '{}') AS labels,"
    "         coalesce(c.annotations, '{}') AS annotations"
    "  FROM alert_state s LEFT JOIN alert_content c"
    "    ON c.day = " STORE_CONTENT_DAY_SQL("s.last_seen_ms") " AND c.id = s.content_id;"
    "CREATE VIEW IF NOT EXISTS history_results AS"
    "  SELECT h.*, c.labels, c.annotations,"
    "         CASE WHEN h.silenced_by IS NOT NULL THEN 'silenced'"
    "              WHEN d.state IN ('delivered', 'dead', 'dropped') THEN d.state"
    "              ELSE 'pending' END AS result"
    "  FROM history h JOIN alert_content c"
    "    ON c.day = " STORE_CONTENT_DAY_SQL("h.created_ms") " AND c.id = h.content_id"
    "  LEFT JOIN deliveries d ON d.id = h.notification_id;";

/* What closing the loop keeps, beside the schema above (one string would
 * pass the length C compilers must take). */
static const char loop_schema[] =
    /* Escalations (pipeline/escalate.h): each waits with its message (its
     * delivery in the state 'escalation') until due_ms, then is sent or
     * cancelled. Kept while the alert is in the state: a post of the same
     * firing finds it made. starts_at: the state's start of the firing. */
    "CREATE TABLE IF NOT EXISTS escalations ("
    "  notification_id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, starts_at REAL NOT NULL,"
    "  receiver TEXT NOT NULL, from_receiver TEXT NOT NULL, due_ms INTEGER NOT NULL,"
    "  state TEXT NOT NULL," /* waiting | sent | cancelled */
    "  done_ms INTEGER, reason TEXT);"
    "CREATE INDEX IF NOT EXISTS escalations_by_due ON escalations(state, due_ms);"
    "CREATE INDEX IF NOT EXISTS escalations_by_alert ON escalations(fingerprint, receiver);"
    /* Action links (action/token.h): the keys that sign them (hex, newest
     * signs), and the links used, kept until they expire. */
    "CREATE TABLE IF NOT EXISTS action_keys ("
    "  id INTEGER PRIMARY KEY, secret TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS action_uses ("
    "  nonce TEXT PRIMARY KEY, used_by TEXT NOT NULL, used_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL);";

/* A store made before notifications could be dropped, alerts silenced
 * or contents stored once has the history's view without them: it is
 * dropped, once, and made again with history_schema. Only then, since
 * every write at open would fail a restart on a full disk. */
static int upgrade_history_view(sqlite3 *db, char *why, size_t why_cap)
{
    sqlite3_stmt *q = NULL;
    int outdated = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT instr(sql, 'alert_content') = 0 FROM sqlite_master"
                           " WHERE type = 'view' AND name = 'history_results'",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        outdated = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return outdated ? sqlite_exec(db, "DROP VIEW history_results", why, why_cap) : 0;
}

/* herald_content_id(labels, annotations): alert_content_id in SQL, for
 * the upgrade below. */
static void content_id_function(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *labels = sqlite3_value_text(argv[0]);
    const unsigned char *annotations = sqlite3_value_text(argv[1]);
    sqlite3_result_int64(ctx, alert_content_id(labels ? (const char *)labels : "",
                                               (size_t)sqlite3_value_bytes(argv[0]),
                                               annotations ? (const char *)annotations : "",
                                               (size_t)sqlite3_value_bytes(argv[1])));
}

/* A store made before contents were stored once has labels and
 * annotations in each row of `table`: they move to alert_content, once,
 * under the day of `day_column`, in one transaction, and the columns go
 * (one way to read them: the view, dropped here should an older one name
 * them). Rewrites the table: a large store takes a while. */
static int move_content(sqlite3 *db, const char *table, const char *day_column,
                        const char *view, char *why, size_t why_cap)
{
    if (!sqlite_has_column(db, table, "labels"))
        return 0;
    strbuf sql = STRBUF_INIT;
    sb_printf(&sql,
              "BEGIN IMMEDIATE;"
              "ALTER TABLE %s ADD COLUMN content_id INTEGER NOT NULL DEFAULT 0;"
              "INSERT OR IGNORE INTO alert_content(day, id, labels, annotations)"
              "  SELECT " STORE_CONTENT_DAY_SQL("%s") ","
              "    herald_content_id(labels, annotations), labels, annotations"
              "  FROM %s;"
              "UPDATE %s SET content_id = herald_content_id(labels, annotations);"
              "DROP VIEW IF EXISTS %s;"
              "ALTER TABLE %s DROP COLUMN labels;"
              "ALTER TABLE %s DROP COLUMN annotations;"
              "COMMIT;",
              table, day_column, table, table, view, table, table);
    int rc = sqlite_exec(db, sb_str(&sql), why, why_cap);
    sb_free(&sql);
    if (rc) {
        char ignored[64];
        sqlite_exec(db, "ROLLBACK", ignored, sizeof ignored);
    }
    return rc;
}

/* A store made before digests named each alert has messages without
 * their entries: the column is added, once (its old rows have none, and
 * go in digests as their text). */
static int upgrade_messages(sqlite3 *db, char *why, size_t why_cap)
{
    return sqlite_has_column(db, "messages", "entries")
               ? 0
               : sqlite_exec(db, "ALTER TABLE messages ADD COLUMN entries TEXT", why, why_cap);
}

/* A store made before silences has neither table's silenced_by column:
 * added, once (before the history's view is made again to read it). */
static int upgrade_silenced(sqlite3 *db, char *why, size_t why_cap)
{
    static const char *const tables[] = {"history", "alert_state"};
    for (size_t i = 0; i < 2; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN silenced_by TEXT", tables[i]);
        if (!sqlite_has_column(db, tables[i], "silenced_by") && sqlite_exec(db, sql, why, why_cap))
            return -1;
    }
    return 0;
}

/* A store made before acknowledgements has an alert state without their
 * columns: added, once. */
static int upgrade_acknowledged(sqlite3 *db, char *why, size_t why_cap)
{
    return sqlite_has_column(db, "alert_state", "ack_by")
               ? 0
               : sqlite_exec(db,
                             "ALTER TABLE alert_state ADD COLUMN ack_by TEXT;"
                             "ALTER TABLE alert_state ADD COLUMN ack_ms INTEGER;"
                             "ALTER TABLE alert_state ADD COLUMN ack_comment TEXT;",
                             why, why_cap);
}

static const char *const statement_sql[STMT_COUNT] = {
    [STMT_INSERT_MESSAGE] =
        "INSERT INTO messages(receiver, status, alert_count, format, title, text, mentions,"
        " payload, group_key, dedup_key, created_ms, entries)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [STMT_INSERT_DELIVERY] =
        "INSERT INTO deliveries(id, state, attempts, next_attempt_ms) VALUES(?1, 'pending', ?2, ?3)",
    /* a repeat of content already stored is a lookup, not a write */
    [STMT_INSERT_CONTENT] = "INSERT OR IGNORE INTO alert_content(day, id, labels, annotations)"
                            " VALUES(?1, ?2, ?3, ?4)",
    /* The last notification of the stream (a key range: the stream is the
     * key's first half) within the window; a dead one is no reason to
     * hold back the next. */
    [STMT_DUPLICATE] = "SELECT m.dedup_key FROM messages m JOIN deliveries d ON d.id = m.id"
                       " WHERE m.dedup_key >= ?1 AND m.dedup_key < ?2 AND m.created_ms >= ?3"
                       " AND d.state != 'dead' ORDER BY m.id DESC LIMIT 1",
    /* Only a pending notification: one an operator dropped while it was
     * in flight stays dropped, whatever the attempt's outcome. */
    [STMT_MARK_DELIVERED] =
        "UPDATE deliveries SET state = 'delivered', attempts = ?2, finished_ms = ?3,"
        " last_error = NULL WHERE id = ?1 AND state = 'pending'",
    [STMT_MARK_RETRY] = "UPDATE deliveries SET attempts = ?2, next_attempt_ms = ?3, last_error = ?4"
                        " WHERE id = ?1 AND state = 'pending'",
    [STMT_MARK_DEAD] = "UPDATE deliveries SET state = 'dead', attempts = ?2, finished_ms = ?3,"
                       " last_error = ?4 WHERE id = ?1 AND state = 'pending'",
    [STMT_RECORD_SEND] = "INSERT INTO target_sends(target, sent_ms) VALUES(?1, ?2)",
    [STMT_RECORD_PAUSE] =
        "INSERT INTO target_pauses(target, until_ms) VALUES(?1, ?2)"
        " ON CONFLICT(target) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)",
    [STMT_LAST_NOTIFIED] =
        "SELECT n.status, n.starts_at, s.starts_at, n.notified_ms, s.ack_by IS NOT NULL"
        " FROM alert_notified n LEFT JOIN alert_state s ON s.fingerprint = n.fingerprint"
        " WHERE n.fingerprint = ?1 AND n.receiver = ?2",
    [STMT_INSERT_ATTEMPT] =
        "INSERT INTO attempts(notification_id, at_ms, outcome, detail) VALUES(?1, ?2, ?3, ?4)",
    [STMT_CLEAR_PAUSE] = "DELETE FROM target_pauses WHERE target = ?1",
    [STMT_MARK_DROPPED] = "UPDATE deliveries SET state = 'dropped', attempts = ?2, finished_ms = ?3,"
                          " last_error = ?4 WHERE id = ?1 AND state = 'pending'",
    [STMT_RECORD_DROP] = "INSERT INTO attempts(notification_id, at_ms, outcome, detail, actor)"
                         " VALUES(?1, ?2, 'dropped', ?3, '" STORE_QUIET_HOURS_ACTOR "')",
    /* Before the state takes the alert: a history row once each time an
     * alert is held back by a silence in a new state (its status, its
     * start, the silence), not at every post of it (Prometheus posts a
     * firing alert every evaluation). */
    [STMT_SILENCED_HISTORY] =
        "INSERT INTO history(notification_id, fingerprint, alertname, instance, severity, status,"
        " starts_at, ends_at, receiver, content_id, created_ms, silenced_by)"
        " SELECT 0, ?1, ?2, ?3, ?4, ?5, ?6, ?7, '', ?8, ?9, ?10"
        " WHERE NOT EXISTS (SELECT 1 FROM alert_state WHERE fingerprint = ?1 AND status = ?5"
        "  AND silenced_by = ?10 AND (?5 = 'resolved' OR starts_at <= ?6))",
    /* One escalation per receiver per firing: a later post of it (the
     * state's start is no later) finds the first. */
    [STMT_ESCALATION_KNOWN] =
        "SELECT 1 FROM escalations WHERE fingerprint = ?1 AND receiver = ?2 AND starts_at >="
        " coalesce((SELECT starts_at FROM alert_state WHERE fingerprint = ?1), ?3) LIMIT 1",
    [STMT_ESCALATION_INSERT] =
        "INSERT INTO escalations(notification_id, fingerprint, starts_at, receiver,"
        " from_receiver, due_ms, state) VALUES(?1, ?2,"
        " coalesce((SELECT starts_at FROM alert_state WHERE fingerprint = ?2), ?3), ?4, ?5, ?6,"
        " 'waiting')",
    [STMT_ESCALATION_WAIT] =
        "UPDATE deliveries SET state = 'escalation',"
        " next_attempt_ms = (SELECT due_ms FROM escalations WHERE notification_id = ?1)"
        " WHERE id = ?1",
    [STMT_ESCALATIONS_DUE] =
        "SELECT e.notification_id, " ESCALATION_CANCEL_REASON
        " FROM escalations e LEFT JOIN alert_state s ON s.fingerprint = e.fingerprint"
        " WHERE e.state = 'waiting' AND e.due_ms <= ?1 ORDER BY e.due_ms LIMIT ?2",
};

char *sqlite_db_path(const char *data_dir)
{
    strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s/herald.db", data_dir);
    return sb_take(&sb);
}

sqlite3 *sqlite_open_existing(const char *data_dir, int writable, char *err, size_t err_cap)
{
    char *path = sqlite_db_path(data_dir);
    sqlite3 *db = NULL;
    int flags = writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        fail(err, err_cap, "%s: no store yet: herald serve has not run with this data_dir", path);
    } else if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fail(err, err_cap, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        db = NULL;
    } else {
        sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
        char why[256];
        if (sqlite_keep_wal_files(db, why, sizeof why)) {
            fail(err, err_cap, "%s: %s", path, why);
            sqlite3_close(db);
            db = NULL;
        }
    }
    free(path);
    return db;
}

/* The row statements (private.h): each is head, n rows of `columns`
 * parameters, then tail. A row's values are column1, column2, ... of the
 * VALUES list where head selects from it. */
typedef struct row_statement_sql {
    const char *head, *tail;
    int columns;
} row_statement_sql;

/* Every SET reads the row as it was: a resolution keeps the time it was
 * first seen resolved, and firing again clears both times. While it
 * fires, the earliest start stays, as Alertmanager merges: two Prometheus
 * replicas (or a sender that leaves startsAt out) give one alert several
 * starts. webhook_seen_ms: the last time it came through Alertmanager (or
 * Grafana), which then says when it resolves. A row is fingerprint,
 * alertname, content_id, status, starts_at, ends_at, source, seen_ms,
 * resolved retention, silenced_by (state.c). */
static const row_statement_sql state_seen_sql = {
    "INSERT INTO alert_state(fingerprint, alertname, content_id, status, starts_at,"
    " ends_at, source, first_seen_ms, last_seen_ms, resolved_ms, expires_ms, webhook_seen_ms,"
    " silenced_by)"
    " SELECT column1, column2, column3, column4, column5, column6, column7, column8, column8,"
    "  CASE WHEN column4 = 'resolved' THEN coalesce(CAST(column6 * 1000 AS INTEGER), column8) END,"
    "  CASE WHEN column4 = 'resolved' THEN column8 + column9 END,"
    "  CASE WHEN column7 != 'alerts' THEN column8 END, column10 FROM (",
    /* WHERE true: without it SQLite would read ON as a join's */
    ") WHERE true ON CONFLICT(fingerprint) DO UPDATE SET alertname = excluded.alertname,"
    "  content_id = excluded.content_id,"
    "  starts_at = CASE WHEN alert_state.status = 'firing'"
    "    THEN min(alert_state.starts_at, excluded.starts_at) ELSE excluded.starts_at END,"
    "  ends_at = excluded.ends_at, source = excluded.source,"
    "  webhook_seen_ms = coalesce(excluded.webhook_seen_ms, alert_state.webhook_seen_ms),"
    "  last_seen_ms = excluded.last_seen_ms, silenced_by = excluded.silenced_by,"
    "  resolved_ms = CASE WHEN excluded.status = 'firing' THEN NULL"
    "    WHEN alert_state.status = 'resolved' THEN alert_state.resolved_ms"
    "    ELSE excluded.resolved_ms END,"
    "  expires_ms = CASE WHEN excluded.status = 'firing' THEN NULL"
    "    WHEN alert_state.status = 'resolved' THEN alert_state.expires_ms"
    "    ELSE excluded.expires_ms END,"
    /* an acknowledgement lasts while the firing it was given to does */
    "  ack_by = CASE WHEN excluded.status = 'firing' AND alert_state.status = 'firing'"
    "    THEN alert_state.ack_by END,"
    "  ack_ms = CASE WHEN excluded.status = 'firing' AND alert_state.status = 'firing'"
    "    THEN alert_state.ack_ms END,"
    "  ack_comment = CASE WHEN excluded.status = 'firing' AND alert_state.status = 'firing'"
    "    THEN alert_state.ack_comment END,"
    "  status = excluded.status",
    STATE_COLUMNS};

/* A row is fingerprint, receiver, status, starts_at, notified_ms; the
 * start counted from is the state's, the alert's own without one. */
static const row_statement_sql notified_sql = {
    "INSERT INTO alert_notified(fingerprint, receiver, status, starts_at, notified_ms)"
    " SELECT column1, column2, column3,"
    "  coalesce((SELECT starts_at FROM alert_state WHERE fingerprint = column1), column4),"
    "  column5 FROM (",
    ") WHERE true ON CONFLICT(fingerprint, receiver) DO UPDATE SET"
    " status = excluded.status, starts_at = excluded.starts_at,"
    " notified_ms = excluded.notified_ms",
    NOTIFIED_COLUMNS};

static const row_statement_sql insert_history_sql = {
    "INSERT INTO history(notification_id, fingerprint, alertname, instance, severity,"
    " status, starts_at, ends_at, receiver, content_id, created_ms) ",
    "", HISTORY_COLUMNS};

static int prepare_rows(sqlite_store *s, const row_statement_sql *form, row_statements *out,
                        char *why, size_t why_cap)
{
    strbuf rows = STRBUF_INIT, sql = STRBUF_INIT;
    sb_puts(&rows, "VALUES");
    int rc = 0;
    for (int n = 1; n <= ROWS_PER_STATEMENT && !rc; n++) {
        sb_puts(&rows, n > 1 ? ",(" : "(");
        for (int column = 0; column < form->columns; column++)
            sb_puts(&rows, column ? ",?" : "?");
        sb_putc(&rows, ')');
        sb_reset(&sql);
        sb_printf(&sql, "%s%s%s", form->head, sb_str(&rows), form->tail);
        if (sqlite3_prepare_v3(s->db, sb_str(&sql), -1, SQLITE_PREPARE_PERSISTENT,
                               &out->rows[n - 1], NULL) != SQLITE_OK)
            rc = fail(why, why_cap, "%s", sqlite3_errmsg(s->db));
    }
    sb_free(&rows);
    sb_free(&sql);
    return rc;
}

/* The writer's connection: WAL, so readers (the API, the CLI) never block
 * it; synchronous FULL, so a commit is on disk before ingest answers 200.
 * An existing store opens as it is: the schema only adds what is missing. */
int sqlite_open_writer(sqlite_store *s, char *why, size_t why_cap)
{
    sqlite_register_gather_vfs();
    if (sqlite3_open_v2(s->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        SQLITE_GATHER_VFS) != SQLITE_OK)
        return fail(why, why_cap, "%s", s->db ? sqlite3_errmsg(s->db) : "cannot open");
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (sqlite_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", why, why_cap) ||
        sqlite_manage_wal(s, why, why_cap))
        return -1;
    /* Before anything writes: a WAL left behind on a full disk is given
     * back if the database file can take its pages. */
    sqlite_checkpoint(s, CHECKPOINT_TRUNCATE);
    if (sqlite3_create_function(s->db, "herald_content_id", 2,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                content_id_function, NULL, NULL) != SQLITE_OK)
        return fail(why, why_cap, "%s", sqlite3_errmsg(s->db));
    if (sqlite_exec(s->db, schema, why, why_cap) || sqlite_exec(s->db, loop_schema, why, why_cap) ||
        upgrade_messages(s->db, why, why_cap) ||
        upgrade_silenced(s->db, why, why_cap) || upgrade_acknowledged(s->db, why, why_cap) ||
        move_content(s->db, "history", "created_ms", "history_results", why, why_cap) ||
        move_content(s->db, "alert_state", "last_seen_ms", "alert_state_labelled", why, why_cap) ||
        upgrade_history_view(s->db, why, why_cap) ||
        sqlite_exec(s->db, read_schema, why, why_cap))
        return -1;
    char version[64];
    snprintf(version, sizeof version,
             "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '%d');", SCHEMA_VERSION);
    if (sqlite_exec(s->db, version, why, why_cap))
        return -1;
    for (int i = 0; i < STMT_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK)
            return fail(why, why_cap, "%s", sqlite3_errmsg(s->db));
    if (prepare_rows(s, &state_seen_sql, &s->state_seen, why, why_cap) ||
        prepare_rows(s, &notified_sql, &s->notified, why, why_cap))
        return -1;
    return prepare_rows(s, &insert_history_sql, &s->insert_history, why, why_cap);
}

char *sqlite_column_text(sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    return xstrdup(t ? (const char *)t : "");
}

char *sqlite_column_text_or_null(sqlite3_stmt *q, int col)
{
    return sqlite3_column_type(q, col) == SQLITE_NULL ? NULL : sqlite_column_text(q, col);
}
