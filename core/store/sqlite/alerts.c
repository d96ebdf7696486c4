#include "store/sqlite/private.h"

#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

static const char *const state_columns =
    "fingerprint, alertname, labels, annotations, status, starts_at, ends_at, source,"
    " first_seen_ms, last_seen_ms, resolved_ms, silenced_by, ack_by, ack_ms, ack_comment";

static void read_state(sqlite3_stmt *q, alert_state_row *a)
{
    a->fingerprint = sqlite_column_text(q, 0);
    a->alertname = sqlite_column_text(q, 1);
    a->labels_json = sqlite_column_text(q, 2);
    a->annotations_json = sqlite_column_text(q, 3);
    a->status = sqlite_column_text(q, 4);
    a->starts_at = sqlite3_column_double(q, 5);
    a->ends_at = sqlite3_column_double(q, 6); /* NULL reads as 0 */
    a->source = sqlite_column_text(q, 7);
    a->first_seen_ms = sqlite3_column_int64(q, 8);
    a->last_seen_ms = sqlite3_column_int64(q, 9);
    a->resolved_ms = sqlite3_column_int64(q, 10);
    a->silenced_by = sqlite_column_text_or_null(q, 11);
    a->acknowledged_by = sqlite_column_text_or_null(q, 12);
    a->acknowledged_ms = sqlite3_column_int64(q, 13);
    a->ack_comment = sqlite_column_text_or_null(q, 14);
}

static int read_receivers(sqlite3_stmt *q, alert_state_row *a)
{
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, a->fingerprint, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        a->receivers = add_row(a->receivers, &a->receivers_len, sizeof *a->receivers);
        alert_notice *n = &a->receivers[a->receivers_len - 1];
        n->receiver = sqlite_column_text(q, 0);
        n->status = sqlite_column_text(q, 1);
        n->notified_ms = sqlite3_column_int64(q, 2);
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The rows `sql` selects (state_columns first), each with its receivers
 * and kept when it satisfies the matchers, at most limit. */
static int read_alerts(sqlite_reader *r, sqlite3_stmt *q, const matcher_set *matchers, int limit,
                       alert_state_rows *rows, char *err, size_t err_cap)
{
    sqlite3_stmt *told = NULL;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT receiver, status, notified_ms FROM alert_notified"
                           " WHERE fingerprint = ?1 ORDER BY receiver",
                           -1, &told, NULL) != SQLITE_OK) {
        sqlite3_finalize(q);
        return read_failed(r, told, err, err_cap);
    }
    int rc;
    while ((int)rows->len < limit && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const unsigned char *labels = sqlite3_column_text(q, 2);
        if (!matchers_match_json(matchers, labels ? (const char *)labels : "{}"))
            continue;
        rows->items = add_row(rows->items, &rows->len, sizeof *rows->items);
        alert_state_row *a = &rows->items[rows->len - 1];
        read_state(q, a);
        if (read_receivers(told, a) || sqlite_alert_escalated(r->db, a)) {
            rc = SQLITE_ERROR;
            break;
        }
    }
    if ((int)rows->len >= limit)
        rc = SQLITE_DONE;
    sqlite3_finalize(told);
    if (rc != SQLITE_DONE) {
        alert_state_rows_free(rows);
        return read_failed(r, q, err, err_cap);
    }
    sqlite3_finalize(q);
    return 0;
}

int sqlite_alerts(store_reader *base, const alert_filter *f, int64_t now_ms,
                  alert_state_rows *rows, char *err, size_t err_cap)
{
    sqlite_reader *r = (sqlite_reader *)base;
    *rows = (alert_state_rows){0};
    strbuf sql = STRBUF_INIT;
    sb_printf(&sql,
              "SELECT %s FROM alert_state_labelled s WHERE (expires_ms IS NULL OR expires_ms > ?1)",
              state_columns);
    if (f->status)
        sb_puts(&sql, " AND status = ?2");
    if (f->receiver)
        sb_puts(&sql, " AND EXISTS (SELECT 1 FROM alert_notified n"
                      " WHERE n.fingerprint = s.fingerprint AND n.receiver = ?3)");
    sb_puts(&sql, " ORDER BY starts_at, fingerprint");
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(r->db, sb_str(&sql), -1, &q, NULL);
    sb_free(&sql);
    if (rc != SQLITE_OK)
        return read_failed(r, q, err, err_cap);
    sqlite3_bind_int64(q, 1, now_ms);
    if (f->status)
        sqlite3_bind_text(q, 2, f->status, -1, SQLITE_STATIC);
    if (f->receiver)
        sqlite3_bind_text(q, 3, f->receiver, -1, SQLITE_STATIC);
    return read_alerts(r, q, &f->matchers, f->limit, rows, err, err_cap);
}

int sqlite_expired_alerts(store_reader *base, int64_t now_ms, int limit, alert_state_rows *rows,
                          char *err, size_t err_cap)
{
    sqlite_reader *r = (sqlite_reader *)base;
    *rows = (alert_state_rows){0};
    /* An alert posted without endsAt ends resolve_timeout after it was
     * last seen, as Alertmanager has it. One that also came through
     * Alertmanager while it fires is Alertmanager's to resolve. */
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(
            r->db,
            "SELECT fingerprint, alertname, labels, annotations, status, starts_at, ends,"
            " source, first_seen_ms, last_seen_ms, resolved_ms, silenced_by, ack_by, ack_ms,"
            " ack_comment FROM"
            " (SELECT *, coalesce(ends_at, (last_seen_ms + ?2) / 1000.0) AS ends"
            "  FROM alert_state_labelled WHERE status = 'firing' AND source = 'alerts'"
            "  AND (webhook_seen_ms IS NULL OR webhook_seen_ms < starts_at * 1000))"
            " WHERE ends * 1000 <= ?1 ORDER BY ends",
            -1, &q, NULL) != SQLITE_OK)
        return read_failed(r, q, err, err_cap);
    sqlite3_bind_int64(q, 1, now_ms);
    sqlite3_bind_int64(q, 2, RESOLVE_TIMEOUT_MS);
    return read_alerts(r, q, NULL, limit, rows, err, err_cap);
}
