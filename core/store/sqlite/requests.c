/* An operator's requests about pending notifications: send one now, drop
 * one, clear a receiver's pauses. The CLI or the API records each in the
 * store (what it changes in the store at once, and a row of
 * queue_requests); the daemon's writer takes the rows every second, as it
 * takes requeued dead letters, and hands them to the daemon, whose
 * dispatcher changes its memory to match. So the CLI needs no HTTP port,
 * and a request made while no daemon runs waits for the next. */
#include "store/sqlite/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/strbuf.h"

int sqlite_send_now(store_reader *r, uint64_t id, char *err, size_t err_cap)
{
    /* due now in the store too, so `queue list` says so */
    static const char *const sql[] = {
        "UPDATE deliveries SET next_attempt_ms = ?2 WHERE id = ?1"
        " AND state IN ('pending', 'requeued')",
        "INSERT INTO queue_requests(action, notification_id, requested_ms)"
        " VALUES('send_now', ?1, ?2)",
    };
    return sqlite_change_queue(r, id, NULL, NULL, sql, 2, err, err_cap);
}

int sqlite_drop_pending(store_reader *r, uint64_t id, const char *reason, const char *actor,
                        char *err, size_t err_cap)
{
    /* Dropped in the store at once: a daemon that is not running never
     * loads it, and a running one cannot mark it delivered or dead any
     * more (the marks change pending notifications only). */
    static const char *const sql[] = {
        "UPDATE deliveries SET state = 'dropped', finished_ms = ?2, last_error = ?3"
        " WHERE id = ?1 AND state IN ('pending', 'requeued')",
        "INSERT INTO attempts(notification_id, at_ms, outcome, detail, actor)"
        " VALUES(?1, ?2, 'dropped', ?3, ?4)",
        "INSERT INTO queue_requests(action, notification_id, requested_ms)"
        " VALUES('drop', ?1, ?2)",
    };
    return sqlite_change_queue(r, id, reason, actor, sql, 3, err, err_cap);
}

int sqlite_unpause(store_reader *r, const char *receiver, char *err, size_t err_cap)
{
    /* The pauses are stored by target digest, which only the daemon can
     * compute from the receiver's configuration: it clears them. */
    static const char *const sql[] = {
        "INSERT INTO queue_requests(action, receiver, requested_ms) VALUES('unpause', ?3, ?2)",
    };
    return sqlite_change_queue(r, 0, receiver, NULL, sql, 1, err, err_cap) < 0 ? -1 : 0;
}

void sqlite_on_requests(store *base, void (*requested)(void *ctx, queue_request *q), void *ctx)
{
    sqlite_store *s = (sqlite_store *)base;
    s->requested = requested;
    s->requested_ctx = ctx;
}

static queue_request *row_to_request(sqlite3_stmt *q)
{
    const unsigned char *text = sqlite3_column_text(q, 1);
    const char *action = text ? (const char *)text : "";
    queue_request *req = xcalloc(1, sizeof *req);
    req->kind = strcmp(action, "drop") == 0      ? QUEUE_DROP
                : strcmp(action, "unpause") == 0 ? QUEUE_UNPAUSE
                                                 : QUEUE_SEND_NOW;
    req->id = (uint64_t)sqlite3_column_int64(q, 2);
    req->receiver = sqlite_column_text_or_null(q, 3);
    return req;
}

void sqlite_take_requests(sqlite_store *s)
{
    if (!s->requested)
        return;
    sqlite3_stmt *q = NULL;
    queue_request *head = NULL, **tail = &head;
    sqlite3_int64 last = 0;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT id, action, notification_id, receiver FROM queue_requests"
                                " ORDER BY id",
                                -1, &q, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        last = sqlite3_column_int64(q, 0);
        *tail = row_to_request(q);
        tail = &(*tail)->next;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    char why[256] = "";
    if (rc == SQLITE_DONE && head) {
        /* Later requests have higher ids: they stay for the next look. A
         * crash before they are applied loses nothing the store does not
         * already say, and applying one twice changes nothing. */
        strbuf sql = STRBUF_INIT;
        sb_printf(&sql, "DELETE FROM queue_requests WHERE id <= %lld", (long long)last);
        rc = sqlite_exec(s->db, sb_str(&sql), why, sizeof why) ? SQLITE_ERROR : SQLITE_DONE;
        sb_free(&sql);
    } else if (rc != SQLITE_DONE) {
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(s->db));
    }
    if (rc != SQLITE_DONE) {
        if (sqlite_is_disk_full(s->db))
            sqlite_disk_full_begins(s);
        else
            log_error("store", "cannot take the operators' queue requests: %s", why);
        while (head) {
            queue_request *next = head->next;
            queue_request_free(head);
            head = next;
        }
        return;
    }
    while (head) {
        queue_request *next = head->next;
        head->next = NULL;
        s->requested(s->requested_ctx, head);
        head = next;
    }
}
