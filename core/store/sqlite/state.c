#include "store/sqlite/private.h"

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

int sqlite_state_seen(sqlite_store *s, const alert_report *seen)
{
    sqlite3_stmt *q = s->stmt[STMT_STATE_SEEN];
    for (size_t i = 0; seen && i < seen->len; i++) {
        const alert_record *a = &seen->alerts[i];
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, a->fingerprint, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, a->alertname, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, a->labels_json, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, a->annotations_json, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, alert_status_name(a->status), -1, SQLITE_STATIC);
        sqlite3_bind_double(q, 6, a->starts_at);
        bind_ends_at(q, 7, a->ends_at);
        sqlite3_bind_text(q, 8, seen->source, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 9, seen->seen_ms);
        sqlite3_bind_int64(q, 10, s->settings.resolved_retention_ms);
        if (sqlite3_step(q) != SQLITE_DONE)
            return -1;
    }
    return 0;
}

/* One alert of n: no news to its receiver, since it was told of it in
 * this state (status, and the same firing) since `since_ms`. A resolution it was
 * never told of firing is no news either when Prometheus posted it
 * directly: Prometheus goes on sending resolved alerts for 15 minutes,
 * told or not, where Alertmanager only resolves what it notified. */
static int no_news(sqlite_store *s, const notification *n, const alert_record *a,
                   int64_t since_ms, int *told)
{
    sqlite3_stmt *q = s->stmt[STMT_LAST_NOTIFIED];
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, a->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, n->receiver, -1, SQLITE_STATIC);
    sqlite3_bind_double(q, 3, a->starts_at);
    int rc = sqlite3_step(q);
    *told = rc == SQLITE_DONE && a->status == ALERT_RESOLVED && n->source &&
            strcmp(n->source, "alerts") == 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *status = sqlite3_column_text(q, 0);
        *told = status && strcmp((const char *)status, alert_status_name(a->status)) == 0 &&
                sqlite3_column_int(q, 1) && sqlite3_column_int64(q, 2) > since_ms;
    }
    sqlite3_reset(q); /* no snapshot held past the commit (see write.c) */
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int sqlite_state_is_repeat(sqlite_store *s, const notification *n, int *repeat)
{
    *repeat = n->repeat_interval_ms > 0 && n->alerts_len > 0;
    for (size_t i = 0; i < n->alerts_len && *repeat; i++)
        if (no_news(s, n, &n->alerts[i], n->created_ms - n->repeat_interval_ms, repeat))
            return -1;
    return 0;
}

int sqlite_state_notified(sqlite_store *s, const notification *n)
{
    sqlite3_stmt *q = s->stmt[STMT_NOTIFIED];
    for (size_t i = 0; i < n->alerts_len; i++) {
        const alert_record *a = &n->alerts[i];
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, a->fingerprint, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, n->receiver, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, alert_status_name(a->status), -1, SQLITE_STATIC);
        sqlite3_bind_double(q, 4, a->starts_at);
        sqlite3_bind_int64(q, 5, n->created_ms);
        if (sqlite3_step(q) != SQLITE_DONE)
            return -1;
    }
    return 0;
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
             "COMMIT;",
             now, stale, now, stale);
    if (sqlite_exec(s->db, sql, why, sizeof why)) {
        char ignored[64];
        sqlite_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        log_warn("store", "alert state sweep failed: %s", why);
    }
}
