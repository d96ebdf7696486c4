/* The alert state, in the writer's transaction: what was seen, and what
 * each receiver was told (the repeat interval counts from there). */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"

/* Every SET reads the row as it was: a resolution keeps the time it was
 * first seen resolved, and firing again clears both times. SQLite's CAST
 * to an integer truncates; trunc() does here. */
static const char state_seen_sql[] =
    "INSERT INTO alert_state(fingerprint, alertname, labels, annotations, status, starts_at,"
    " ends_at, source, first_seen_ms, last_seen_ms, resolved_ms, expires_ms)"
    " VALUES($1, $2, $3, $4, $5::text, $6, $7::double precision, $8, $9::bigint, $9::bigint,"
    "  CASE WHEN $5::text = 'resolved'"
    "   THEN coalesce(trunc($7::double precision * 1000)::bigint, $9::bigint) END,"
    "  CASE WHEN $5::text = 'resolved' THEN $9::bigint + $10::bigint END)"
    " ON CONFLICT(fingerprint) DO UPDATE SET alertname = excluded.alertname,"
    "  labels = excluded.labels, annotations = excluded.annotations,"
    "  starts_at = excluded.starts_at, ends_at = excluded.ends_at, source = excluded.source,"
    "  last_seen_ms = excluded.last_seen_ms,"
    "  resolved_ms = CASE WHEN excluded.status = 'firing' THEN NULL"
    "    WHEN alert_state.status = 'resolved' THEN alert_state.resolved_ms"
    "    ELSE excluded.resolved_ms END,"
    "  expires_ms = CASE WHEN excluded.status = 'firing' THEN NULL"
    "    WHEN alert_state.status = 'resolved' THEN alert_state.expires_ms"
    "    ELSE excluded.expires_ms END,"
    "  status = excluded.status";

int pg_state_seen(pg_store *s, const alert_report *seen, char *why, size_t why_cap)
{
    for (size_t i = 0; seen && i < seen->len; i++) {
        const alert_record *a = &seen->alerts[i];
        pg_params p = PG_PARAMS_INIT;
        pp_text(&p, a->fingerprint);
        pp_text(&p, a->alertname);
        pp_text(&p, a->labels_json);
        pp_text(&p, a->annotations_json);
        pp_text(&p, alert_status_name(a->status));
        pp_double(&p, a->starts_at);
        pp_double_or_null(&p, a->ends_at);
        pp_text(&p, seen->source);
        pp_int(&p, seen->seen_ms);
        pp_int(&p, s->settings.resolved_retention_ms);
        if (pg_command(s->db, state_seen_sql, &p, why, why_cap))
            return -1;
    }
    return 0;
}

/* One alert: told to the receiver in this state (status and start)
 * since `since_ms`. */
static int told_since(pg_store *s, const char *receiver, const alert_record *a,
                      int64_t since_ms, int *told, char *why, size_t why_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, a->fingerprint);
    pp_text(&p, receiver);
    PGresult *r = pg_run(s->db,
                         "SELECT status, starts_at, notified_ms FROM alert_notified"
                         " WHERE fingerprint = $1 AND receiver = $2",
                         &p);
    *told = 0;
    if (!pg_ok(r))
        return pg_failed(s->db, r, why, why_cap);
    if (PQntuples(r) == 1)
        *told = strcmp(PQgetvalue(r, 0, 0), alert_status_name(a->status)) == 0 &&
                pg_double(r, 0, 1) == a->starts_at && pg_int(r, 0, 2) > since_ms;
    PQclear(r);
    return 0;
}

int pg_state_is_repeat(pg_store *s, const notification *n, int *repeat, char *why,
                       size_t why_cap)
{
    *repeat = n->repeat_interval_ms > 0 && n->alerts_len > 0;
    for (size_t i = 0; i < n->alerts_len && *repeat; i++)
        if (told_since(s, n->receiver, &n->alerts[i], n->created_ms - n->repeat_interval_ms,
                       repeat, why, why_cap))
            return -1;
    return 0;
}

int pg_state_notified(pg_store *s, const notification *n, char *why, size_t why_cap)
{
    for (size_t i = 0; i < n->alerts_len; i++) {
        const alert_record *a = &n->alerts[i];
        pg_params p = PG_PARAMS_INIT;
        pp_text(&p, a->fingerprint);
        pp_text(&p, n->receiver);
        pp_text(&p, alert_status_name(a->status));
        pp_double(&p, a->starts_at);
        pp_int(&p, n->created_ms);
        if (pg_command(s->db,
                       "INSERT INTO alert_notified(fingerprint, receiver, status, starts_at,"
                       " notified_ms) VALUES($1, $2, $3, $4, $5)"
                       " ON CONFLICT(fingerprint, receiver) DO UPDATE SET"
                       " status = excluded.status, starts_at = excluded.starts_at,"
                       " notified_ms = excluded.notified_ms",
                       &p, why, why_cap))
            return -1;
    }
    return 0;
}

/* A firing alert nobody has sent for the history's retention was lost by
 * its sender (an Alertmanager that never said it resolved). */
void pg_state_sweep(pg_store *s)
{
    char why[256];
    int64_t now = wall_ms();
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, now);
    pp_int(&p, s->settings.retention_ms > 0 ? now - s->settings.retention_ms : 0);
    int rc = pg_exec(s->db, "BEGIN", why, sizeof why) ||
             pg_command(s->db,
                        "DELETE FROM alert_notified WHERE fingerprint IN (SELECT fingerprint"
                        " FROM alert_state WHERE expires_ms < $1::bigint"
                        " OR last_seen_ms < $2::bigint)",
                        &p, why, sizeof why) ||
             pg_command(s->db,
                        "DELETE FROM alert_state WHERE expires_ms < $1::bigint"
                        " OR last_seen_ms < $2::bigint",
                        &p, why, sizeof why) ||
             pg_exec(s->db, "COMMIT", why, sizeof why);
    if (rc) {
        char ignored[64];
        pg_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        log_warn("store", "alert state sweep failed: %s", why);
    }
}
