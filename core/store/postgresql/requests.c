/* An operator's requests about pending notifications: send one now, drop
 * one, clear a receiver's pauses. As in the SQLite store: the CLI or the
 * API records each (what it changes in the store at once, and a row of
 * queue_requests); the writer takes the rows every second, as it takes
 * requeued dead letters, and hands them to the daemon, whose dispatcher
 * changes its memory to match. */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void pg_take_requests(pg_store *s)
{
    if (!s->requested)
        return;
    /* Taken and deleted in one statement, oldest first. A crash before
     * they are applied loses nothing the store does not already say, and
     * applying one twice changes nothing. */
    PGresult *r = pg_run(s->db,
                         "WITH taken AS (DELETE FROM queue_requests RETURNING *)"
                         " SELECT action, notification_id, receiver FROM taken ORDER BY id",
                         NULL);
    if (!pg_ok(r)) {
        char why[256];
        pg_failed(s->db, r, why, sizeof why);
        if (PQstatus(s->db) == CONNECTION_OK) /* a lost one is logged once */
            log_error("store", "cannot take the operators' queue requests: %s", why);
        return;
    }
    for (int i = 0; i < PQntuples(r); i++)
        s->requested(s->requested_ctx, row_to_request(r, i));
    PQclear(r);
}
