#include "store/sqlite/private.h"

#include "store/repeat.h"

#include <stdio.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"

static void bind_ends_at(sqlite3_stmt *q, int col, double ends_at)
{
    if (ends_at > 0)
        sqlite3_bind_double(q, col, ends_at);
    else
        sqlite3_bind_null(q, col);
}

/* A silenced alert's history row, unless its last post was silenced
 * alike (STMT_SILENCED_HISTORY). Its content is the state's, of the same
 * day (sqlite_state_seen). */
static int record_silenced(sqlite_store *s, const alert_report *seen, const alert_record *a)
{
    sqlite3_stmt *q = s->stmt[STMT_SILENCED_HISTORY];
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, a->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, a->alertname, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, a->instance, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, a->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, alert_status_name(a->status), -1, SQLITE_STATIC);
    sqlite3_bind_double(q, 6, a->starts_at);
    bind_ends_at(q, 7, a->ends_at);
    sqlite3_bind_int64(q, 8, a->content_id);
    sqlite3_bind_int64(q, 9, seen->seen_ms);
    sqlite3_bind_text(q, 10, a->silenced_by, -1, SQLITE_STATIC);
    return sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
}

/* Row i of the report's alerts: its silenced history row and its
 * content go first, so the history row is decided by the state before
 * this post. */
static int bind_seen(sqlite_store *s, sqlite3_stmt *q, int at, size_t i, const void *ctx)
{
    const alert_report *seen = ctx;
    const alert_record *a = &seen->alerts[i];
    if ((a->silenced_by && record_silenced(s, seen, a)) ||
        sqlite_insert_content(s, seen->seen_ms, a))
        return -1;
    sqlite3_bind_text(q, at + 1, a->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, at + 2, a->alertname, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, at + 3, a->content_id);
    sqlite3_bind_text(q, at + 4, alert_status_name(a->status), -1, SQLITE_STATIC);
    sqlite3_bind_double(q, at + 5, a->starts_at);
    bind_ends_at(q, at + 6, a->ends_at);
    sqlite3_bind_text(q, at + 7, seen->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, at + 8, seen->seen_ms);
    sqlite3_bind_int64(q, at + 9, s->settings.resolved_retention_ms);
    sqlite3_bind_text(q, at + 10, a->silenced_by, -1, SQLITE_STATIC); /* NULL: not silenced */
    return 0;
}

/* How many of alerts[first..len) go in one statement: at most
 * ROWS_PER_STATEMENT, and none from the first fingerprint seen again,
 * whose silenced history row must see the state its earlier post left. */
static size_t distinct_run(const alert_record *alerts, size_t first, size_t len)
{
    size_t end = first + 1;
    for (; end < len && end - first < ROWS_PER_STATEMENT; end++)
        for (size_t i = first; i < end; i++)
            if (strcmp(alerts[i].fingerprint, alerts[end].fingerprint) == 0)
                return end - first;
    return end - first;
}

int sqlite_state_seen(sqlite_store *s, const alert_report *seen)
{
    size_t len = seen ? seen->len : 0;
    for (size_t first = 0; first < len;) {
        size_t run = distinct_run(seen->alerts, first, len);
        alert_report part = *seen;
        part.alerts += first;
        part.len = run;
        if (sqlite_write_rows(s, &s->state_seen, STATE_COLUMNS, run, bind_seen, &part))
            return -1;
        first += run;
    }
    return 0;
}

/* What n's receiver was last told of a (store/repeat.h). */
static int last_told(void *ctx, const notification *n, const alert_record *a, told_alert *out)
{
    sqlite_store *s = ctx;
    sqlite3_stmt *q = s->stmt[STMT_LAST_NOTIFIED];
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, a->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, n->receiver, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *status = sqlite3_column_text(q, 0);
        snprintf(s->told_status, sizeof s->told_status, "%s", status ? (const char *)status : "");
        *out = (told_alert){1, s->told_status, sqlite3_column_double(q, 1),
                            sqlite3_column_type(q, 2) != SQLITE_NULL,
                            sqlite3_column_double(q, 2), sqlite3_column_int64(q, 3),
                            sqlite3_column_int(q, 4)};
    }
    /* Left on its row, the query would keep this connection reading its
     * snapshot past COMMIT (see write.c). */
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int sqlite_state_is_repeat(sqlite_store *s, const notification *n, int *repeat)
{
    return store_is_repeat(n, last_told, s, repeat);
}

static int bind_notified(sqlite_store *s, sqlite3_stmt *q, int at, size_t i, const void *ctx)
{
    (void)s;
    const notification *n = ctx;
    const alert_record *a = &n->alerts[i];
    sqlite3_bind_text(q, at + 1, a->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, at + 2, n->receiver, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, at + 3, alert_status_name(a->status), -1, SQLITE_STATIC);
    sqlite3_bind_double(q, at + 4, a->starts_at);
    sqlite3_bind_int64(q, at + 5, n->created_ms);
    return 0;
}

int sqlite_state_notified(sqlite_store *s, const notification *n)
{
    return sqlite_write_rows(s, &s->notified, NOTIFIED_COLUMNS, n->alerts_len, bind_notified, n);
}

void sqlite_state_sweep(sqlite_store *s)
{
    char why[256], sql[640];
    long long now = (long long)wall_ms();
    long long stale = s->settings.retention_ms > 0 ? now - s->settings.retention_ms : 0;
    /* A firing alert nobody has sent for the history's retention was lost
     * by its sender (an Alertmanager that never said it resolved). */
    snprintf(sql, sizeof sql,
             "BEGIN IMMEDIATE;"
             "DELETE FROM alert_notified WHERE fingerprint IN (SELECT fingerprint FROM alert_state"
             "  WHERE expires_ms < %lld OR last_seen_ms < %lld);"
             "DELETE FROM alert_state WHERE expires_ms < %lld OR last_seen_ms < %lld;"
             "DELETE FROM escalations WHERE state != 'waiting'"
             "  AND fingerprint NOT IN (SELECT fingerprint FROM alert_state);"
             "COMMIT;",
             now, stale, now, stale);
    if (sqlite_exec(s->db, sql, why, sizeof why)) {
        char ignored[64];
        sqlite_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        log_warn("store", "alert state sweep failed: %s", why);
    }
}
