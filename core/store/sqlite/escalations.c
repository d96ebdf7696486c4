/* Escalations (pipeline/escalate.h) in the writer's connection: stored
 * waiting with their message, and, once due, sent (requeued for the
 * daemon, as `herald queue retry` requeues) or cancelled. */
#include "store/sqlite/private.h"

#include <stdio.h>
#include <stdlib.h>

#include "store/content.h"
#include "store/escalation_sql.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"

int sqlite_escalation_insert(sqlite_store *s, notification *n)
{
    const alert_record *a = &n->alerts[0];
    sqlite3_stmt *q = s->stmt[STMT_ESCALATION_KNOWN];
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, a->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, n->receiver, -1, SQLITE_STATIC);
    sqlite3_bind_double(q, 3, a->starts_at);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    if (rc == SQLITE_DONE) { /* none yet for this firing */
        if (sqlite_insert_message(s, n))
            return -1;
        q = s->stmt[STMT_ESCALATION_INSERT];
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, (sqlite3_int64)n->id);
        sqlite3_bind_text(q, 2, a->fingerprint, -1, SQLITE_STATIC);
        sqlite3_bind_double(q, 3, a->starts_at);
        sqlite3_bind_text(q, 4, n->receiver, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, n->escalated_from, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 6, n->escalate_at_ms);
        if (sqlite3_step(q) != SQLITE_DONE)
            return -1;
        sqlite3_stmt *wait = s->stmt[STMT_ESCALATION_WAIT];
        sqlite3_reset(wait);
        sqlite3_bind_int64(wait, 1, (sqlite3_int64)n->id);
        if (sqlite3_step(wait) != SQLITE_DONE)
            return -1;
    }
    /* not for the dispatcher now: the store hands it over when due */
    n->id = 0;
    n->held = HELD_ESCALATION;
    return 0;
}

/* Runs `sql` with ?1 the escalation's notification id, ?2 now and ?3
 * `text` (NULL: none). */
static int run(sqlite_store *s, const char *sql, int64_t id, int64_t now, const char *text)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) == SQLITE_OK ? 0 : -1;
    if (rc == 0) {
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int64(q, 2, now);
        sqlite3_bind_text(q, 3, text, -1, SQLITE_STATIC);
        rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(q);
    return rc;
}

static int cancel(sqlite_store *s, int64_t id, int64_t now, const char *reason)
{
    char error[300];
    snprintf(error, sizeof error, "escalation cancelled: %s", reason);
    return run(s,
               "UPDATE escalations SET state = 'cancelled', done_ms = ?2, reason = ?3"
               " WHERE notification_id = ?1",
               id, now, reason) ||
           run(s,
               "UPDATE deliveries SET state = 'dropped', finished_ms = ?2, last_error = ?3"
               " WHERE id = ?1 AND state = 'escalation'",
               id, now, error);
}

/* Its history row and its receiver told, as for a notification made at
 * ingest, then to the daemon. */
static int send(sqlite_store *s, int64_t id, int64_t now)
{
    return run(s,
               "INSERT INTO history(notification_id, fingerprint, alertname, instance, severity,"
               " status, starts_at, ends_at, receiver, content_id, created_ms)"
               " SELECT e.notification_id, s.fingerprint, s.alertname,"
               "  coalesce(json_extract(s.labels, '$.instance'), ''),"
               "  coalesce(json_extract(s.labels, '$.severity'), ''), 'firing', s.starts_at,"
               "  s.ends_at, e.receiver, s.content_id, ?2"
               " FROM escalations e JOIN alert_state_labelled s ON s.fingerprint = e.fingerprint"
               " WHERE e.notification_id = ?1",
               id, now, NULL) ||
           run(s,
               "INSERT OR IGNORE INTO alert_content(day, id, labels, annotations)"
               " SELECT " STORE_CONTENT_DAY_SQL("?2") ", s.content_id, s.labels, s.annotations"
               " FROM escalations e JOIN alert_state_labelled s ON s.fingerprint = e.fingerprint"
               " WHERE e.notification_id = ?1",
               id, now, NULL) ||
           run(s,
               "INSERT INTO alert_notified(fingerprint, receiver, status, starts_at, notified_ms)"
               " SELECT s.fingerprint, e.receiver, 'firing', s.starts_at, ?2"
               " FROM escalations e JOIN alert_state s ON s.fingerprint = e.fingerprint"
               " WHERE e.notification_id = ?1"
               " ON CONFLICT(fingerprint, receiver) DO UPDATE SET status = excluded.status,"
               " starts_at = excluded.starts_at, notified_ms = excluded.notified_ms",
               id, now, NULL) ||
           run(s,
               "UPDATE deliveries SET state = 'requeued', next_attempt_ms = ?2"
               " WHERE id = ?1 AND state = 'escalation'",
               id, now, NULL) ||
           run(s,
               "UPDATE escalations SET state = 'sent', done_ms = ?2 WHERE notification_id = ?1",
               id, now, NULL);
}

typedef struct due_escalation {
    int64_t id;
    char *reason; /* NULL: it goes */
} due_escalation;

/* The due ones, each judged: 0, or -1. */
static int read_due(sqlite_store *s, int64_t now, due_escalation **out, size_t *len)
{
    sqlite3_stmt *q = s->stmt[STMT_ESCALATIONS_DUE];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int(q, 2, ESCALATIONS_PER_LOOK);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        *out = xrealloc(*out, (*len + 1) * sizeof **out);
        (*out)[*len].id = sqlite3_column_int64(q, 0);
        (*out)[(*len)++].reason = sqlite_column_text_or_null(q, 1);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

void sqlite_release_escalations(sqlite_store *s)
{
    int64_t now = wall_ms();
    due_escalation *due = NULL;
    size_t len = 0, sent = 0;
    char why[256] = "";
    /* Most seconds nothing is due: the look is one read of an index. */
    int rc = read_due(s, now, &due, &len);
    if (rc == 0 && len) {
        for (size_t i = 0; i < len; i++)
            free(due[i].reason);
        len = 0;
        rc = sqlite_exec(s->db, "BEGIN IMMEDIATE", why, sizeof why) || read_due(s, now, &due, &len);
        for (size_t i = 0; i < len && rc == 0; i++) {
            rc = due[i].reason ? cancel(s, due[i].id, now, due[i].reason) : send(s, due[i].id, now);
            sent += !due[i].reason;
        }
        if (rc == 0)
            rc = sqlite_exec(s->db, "COMMIT", why, sizeof why);
        if (rc) {
            char ignored[64];
            sqlite_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        }
    }
    if (rc) {
        if (!s->disk_full) /* tried again every second; the episode is logged once */
            log_error("store", "cannot release due escalations: %s",
                      why[0] ? why : sqlite3_errmsg(s->db));
    } else if (len) {
        metrics_add(METRIC_ESCALATIONS_SENT, sent);
        metrics_add(METRIC_ESCALATIONS_CANCELLED, len - sent);
        for (size_t i = 0; i < len; i++)
            if (due[i].reason)
                log_info("store", "escalation %lld cancelled: %s", (long long)due[i].id,
                         due[i].reason);
            else
                log_info("store", "escalation %lld is due: sending it", (long long)due[i].id);
    }
    for (size_t i = 0; i < len; i++)
        free(due[i].reason);
    free(due);
}

int sqlite_alert_escalated(sqlite3 *db, alert_state_row *a)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT receiver, done_ms FROM escalations WHERE fingerprint = ?1"
                           " AND state = 'sent' AND starts_at >= ?2 ORDER BY done_ms DESC LIMIT 1",
                           -1, &q, NULL) != SQLITE_OK) {
        sqlite3_finalize(q);
        return -1;
    }
    sqlite3_bind_text(q, 1, a->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_double(q, 2, a->starts_at);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        a->escalated_to = sqlite_column_text(q, 0);
        a->escalated_ms = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}
