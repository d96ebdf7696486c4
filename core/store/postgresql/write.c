/* One transaction for everything the writer took: new notifications
 * (with dedup and the repeat check), the alert state, delivery results,
 * target sends (admitted: admission.c) and pauses. */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/content.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strbuf.h"

/* The last notification of the stream (a key range: the stream is the
 * key's first half) within the window; a dead one is no reason to hold
 * back the next. */
static int is_duplicate(pg_store *s, const notification *n, int *dup, char *why, size_t why_cap)
{
    *dup = 0;
    if (s->settings.dedup_window_ms <= 0)
        return 0;
    char stream[DEDUP_STREAM_HEX + 1], past_stream[DEDUP_STREAM_HEX + 2];
    snprintf(stream, sizeof stream, "%.*s", DEDUP_STREAM_HEX, n->dedup_key);
    /* every key of the stream sorts below its hex prefix followed by 'g' */
    snprintf(past_stream, sizeof past_stream, "%sg", stream);
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, stream);
    pp_text(&p, past_stream);
    pp_int(&p, n->created_ms - s->settings.dedup_window_ms);
    PGresult *r = pg_run(s->db,
                         "SELECT m.dedup_key FROM messages m JOIN deliveries d ON d.id = m.id"
                         " WHERE m.dedup_key >= $1 AND m.dedup_key < $2"
                         " AND m.created_ms >= $3::bigint AND d.state <> 'dead'"
                         " ORDER BY m.id DESC LIMIT 1",
                         &p);
    if (!pg_ok(r))
        return pg_failed(s->db, r, why, why_cap);
    *dup = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), n->dedup_key) == 0;
    PQclear(r);
    return 0;
}

/* Each alert's row, and its content unless stored already (a repeat is
 * a lookup, not a write): one statement. */
static int insert_history(pg_store *s, const notification *n, char *why, size_t why_cap)
{
    for (size_t i = 0; i < n->alerts_len; i++) {
        const alert_record *a = &n->alerts[i];
        pg_params p = PG_PARAMS_INIT;
        pp_int(&p, (int64_t)n->id);
        pp_text(&p, a->fingerprint);
        pp_text(&p, a->alertname);
        pp_text(&p, a->instance);
        pp_text(&p, a->severity);
        pp_text(&p, alert_status_name(a->status));
        pp_double(&p, a->starts_at);
        pp_double_or_null(&p, a->ends_at);
        pp_text(&p, n->receiver);
        pp_int(&p, a->content_id);
        pp_int(&p, n->created_ms);
        pp_text(&p, a->labels_json);
        pp_text(&p, a->annotations_json);
        if (pg_command(s->db,
                       "WITH content AS (INSERT INTO alert_content(day, id, labels,"
                       "  annotations) VALUES(" STORE_CONTENT_DAY_SQL("$11") ", $10, $12, $13)"
                       "  ON CONFLICT (day, id) DO NOTHING)"
                       " INSERT INTO history(notification_id, fingerprint, alertname, instance,"
                       " severity, status, starts_at, ends_at, receiver, content_id,"
                       " created_ms) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                       &p, why, why_cap))
            return -1;
    }
    return 0;
}

static int insert_one(pg_store *s, notification *n, char *why, size_t why_cap)
{
    int repeat, dup = 0;
    n->held = HELD_NOT; /* a transaction tried again decides afresh */
    if (n->escalate_at_ms)
        return pg_escalation_insert(s, n, why, why_cap);
    /* As in SQLite's write.c: the dedup window is for receivers without a
     * repeat interval. */
    if (pg_state_is_repeat(s, n, &repeat, why, why_cap) ||
        (!repeat && n->repeat_interval_ms == 0 && is_duplicate(s, n, &dup, why, why_cap)))
        return -1;
    if (repeat || dup) {
        n->id = 0;
        n->held = repeat ? HELD_REPEAT : HELD_DUPLICATE;
        return 0;
    }
    return pg_state_notified(s, n, why, why_cap) || pg_insert_message(s, n, 1, why, why_cap) ||
                   insert_history(s, n, why, why_cap)
               ? -1
               : 0;
}

static int apply_target(pg_store *s, const job *j, char *why, size_t why_cap)
{
    if (j->kind == JOB_SEND)
        return pg_admit_send(s, j, why, why_cap);
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, j->text);
    if (j->kind == JOB_CLEAR_PAUSE)
        return pg_command(s->db, "DELETE FROM target_pauses WHERE target = $1", &p, why,
                          why_cap);
    pp_int(&p, j->at_ms);
    return pg_command(s->db,
                      "INSERT INTO target_pauses(target, until_ms) VALUES($1, $2)"
                      " ON CONFLICT(target) DO UPDATE SET"
                      " until_ms = greatest(target_pauses.until_ms, excluded.until_ms)",
                      &p, why, why_cap);
}

/* The attempt a mark ends, beside the state it sets. */
static int record_attempt(pg_store *s, const job *j, char *why, size_t why_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, (int64_t)j->id);
    pp_int(&p, j->outcome_ms);
    pp_text(&p, j->kind == JOB_DELIVERED ? "delivered"
                : j->kind == JOB_RETRY   ? "retry"
                                            : "dead");
    pp_text(&p, j->kind == JOB_DELIVERED ? NULL : j->text);
    return pg_command(s->db,
                      "INSERT INTO attempts(notification_id, at_ms, outcome, detail)"
                      " VALUES($1, $2, $3, $4)",
                      &p, why, why_cap);
}

/* Dropped by herald itself (quiet hours): the drop is the attempt's row,
 * unless the notification was no longer pending (an operator's drop) or
 * is another replica's now. */
static int apply_drop(pg_store *s, const job *j, char *why, size_t why_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, (int64_t)j->id);
    pp_int(&p, j->attempts);
    pp_int(&p, j->at_ms);
    pp_text(&p, j->text ? j->text : "");
    pp_text(&p, s->replica);
    return pg_command(s->db,
                      "WITH dropped AS (UPDATE deliveries SET state = 'dropped', attempts = $2,"
                      " finished_ms = $3::bigint, last_error = $4::text WHERE id = $1 AND state = 'pending'"
                      " AND claimed_by IS NOT DISTINCT FROM $5 RETURNING id)"
                      " INSERT INTO attempts(notification_id, at_ms, outcome, detail, actor)"
                      " SELECT id, $3::bigint, 'dropped', $4::text, '" STORE_QUIET_HOURS_ACTOR "' FROM dropped",
                      &p, why, why_cap);
}

static int apply_mark(pg_store *s, const job *j, char *why, size_t why_cap)
{
    if (j->kind == JOB_DROPPED)
        return apply_drop(s, j, why, why_cap);
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, (int64_t)j->id);
    pp_int(&p, j->attempts);
    pp_int(&p, j->at_ms);
    if (j->kind != JOB_DELIVERED) {
        pp_text(&p, j->text ? j->text : "");
        pp_text(&p, s->replica);
    }
    /* Only a pending notification: one an operator dropped while it was
     * in flight stays dropped, whatever the attempt's outcome. A message
     * that went is delivered whoever holds it now; a retry or a dead
     * letter is the holder's to decide, and another replica that took
     * the row (this one's lease ran out) goes on with its own schedule. */
    const char *sql =
        j->kind == JOB_DELIVERED
            ? "UPDATE deliveries SET state = 'delivered', attempts = $2, finished_ms = $3,"
              " last_error = NULL WHERE id = $1 AND state = 'pending'"
        : j->kind == JOB_RETRY
            ? "UPDATE deliveries SET attempts = $2, next_attempt_ms = $3, last_error = $4"
              " WHERE id = $1 AND state = 'pending' AND claimed_by IS NOT DISTINCT FROM $5"
            : "UPDATE deliveries SET state = 'dead', attempts = $2, finished_ms = $3,"
              " last_error = $4 WHERE id = $1 AND state = 'pending'"
              " AND claimed_by IS NOT DISTINCT FROM $5";
    if (pg_command(s->db, sql, &p, why, why_cap))
        return -1;
    return j->attempted ? record_attempt(s, j, why, why_cap) : 0;
}

static int apply_all(pg_store *s, job *jobs, char *why, size_t why_cap)
{
    if (pg_lock_checks(s, jobs, why, why_cap))
        return -1;
    for (job *j = jobs; j; j = j->next) {
        int rc = 0;
        if (j->kind == JOB_COMMIT) {
            rc = pg_state_seen(s, j->seen, why, why_cap);
            for (size_t i = 0; i < j->n && rc == 0; i++)
                rc = insert_one(s, j->items[i], why, why_cap);
        } else if (j->kind == JOB_SEND || j->kind == JOB_PAUSE ||
                   j->kind == JOB_CLEAR_PAUSE) {
            rc = apply_target(s, j, why, why_cap);
        } else {
            rc = apply_mark(s, j, why, why_cap);
        }
        if (rc)
            return -1;
    }
    return 0;
}

/* A deadlock with another replica's transaction (rows of the alert state
 * or of deliveries locked in another order) or a serialization failure:
 * the server rolled one back, which goes again. */
static int worth_again(void)
{
    const char *state = pg_last_failure_state();
    return strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0;
}

int pg_write_batch(pg_store *s, job *jobs)
{
    enum { TRIES = 5 };
    char why[256] = "";
    int lost = pg_writer_connection(s, why, sizeof why) != 0;
    for (int tries = 1; !lost && pg_exec(s->db, "BEGIN", why, sizeof why) == 0; tries++) {
        if (apply_all(s, jobs, why, sizeof why) == 0 &&
            pg_exec(s->db, "COMMIT", why, sizeof why) == 0)
            return 0;
        int again = worth_again() && tries < TRIES;
        char ignored[64];
        pg_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        if (!again)
            break;
        log_info("store", "write rolled back by the server (%s), trying again", why);
    }
    /* A lost connection is logged once, when it is found lost. */
    if (!lost && PQstatus(s->db) == CONNECTION_OK)
        log_error("store", "write failed, nothing of it was stored: %s", why);
    for (job *j = jobs; j; j = j->next) {
        j->failed = 1;
        snprintf(j->error, sizeof j->error, "store: %s", why);
    }
    return -1;
}
