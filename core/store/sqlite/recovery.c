#include "store/sqlite/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"

/* Builds a notification from a row of pending_columns. */
static notification *row_to_notification(sqlite3_stmt *q)
{
    notification *n = xcalloc(1, sizeof *n);
    n->id = (uint64_t)sqlite3_column_int64(q, 0);
    n->receiver = sqlite_column_text(q, 1);
    n->status = sqlite_column_text(q, 2);
    n->alert_count = (size_t)sqlite3_column_int64(q, 3);
    n->content.format = (herald_format)sqlite3_column_int(q, 4);
    n->content.title = sqlite_column_text(q, 5);
    n->content.text = sqlite_column_text(q, 6);
    const unsigned char *mentions = sqlite3_column_text(q, 7);
    mention_set_from_json(mentions ? (const char *)mentions : "{}", &n->content.mentions);
    if (sqlite3_column_type(q, 8) != SQLITE_NULL) {
        n->payload_len = (size_t)sqlite3_column_bytes(q, 8);
        n->payload = xstrndup(sqlite3_column_blob(q, 8), n->payload_len);
    }
    n->group_key = sqlite_column_text(q, 9);
    const unsigned char *key = sqlite3_column_text(q, 10);
    snprintf(n->dedup_key, sizeof n->dedup_key, "%s", key ? (const char *)key : "");
    n->created_ms = sqlite3_column_int64(q, 11);
    n->next_attempt_ms = sqlite3_column_int64(q, 12);
    n->attempts = (unsigned)sqlite3_column_int64(q, 13);
    if (sqlite3_column_type(q, 14) != SQLITE_NULL)
        n->last_error = sqlite_column_text(q, 14);
    rendered_entries_from_json(&n->content, (const char *)sqlite3_column_text(q, 15));
    return n;
}

static const char *const pending_columns =
    "id, receiver, status, alert_count, format, title, text, mentions, payload, group_key,"
    " dedup_key, created_ms, next_attempt_ms, attempts, last_error,"
    " (SELECT entries FROM messages m WHERE m.id = notifications.id)";

/* Reads the notifications in `states` and, with `take_requeued`, turns
 * the requeued ones into pending ones, in one transaction: a `herald queue
 * retry` committed in between cannot be switched to pending without being
 * read. */
static int take_rows(sqlite_store *s, const char *states, int take_requeued,
                     notification ***out, size_t *len, char *err, size_t err_cap)
{
    *out = NULL;
    *len = 0;
    if (sqlite_exec(s->db, take_requeued ? "BEGIN IMMEDIATE" : "BEGIN", err, err_cap))
        return -1;
    strbuf sql = STRBUF_INIT;
    sb_printf(&sql, "SELECT %s FROM notifications WHERE state IN (%s) ORDER BY id", pending_columns,
              states);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, sb_str(&sql), -1, &q, NULL);
    sb_free(&sql);
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        *out = xrealloc(*out, (*len + 1) * sizeof **out);
        (*out)[(*len)++] = row_to_notification(q);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    char ignored[64];
    if (rc != SQLITE_DONE ||
        sqlite_exec(s->db,
                    take_requeued
                        ? "UPDATE deliveries SET state = 'pending' WHERE state = 'requeued'; COMMIT"
                        : "COMMIT",
                    err, err_cap)) {
        if (rc != SQLITE_DONE)
            fail(err, err_cap, "%s", sqlite3_errmsg(s->db));
        if (sqlite_is_disk_full(s->db))
            sqlite_disk_full_begins(s);
        sqlite_exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        for (size_t i = 0; i < *len; i++)
            notification_free((*out)[i]);
        free(*out);
        *out = NULL;
        *len = 0;
        return -1;
    }
    return 0;
}

void sqlite_take_requeued(sqlite_store *s)
{
    notification **found;
    size_t n;
    char why[256];
    if (take_rows(s, "'requeued'", 1, &found, &n, why, sizeof why)) {
        if (!s->disk_full) /* tried again every second; the episode is logged once */
            log_error("store", "cannot take requeued notifications: %s", why);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        log_info(found[i]->receiver, "notification %llu requeued for delivery",
                 (unsigned long long)found[i]->id);
        s->requeued(s->requeued_ctx, found[i]);
    }
    free(found);
}

int sqlite_load_pending(store *base, void (*each)(void *ctx, notification *n), void *ctx,
                        char *err, size_t err_cap)
{
    sqlite_store *s = (sqlite_store *)base;
    notification **found;
    size_t n;
    char why[256];
    int rc = take_rows(s, "'pending', 'requeued'", 1, &found, &n, why, sizeof why);
    /* On a full disk the requeued ones cannot be switched to pending: the
     * pending ones resume now, and the writer takes the requeued ones once
     * it can write. */
    if (rc && s->disk_full)
        rc = take_rows(s, "'pending'", 0, &found, &n, why, sizeof why);
    if (rc)
        return fail(err, err_cap, "%s: %s", s->path, why);
    for (size_t i = 0; i < n; i++)
        each(ctx, found[i]);
    free(found);
    return 0;
}

int sqlite_load_targets(store *base, int64_t sent_since_ms, int64_t paused_at_ms,
                        void (*sent)(void *ctx, const char *target, int64_t at_ms),
                        void (*paused)(void *ctx, const char *target, int64_t until_ms),
                        void *ctx, char *err, size_t err_cap)
{
    sqlite_store *s = (sqlite_store *)base;
    static const char *const sql[2] = {
        "SELECT target, sent_ms FROM target_sends WHERE sent_ms >= ?1 ORDER BY sent_ms",
        "SELECT target, until_ms FROM target_pauses WHERE until_ms > ?1",
    };
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *q = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql[i], -1, &q, NULL);
        if (rc == SQLITE_OK)
            sqlite3_bind_int64(q, 1, i == 0 ? sent_since_ms : paused_at_ms);
        while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            const char *target = (const char *)sqlite3_column_text(q, 0);
            int64_t at = sqlite3_column_int64(q, 1);
            if (target)
                (i == 0 ? sent : paused)(ctx, target, at);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            return fail(err, err_cap, "%s: %s", s->path, sqlite3_errmsg(s->db));
    }
    return 0;
}

