/* Escalations (pipeline/escalate.h), shared by every replica: stored
 * waiting with their message in the writer's transaction; once due, the
 * writer that locks one first (FOR UPDATE SKIP LOCKED: never two) sends
 * it (requeued, which one replica then claims) or cancels it. */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <stdlib.h>

#include "store/content.h"
#include "store/escalation_sql.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"

int pg_escalation_insert(pg_store *s, notification *n, char *why, size_t why_cap)
{
    const alert_record *a = &n->alerts[0];
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, a->fingerprint);
    pp_text(&p, n->receiver);
    pp_double(&p, a->starts_at);
    /* As SQLite's STMT_ESCALATION_KNOWN: one per receiver per firing. The
     * commit's lock on (receiver, alert) (claims.c) keeps two replicas
     * from both finding none. */
    PGresult *r = pg_run(s->db,
                         "SELECT 1 FROM escalations WHERE fingerprint = $1 AND receiver = $2"
                         " AND starts_at >= coalesce((SELECT starts_at FROM alert_state"
                         "  WHERE fingerprint = $1), $3::double precision) LIMIT 1",
                         &p);
    if (!pg_ok(r))
        return pg_failed(s->db, r, why, why_cap);
    int known = PQntuples(r) > 0;
    PQclear(r);
    if (!known) {
        int64_t next_attempt = n->next_attempt_ms;
        n->next_attempt_ms = n->escalate_at_ms;
        int rc = pg_insert_message(s, n, 0, why, why_cap);
        n->next_attempt_ms = next_attempt;
        if (rc)
            return -1;
        pg_params e = PG_PARAMS_INIT;
        pp_int(&e, (int64_t)n->id);
        pp_text(&e, a->fingerprint);
        pp_double(&e, a->starts_at);
        pp_text(&e, n->receiver);
        pp_text(&e, n->escalated_from);
        pp_int(&e, n->escalate_at_ms);
        if (pg_command(s->db,
                       "INSERT INTO escalations(notification_id, fingerprint, starts_at, receiver,"
                       " from_receiver, due_ms, state) VALUES($1, $2,"
                       " coalesce((SELECT starts_at FROM alert_state WHERE fingerprint = $2),"
                       "  $3::double precision), $4, $5, $6, 'waiting')",
                       &e, why, why_cap))
            return -1;
    }
    n->id = 0; /* not for the dispatcher now: the store hands it over when due */
    n->held = HELD_ESCALATION;
    return 0;
}

/* Runs `sql` with $1 the escalation's notification id, $2 now and $3
 * `text` (NULL: no $3). */
static int run(pg_store *s, const char *sql, int64_t id, int64_t now, const char *text,
               char *why, size_t why_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, id);
    pp_int(&p, now);
    if (text)
        pp_text(&p, text);
    return pg_command(s->db, sql, &p, why, why_cap);
}

static int cancel(pg_store *s, int64_t id, int64_t now, const char *reason, char *why,
                  size_t why_cap)
{
    char error[300];
    snprintf(error, sizeof error, "escalation cancelled: %s", reason);
    return run(s,
               "UPDATE escalations SET state = 'cancelled', done_ms = $2::bigint, reason = $3"
               " WHERE notification_id = $1",
               id, now, reason, why, why_cap) ||
           run(s,
               "UPDATE deliveries SET state = 'dropped', finished_ms = $2::bigint,"
               " last_error = $3 WHERE id = $1 AND state = 'escalation'",
               id, now, error, why, why_cap);
}

/* As SQLite's: its history row and its receiver told, then requeued. */
static int send(pg_store *s, int64_t id, int64_t now, char *why, size_t why_cap)
{
    return run(s,
               "WITH recorded AS (INSERT INTO history(notification_id, fingerprint, alertname,"
               "  instance, severity, status, starts_at, ends_at, receiver, content_id,"
               "  created_ms)"
               " SELECT e.notification_id, s.fingerprint, s.alertname,"
               "  coalesce(s.labels->>'instance', ''), coalesce(s.labels->>'severity', ''),"
               "  'firing', s.starts_at, s.ends_at, e.receiver,"
               "  " PG_CONTENT_ID("s.labels", "s.annotations") ","
               "  $2::bigint FROM escalations e JOIN alert_state s"
               "  ON s.fingerprint = e.fingerprint WHERE e.notification_id = $1"
               "  RETURNING content_id, fingerprint, created_ms)"
               " INSERT INTO alert_content(day, id, labels, annotations)"
               " SELECT " STORE_CONTENT_DAY_SQL("r.created_ms") ", r.content_id, s.labels,"
               "  s.annotations FROM recorded r JOIN alert_state s"
               "  ON s.fingerprint = r.fingerprint ON CONFLICT (day, id) DO NOTHING",
               id, now, NULL, why, why_cap) ||
           run(s,
               "INSERT INTO alert_notified(fingerprint, receiver, status, starts_at, notified_ms)"
               " SELECT s.fingerprint, e.receiver, 'firing', s.starts_at, $2::bigint"
               " FROM escalations e JOIN alert_state s ON s.fingerprint = e.fingerprint"
               " WHERE e.notification_id = $1"
               " ON CONFLICT(fingerprint, receiver) DO UPDATE SET status = excluded.status,"
               " starts_at = excluded.starts_at, notified_ms = excluded.notified_ms",
               id, now, NULL, why, why_cap) ||
           run(s,
               "UPDATE deliveries SET state = 'requeued', next_attempt_ms = $2::bigint"
               " WHERE id = $1 AND state = 'escalation'",
               id, now, NULL, why, why_cap) ||
           run(s,
               "UPDATE escalations SET state = 'sent', done_ms = $2::bigint"
               " WHERE notification_id = $1",
               id, now, NULL, why, why_cap);
}

/* In the transaction: the due ones this replica could lock, judged and
 * sent or cancelled. Returns how many were sent, or -1. */
static int release_locked(pg_store *s, int64_t now, int *cancelled, char *why, size_t why_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, now);
    pp_int(&p, ESCALATIONS_PER_LOOK);
    PGresult *r = pg_run(s->db,
                         "SELECT e.notification_id, " ESCALATION_CANCEL_REASON
                         " FROM escalations e LEFT JOIN alert_state s"
                         " ON s.fingerprint = e.fingerprint"
                         " WHERE e.state = 'waiting' AND e.due_ms <= $1::bigint"
                         " ORDER BY e.due_ms LIMIT $2::bigint FOR UPDATE OF e SKIP LOCKED",
                         &p);
    if (!pg_ok(r))
        return pg_failed(s->db, r, why, why_cap);
    int sent = 0, rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        int64_t id = pg_int(r, i, 0);
        if (PQgetisnull(r, i, 1)) {
            rc = send(s, id, now, why, why_cap);
            sent++;
            log_info("store", "escalation %lld is due: sending it", (long long)id);
        } else {
            rc = cancel(s, id, now, PQgetvalue(r, i, 1), why, why_cap);
            ++*cancelled;
            log_info("store", "escalation %lld cancelled: %s", (long long)id,
                     PQgetvalue(r, i, 1));
        }
    }
    PQclear(r);
    return rc ? -1 : sent;
}

void pg_release_escalations(pg_store *s)
{
    char why[256];
    int64_t now = wall_ms();
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, now);
    /* Most seconds nothing is due: one read of an index, no transaction. */
    PGresult *r = pg_run(s->db,
                         "SELECT 1 FROM escalations WHERE state = 'waiting'"
                         " AND due_ms <= $1::bigint LIMIT 1",
                         &p);
    int due = pg_ok(r) && PQntuples(r) > 0;
    PQclear(r);
    if (!due)
        return;
    int cancelled = 0, sent = -1;
    if (pg_exec(s->db, "BEGIN", why, sizeof why) == 0) {
        sent = release_locked(s, now, &cancelled, why, sizeof why);
        if (sent >= 0 && pg_exec(s->db, "COMMIT", why, sizeof why))
            sent = -1;
    }
    if (sent < 0) {
        char ignored[64];
        pg_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        log_error("store", "cannot release due escalations: %s", why);
        return;
    }
    metrics_add(METRIC_ESCALATIONS_SENT, (unsigned long long)sent);
    metrics_add(METRIC_ESCALATIONS_CANCELLED, (unsigned long long)cancelled);
}

int pg_alert_escalated(pg_reader *r, alert_state_row *a, char *err, size_t err_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, a->fingerprint);
    pp_double(&p, a->starts_at);
    PGresult *res = pg_run(r->db,
                           "SELECT receiver, done_ms FROM escalations WHERE fingerprint = $1"
                           " AND state = 'sent' AND starts_at >= $2::double precision"
                           " ORDER BY done_ms DESC LIMIT 1",
                           &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    if (PQntuples(res) == 1) {
        a->escalated_to = pg_text(res, 0, 0);
        a->escalated_ms = pg_int(res, 0, 1);
    }
    PQclear(res);
    return 0;
}
