/* The alert state as readers see it. */
#include "store/postgresql/private.h"

#include <stdlib.h>
#include <string.h>

#define STATE_COLUMNS                                                                            \
    "fingerprint, alertname, labels, annotations, status, starts_at, ends_at, source,"          \
    " first_seen_ms, last_seen_ms, resolved_ms, silenced_by, ack_by, ack_ms, ack_comment"

static void read_state(const PGresult *r, int row, alert_state_row *a)
{
    a->fingerprint = pg_text(r, row, 0);
    a->alertname = pg_text(r, row, 1);
    a->labels_json = pg_text(r, row, 2);
    a->annotations_json = pg_text(r, row, 3);
    a->status = pg_text(r, row, 4);
    a->starts_at = pg_double(r, row, 5);
    a->ends_at = pg_double(r, row, 6); /* NULL reads as 0 */
    a->source = pg_text(r, row, 7);
    a->first_seen_ms = pg_int(r, row, 8);
    a->last_seen_ms = pg_int(r, row, 9);
    a->resolved_ms = pg_int(r, row, 10);
    a->silenced_by = pg_text_or_null(r, row, 11);
    a->acknowledged_by = pg_text_or_null(r, row, 12);
    a->acknowledged_ms = pg_int(r, row, 13);
    a->ack_comment = pg_text_or_null(r, row, 14);
}

static int read_receivers(pg_reader *r, alert_state_row *a, char *err, size_t err_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, a->fingerprint);
    PGresult *res = pg_run(r->db,
                           "SELECT receiver, status, notified_ms FROM alert_notified"
                           " WHERE fingerprint = $1 ORDER BY receiver",
                           &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    for (int i = 0; i < PQntuples(res); i++) {
        a->receivers = pg_add_row(a->receivers, &a->receivers_len, sizeof *a->receivers);
        alert_notice *n = &a->receivers[a->receivers_len - 1];
        n->receiver = pg_text(res, i, 0);
        n->status = pg_text(res, i, 1);
        n->notified_ms = pg_int(res, i, 2);
    }
    PQclear(res);
    return 0;
}

/* The rows of res (STATE_COLUMNS first), each with its receivers and
 * kept when it satisfies the matchers, at most limit. Clears res. */
static int read_alerts(pg_reader *r, PGresult *res, const matcher_set *matchers, int limit,
                       alert_state_rows *rows, char *err, size_t err_cap)
{
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    for (int i = 0; i < PQntuples(res) && (int)rows->len < limit; i++) {
        const char *labels = PQgetisnull(res, i, 2) ? "{}" : PQgetvalue(res, i, 2);
        if (!matchers_match_json(matchers, labels))
            continue;
        rows->items = pg_add_row(rows->items, &rows->len, sizeof *rows->items);
        alert_state_row *a = &rows->items[rows->len - 1];
        read_state(res, i, a);
        if (read_receivers(r, a, err, err_cap)) {
            PQclear(res);
            alert_state_rows_free(rows);
            return -1;
        }
    }
    PQclear(res);
    return 0;
}

int pg_alerts(store_reader *base, const alert_filter *f, int64_t now_ms, alert_state_rows *rows,
              char *err, size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    *rows = (alert_state_rows){0};
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, now_ms);
    pp_text(&p, f->status);
    pp_text(&p, f->receiver);
    PGresult *res = pg_run(r->db,
                           "SELECT " STATE_COLUMNS " FROM alert_state s"
                           " WHERE (expires_ms IS NULL OR expires_ms > $1::bigint)"
                           " AND ($2::text IS NULL OR status = $2)"
                           " AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM alert_notified n"
                           "  WHERE n.fingerprint = s.fingerprint AND n.receiver = $3))"
                           " ORDER BY starts_at, fingerprint",
                           &p);
    return read_alerts(r, res, &f->matchers, f->limit, rows, err, err_cap);
}

int pg_expired_alerts(store_reader *base, int64_t now_ms, int limit, alert_state_rows *rows,
                      char *err, size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    *rows = (alert_state_rows){0};
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, now_ms);
    pp_int(&p, RESOLVE_TIMEOUT_MS);
    pp_int(&p, limit);
    /* An alert posted without endsAt ends resolve_timeout after it was
     * last seen, as Alertmanager has it. One that also came through
     * Alertmanager while it fires is Alertmanager's to resolve. */
    PGresult *res = pg_run(
        r->db,
        "SELECT fingerprint, alertname, labels, annotations, status, starts_at, ends, source,"
        " first_seen_ms, last_seen_ms, resolved_ms, silenced_by, ack_by, ack_ms, ack_comment"
        " FROM"
        " (SELECT *, coalesce(ends_at, (last_seen_ms + $2::bigint) / 1000.0::double precision)"
        "  AS ends FROM alert_state WHERE status = 'firing' AND source = 'alerts'"
        "  AND (webhook_seen_ms IS NULL OR webhook_seen_ms < starts_at * 1000)) s"
        " WHERE ends * 1000 <= $1::bigint ORDER BY ends LIMIT $3::bigint",
        &p);
    return read_alerts(r, res, NULL, limit, rows, err, err_cap);
}
