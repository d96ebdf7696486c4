#include "store/sqlite/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/strbuf.h"

static int is_duplicate(sqlite_store *s, const notification *n, int *dup)
{
    *dup = 0;
    if (s->settings.dedup_window_ms <= 0)
        return 0;
    sqlite3_stmt *q = s->stmt[STMT_DUPLICATE];
    char past_stream[DEDUP_STREAM_HEX + 2];
    /* every key of the stream sorts below its hex prefix followed by 'g' */
    snprintf(past_stream, sizeof past_stream, "%.*sg", DEDUP_STREAM_HEX, n->dedup_key);
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, n->dedup_key, DEDUP_STREAM_HEX, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, past_stream, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, n->created_ms - s->settings.dedup_window_ms);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *last = sqlite3_column_text(q, 0);
        *dup = last && strcmp((const char *)last, n->dedup_key) == 0;
    }
    /* Left on its row, the query would keep this connection reading its
     * snapshot past COMMIT, and once another connection (herald queue
     * retry) had written, every later BEGIN here would fail. */
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Row i of n's history, after its alert's content. */
static int bind_history(sqlite_store *s, sqlite3_stmt *h, int at, size_t i, const void *ctx)
{
    const notification *n = ctx;
    const alert_record *a = &n->alerts[i];
    if (sqlite_insert_content(s, n->created_ms, a))
        return -1;
    sqlite3_bind_int64(h, at + 1, (sqlite3_int64)n->id);
    sqlite3_bind_text(h, at + 2, a->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, at + 3, a->alertname, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, at + 4, a->instance, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, at + 5, a->severity, -1, SQLITE_STATIC);
    sqlite3_bind_text(h, at + 6, alert_status_name(a->status), -1, SQLITE_STATIC);
    sqlite3_bind_double(h, at + 7, a->starts_at);
    if (a->ends_at)
        sqlite3_bind_double(h, at + 8, a->ends_at);
    else
        sqlite3_bind_null(h, at + 8);
    sqlite3_bind_text(h, at + 9, n->receiver, -1, SQLITE_STATIC);
    sqlite3_bind_int64(h, at + 10, a->content_id);
    sqlite3_bind_int64(h, at + 11, n->created_ms);
    return 0;
}

static int insert_one(sqlite_store *s, notification *n)
{
    if (n->escalate_at_ms)
        return sqlite_escalation_insert(s, n);
    int repeat, dup = 0;
    /* A receiver with a repeat interval is past the dedup window: the
     * repeat check holds back all the window would, and the window would
     * hold back a reminder due sooner than it. */
    if (sqlite_state_is_repeat(s, n, &repeat) ||
        (!repeat && n->repeat_interval_ms == 0 && is_duplicate(s, n, &dup)))
        return -1;
    if (repeat || dup) {
        n->id = 0;
        n->held = repeat ? HELD_REPEAT : HELD_DUPLICATE;
        return 0;
    }
    if (sqlite_state_notified(s, n) || sqlite_insert_message(s, n))
        return -1;
    return sqlite_write_rows(s, &s->insert_history, HISTORY_COLUMNS, n->alerts_len, bind_history, n);
}

static int apply_target(sqlite_store *s, const job *j)
{
    sqlite3_stmt *q = s->stmt[j->kind == JOB_SEND    ? STMT_RECORD_SEND
                              : j->kind == JOB_PAUSE ? STMT_RECORD_PAUSE
                                                     : STMT_CLEAR_PAUSE];
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, j->text, -1, SQLITE_STATIC);
    if (j->kind != JOB_CLEAR_PAUSE)
        sqlite3_bind_int64(q, 2, j->at_ms);
    return sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
}

/* The attempt a mark ends, beside the state it sets. */
static int record_attempt(sqlite_store *s, const job *j)
{
    sqlite3_stmt *q = s->stmt[STMT_INSERT_ATTEMPT];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)j->id);
    sqlite3_bind_int64(q, 2, j->outcome_ms);
    sqlite3_bind_text(q, 3, j->kind == JOB_DELIVERED ? "delivered" : j->kind == JOB_RETRY ? "retry"
                                                                                         : "dead",
                      -1, SQLITE_STATIC);
    if (j->kind == JOB_DELIVERED || !j->text)
        sqlite3_bind_null(q, 4);
    else
        sqlite3_bind_text(q, 4, j->text, -1, SQLITE_STATIC);
    return sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
}

/* Dropped by herald itself (quiet hours): the drop is the attempt's row,
 * unless the notification was no longer pending (an operator's drop). */
static int apply_drop(sqlite_store *s, const job *j)
{
    sqlite3_stmt *q = s->stmt[STMT_MARK_DROPPED];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)j->id);
    sqlite3_bind_int64(q, 2, j->attempts);
    sqlite3_bind_int64(q, 3, j->at_ms);
    sqlite3_bind_text(q, 4, j->text ? j->text : "", -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        return -1;
    if (sqlite3_changes(s->db) == 0)
        return 0;
    q = s->stmt[STMT_RECORD_DROP];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)j->id);
    sqlite3_bind_int64(q, 2, j->at_ms);
    sqlite3_bind_text(q, 3, j->text ? j->text : "", -1, SQLITE_STATIC);
    return sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
}

static int apply_mark(sqlite_store *s, const job *j)
{
    if (j->kind == JOB_DROPPED)
        return apply_drop(s, j);
    sqlite3_stmt *q = s->stmt[j->kind == JOB_DELIVERED ? STMT_MARK_DELIVERED
                              : j->kind == JOB_RETRY   ? STMT_MARK_RETRY
                                                       : STMT_MARK_DEAD];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)j->id);
    sqlite3_bind_int64(q, 2, j->attempts);
    sqlite3_bind_int64(q, 3, j->at_ms);
    if (j->kind != JOB_DELIVERED)
        sqlite3_bind_text(q, 4, j->text ? j->text : "", -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        return -1;
    return j->attempted ? record_attempt(s, j) : 0;
}

int sqlite_write_batch(sqlite_store *s, job *jobs)
{
    char why[256] = "";
    int ok = sqlite_exec(s->db, "BEGIN IMMEDIATE", why, sizeof why) == 0;
    int stores_alerts = 0;
    for (job *j = jobs; j && ok; j = j->next) {
        if (j->kind == JOB_COMMIT) {
            stores_alerts = 1;
            ok = sqlite_state_seen(s, j->seen) == 0;
            for (size_t i = 0; i < j->n && ok; i++)
                ok = insert_one(s, j->items[i]) == 0;
        } else if (j->kind == JOB_SEND || j->kind == JOB_PAUSE || j->kind == JOB_CLEAR_PAUSE) {
            ok = apply_target(s, j) == 0;
        } else {
            ok = apply_mark(s, j) == 0;
        }
    }
    if (ok && sqlite_exec(s->db, "COMMIT", why, sizeof why) == 0) {
        sqlite_content_committed(s);
        /* A delivery result is a page or two, which may still fit where
         * alerts do not: the 503s end when alerts are stored again. */
        if (stores_alerts)
            sqlite_disk_full_ends(s);
        return 0;
    }
    if (!why[0])
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(s->db));
    int full = sqlite_is_disk_full(s->db);
    char ignored[64];
    sqlite_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
    sqlite_content_rolled_back(s);
    if (full) {
        sqlite_disk_full_begins(s); /* logged once, not for every write */
        snprintf(why, sizeof why, "disk full at %s", s->data_dir);
    } else {
        log_error("store", "write failed, nothing of it was stored: %s", why);
    }
    for (job *j = jobs; j; j = j->next) {
        j->failed = 1;
        snprintf(j->error, sizeof j->error, "store: %s", why);
    }
    return -1;
}
