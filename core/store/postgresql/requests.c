/* An operator's requests about pending notifications: send one now, drop
 * one, clear a receiver's pauses. As in the SQLite store: the CLI or the
 * API records each (what it changes in the store at once, and a row of
 * queue_requests); the writer takes the rows every second, as it takes
 * requeued dead letters, and hands them to the daemon, whose dispatcher
 * changes its memory to match. Among replicas, each request reaches the
 * replica that must apply it (pg_take_requests). */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"

int pg_send_now(store_reader *r, uint64_t id, char *err, size_t err_cap)
{
    /* due now in the store too, so `queue list` says so */
    static const char *const sql[] = {
        "UPDATE deliveries SET next_attempt_ms = $2 WHERE id = $1"
        " AND state IN ('pending', 'requeued')",
        "INSERT INTO queue_requests(action, notification_id, requested_ms)"
        " VALUES('send_now', $1, $2)",
    };
    return pg_change_queue(r, id, NULL, NULL, sql, 2, err, err_cap);
}

int pg_drop_pending(store_reader *r, uint64_t id, const char *reason, const char *actor,
                    char *err, size_t err_cap)
{
    /* Dropped in the store at once: a daemon that is not running never
     * loads it, and a running one cannot mark it delivered or dead any
     * more (the marks change pending notifications only). */
    static const char *const sql[] = {
        "UPDATE deliveries SET state = 'dropped', finished_ms = $2, last_error = $3::text"
        " WHERE id = $1 AND state IN ('pending', 'requeued')",
        "INSERT INTO attempts(notification_id, at_ms, outcome, detail, actor)"
        " VALUES($1, $2, 'dropped', $3::text, $4::text)",
        "INSERT INTO queue_requests(action, notification_id, requested_ms)"
        " VALUES('drop', $1, $2)",
    };
    return pg_change_queue(r, id, reason, actor, sql, 3, err, err_cap);
}

int pg_unpause(store_reader *r, const char *receiver, char *err, size_t err_cap)
{
    /* The pauses are stored by target digest, which only the daemon can
     * compute from the receiver's configuration: it clears them. */
    static const char *const sql[] = {
        "INSERT INTO queue_requests(action, receiver, requested_ms)"
        " VALUES('unpause', $3::text, $2)",
    };
    return pg_change_queue(r, 0, receiver, NULL, sql, 1, err, err_cap) < 0 ? -1 : 0;
}

void pg_on_requests(store *base, void (*requested)(void *ctx, queue_request *q), void *ctx)
{
    pg_store *s = (pg_store *)base;
    s->requested = requested;
    s->requested_ctx = ctx;
}

static queue_request *row_to_request(const PGresult *r, int row)
{
    const char *action = PQgetvalue(r, row, 0);
    queue_request *req = xcalloc(1, sizeof *req);
    req->kind = strcmp(action, "drop") == 0      ? QUEUE_DROP
                : strcmp(action, "unpause") == 0 ? QUEUE_UNPAUSE
                                                 : QUEUE_SEND_NOW;
    req->id = (uint64_t)pg_int(r, row, 1);
    req->receiver = pg_text_or_null(r, row, 2);
    return req;
}

/* Passes the request rows of r to the daemon; -1 (logged) if r failed. */
static int pass_requests(pg_store *s, PGresult *r, int64_t *last_id)
{
    if (!pg_ok(r)) {
        char why[256];
        pg_failed(s->db, r, why, sizeof why);
        if (PQstatus(s->db) == CONNECTION_OK) /* a lost one is logged once */
            log_error("store", "cannot take the operators' queue requests: %s", why);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        s->requested(s->requested_ctx, row_to_request(r, i));
        if (last_id)
            *last_id = pg_int(r, i, 3);
    }
    PQclear(r);
    return 0;
}

void pg_take_requests(pg_store *s)
{
    if (!s->requested)
        return;
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, s->replica);
    pp_int(&p, wall_ms());
    /* A send-now or a drop is the holder's to apply: taken (and deleted,
     * oldest first) by the replica that holds the notification, or by
     * any when no live replica does. A crash before they are applied
     * loses nothing the store does not already say, and applying one
     * twice changes nothing. */
    PGresult *r = pg_run(s->db,
                         "WITH taken AS (DELETE FROM queue_requests q"
                         "  WHERE q.action <> 'unpause' AND NOT EXISTS ("
                         "   SELECT 1 FROM deliveries d WHERE d.id = q.notification_id"
                         "   AND d.claimed_by <> $1 AND d.lease_until_ms >= $2::bigint)"
                         "  RETURNING *)"
                         " SELECT action, notification_id, receiver, id FROM taken ORDER BY id",
                         &p);
    if (pass_requests(s, r, NULL))
        return;
    /* An unpause is every replica's: each keeps its own pauses. Each
     * applies every unpause it has not yet seen, those of the last hour
     * at its start (the sweep forgets older ones: pg_sweep_targets). */
    pg_params seen = PG_PARAMS_INIT;
    pp_int(&seen, s->last_unpause_id);
    r = pg_run(s->db,
               "SELECT action, notification_id, receiver, id FROM queue_requests"
               " WHERE action = 'unpause' AND id > $1::bigint ORDER BY id",
               &seen);
    pass_requests(s, r, &s->last_unpause_id);
}
