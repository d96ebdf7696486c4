/* The alert state, in the writer's transaction: what was seen, and what
 * each receiver was told (the repeat interval counts from there). */
#include "store/postgresql/private.h"

#include "store/content.h"
#include "store/repeat.h"

#include <stdio.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"

/* As SQLite's STMT_STATE_SEEN (see its comment): every SET reads the row
 * as it was; the earliest start stays while it fires; webhook_seen_ms is
 * the last time Alertmanager (or Grafana) sent it. SQLite's CAST to an
 * integer truncates; trunc() does here. */
static const char state_seen_sql[] =
    "INSERT INTO alert_state(fingerprint, alertname, labels, annotations, status, starts_at,"
    " ends_at, source, first_seen_ms, last_seen_ms, resolved_ms, expires_ms, webhook_seen_ms,"
    " silenced_by)"
    " VALUES($1, $2, $3, $4, $5::text, $6, $7::double precision, $8::text, $9::bigint,"
    "  $9::bigint,"
    "  CASE WHEN $5::text = 'resolved'"
    "   THEN coalesce(trunc($7::double precision * 1000)::bigint, $9::bigint) END,"
    "  CASE WHEN $5::text = 'resolved' THEN $9::bigint + $10::bigint END,"
    "  CASE WHEN $8::text != 'alerts' THEN $9::bigint END, $11::text)"
    " ON CONFLICT(fingerprint) DO UPDATE SET alertname = excluded.alertname,"
    "  labels = excluded.labels, annotations = excluded.annotations,"
    "  starts_at = CASE WHEN alert_state.status = 'firing'"
    "    THEN least(alert_state.starts_at, excluded.starts_at) ELSE excluded.starts_at END,"
    "  ends_at = excluded.ends_at, source = excluded.source,"
    "  webhook_seen_ms = coalesce(excluded.webhook_seen_ms, alert_state.webhook_seen_ms),"
    "  last_seen_ms = excluded.last_seen_ms, silenced_by = excluded.silenced_by,"
    "  resolved_ms = CASE WHEN excluded.status = 'firing' THEN NULL"
    "    WHEN alert_state.status = 'resolved' THEN alert_state.resolved_ms"
    "    ELSE excluded.resolved_ms END,"
    "  expires_ms = CASE WHEN excluded.status = 'firing' THEN NULL"
    "    WHEN alert_state.status = 'resolved' THEN alert_state.expires_ms"
    "    ELSE excluded.expires_ms END,"
    "  ack_by = CASE WHEN excluded.status = 'firing' AND alert_state.status = 'firing'"
    "    THEN alert_state.ack_by END,"
    "  ack_ms = CASE WHEN excluded.status = 'firing' AND alert_state.status = 'firing'"
    "    THEN alert_state.ack_ms END,"
    "  ack_comment = CASE WHEN excluded.status = 'firing' AND alert_state.status = 'firing'"
    "    THEN alert_state.ack_comment END,"
    "  status = excluded.status";

/* As SQLite's STMT_SILENCED_HISTORY: a silenced alert's history row once
 * per state it is held back in, before the state takes it; its content
 * if the row was made. */
static const char silenced_history_sql[] =
    "WITH recorded AS (INSERT INTO history(notification_id, fingerprint, alertname, instance,"
    "  severity, status, starts_at, ends_at, receiver, content_id, created_ms, silenced_by)"
    " SELECT 0, $1, $2, $3, $4, $5::text, $6::double precision, $7::double precision, '',"
    "  $8::bigint, $9::bigint, $10::text"
    " WHERE NOT EXISTS (SELECT 1 FROM alert_state WHERE fingerprint = $1 AND status = $5::text"
    "  AND silenced_by = $10::text"
    "  AND ($5::text = 'resolved' OR starts_at <= $6::double precision))"
    " RETURNING content_id, created_ms)"
    " INSERT INTO alert_content(day, id, labels, annotations)"
    " SELECT " STORE_CONTENT_DAY_SQL("created_ms") ", content_id, $11::json, $12::json"
    " FROM recorded ON CONFLICT (day, id) DO NOTHING";

static int record_silenced(pg_store *s, const alert_report *seen, const alert_record *a,
                           char *why, size_t why_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, a->fingerprint);
    pp_text(&p, a->alertname);
    pp_text(&p, a->instance);
    pp_text(&p, a->severity);
    pp_text(&p, alert_status_name(a->status));
    pp_double(&p, a->starts_at);
    pp_double_or_null(&p, a->ends_at);
    pp_int(&p, a->content_id);
    pp_int(&p, seen->seen_ms);
    pp_text(&p, a->silenced_by);
    pp_text(&p, a->labels_json);
    pp_text(&p, a->annotations_json);
    return pg_command(s->db, silenced_history_sql, &p, why, why_cap);
}

int pg_state_seen(pg_store *s, const alert_report *seen, char *why, size_t why_cap)
{
    for (size_t i = 0; seen && i < seen->len; i++) {
        const alert_record *a = &seen->alerts[i];
        if (a->silenced_by && record_silenced(s, seen, a, why, why_cap))
            return -1;
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
        pp_text(&p, a->silenced_by); /* NULL: not silenced */
        if (pg_command(s->db, state_seen_sql, &p, why, why_cap))
            return -1;
    }
    return 0;
}

/* What n's receiver was last told of a (store/repeat.h). */
typedef struct told_lookup {
    pg_store *s;
    char *why;
    size_t why_cap;
    char status[16];
} told_lookup;

static int last_told(void *ctx, const notification *n, const alert_record *a, told_alert *out)
{
    told_lookup *l = ctx;
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, a->fingerprint);
    pp_text(&p, n->receiver);
    PGresult *r = pg_run(l->s->db,
                         "SELECT n.status, n.starts_at, s.starts_at, n.notified_ms,"
                         " (s.ack_by IS NOT NULL)::int"
                         " FROM alert_notified n LEFT JOIN alert_state s"
                         " ON s.fingerprint = n.fingerprint"
                         " WHERE n.fingerprint = $1 AND n.receiver = $2",
                         &p);
    if (!pg_ok(r))
        return pg_failed(l->s->db, r, l->why, l->why_cap);
    if (PQntuples(r) == 1) {
        snprintf(l->status, sizeof l->status, "%s", PQgetvalue(r, 0, 0));
        *out = (told_alert){1, l->status, pg_double(r, 0, 1), !PQgetisnull(r, 0, 2),
                            pg_double(r, 0, 2), pg_int(r, 0, 3), (int)pg_int(r, 0, 4)};
    }
    PQclear(r);
    return 0;
}

int pg_state_is_repeat(pg_store *s, const notification *n, int *repeat, char *why,
                       size_t why_cap)
{
    told_lookup l = {s, why, why_cap, ""};
    return store_is_repeat(n, last_told, &l, repeat);
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
                       " notified_ms) VALUES($1, $2, $3,"
                       "  coalesce((SELECT starts_at FROM alert_state WHERE fingerprint = $1),"
                       "   $4::double precision), $5)"
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
             pg_exec(s->db,
                     "DELETE FROM escalations WHERE state != 'waiting'"
                     " AND fingerprint NOT IN (SELECT fingerprint FROM alert_state)",
                     why, sizeof why) ||
             pg_exec(s->db, "COMMIT", why, sizeof why);
    if (rc) {
        char ignored[64];
        pg_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        log_warn("store", "alert state sweep failed: %s", why);
    }
}
