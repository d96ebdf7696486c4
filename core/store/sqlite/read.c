#include "store/sqlite/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/strbuf.h"

store_reader *sqlite_reader_open(const store_location *where, char *err, size_t err_cap)
{
    sqlite3 *db = sqlite_open_existing(where->data_dir, 0, err, err_cap);
    if (!db)
        return NULL;
    sqlite_reader *r = xcalloc(1, sizeof *r);
    r->base.backend = &sqlite_backend;
    r->data_dir = xstrdup(where->data_dir);
    r->db = db;
    return &r->base;
}

void sqlite_reader_close(store_reader *base)
{
    sqlite_reader *r = (sqlite_reader *)base;
    sqlite3_close(r->db);
    free(r->data_dir);
    free(r);
}

int read_failed(sqlite_reader *r, sqlite3_stmt *q, char *err, size_t err_cap)
{
    fail(err, err_cap, "store: %s", sqlite3_errmsg(r->db));
    sqlite3_finalize(q);
    return -1;
}

void *add_row(void *items, size_t *len, size_t size)
{
    char *grown = xrealloc(items, (*len + 1) * size);
    memset(grown + *len * size, 0, size);
    (*len)++;
    return grown;
}

static const char *const summary_columns =
    "id, receiver, status, alert_count, state, attempts, last_error, created_ms,"
    " next_attempt_ms, finished_ms, title";

static void read_summary(sqlite3_stmt *q, queue_row *row)
{
    row->id = (uint64_t)sqlite3_column_int64(q, 0);
    row->receiver = sqlite_column_text(q, 1);
    row->status = sqlite_column_text(q, 2);
    row->alert_count = sqlite3_column_int64(q, 3);
    row->state = sqlite_column_text(q, 4);
    row->attempts = sqlite3_column_int64(q, 5);
    row->last_error = sqlite_column_text_or_null(q, 6);
    row->created_ms = sqlite3_column_int64(q, 7);
    row->next_attempt_ms = sqlite3_column_int64(q, 8);
    row->finished_ms = sqlite3_column_int64(q, 9); /* NULL reads as 0 */
    row->title = sqlite_column_text(q, 10);
}

int sqlite_list(store_reader *base, queue_view view, int limit, queue_rows *rows, char *err,
                size_t err_cap)
{
    sqlite_reader *r = (sqlite_reader *)base;
    *rows = (queue_rows){0};
    strbuf sql = STRBUF_INIT;
    sb_printf(&sql, "SELECT %s FROM notifications WHERE state IN (%s) ORDER BY id DESC LIMIT ?1",
              summary_columns, view == QUEUE_DEAD ? "'dead'" : "'pending', 'requeued'");
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(r->db, sb_str(&sql), -1, &q, NULL);
    sb_free(&sql);
    if (rc != SQLITE_OK)
        return read_failed(r, q, err, err_cap);
    sqlite3_bind_int(q, 1, limit);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rows->items = add_row(rows->items, &rows->len, sizeof *rows->items);
        read_summary(q, &rows->items[rows->len - 1]);
    }
    if (rc != SQLITE_DONE) {
        queue_rows_free(rows);
        return read_failed(r, q, err, err_cap);
    }
    sqlite3_finalize(q);
    return 0;
}

static void add_alert(sqlite3_stmt *q, notification_detail *d)
{
    d->alerts = add_row(d->alerts, &d->alerts_len, sizeof *d->alerts);
    alert_row *a = &d->alerts[d->alerts_len - 1];
    a->fingerprint = sqlite_column_text(q, 0);
    a->alertname = sqlite_column_text(q, 1);
    a->status = sqlite_column_text(q, 2);
    a->labels_json = sqlite_column_text(q, 3);
}

static void add_attempt(sqlite3_stmt *q, notification_detail *d)
{
    d->attempts = add_row(d->attempts, &d->attempts_len, sizeof *d->attempts);
    attempt_row *a = &d->attempts[d->attempts_len - 1];
    a->at_ms = sqlite3_column_int64(q, 0);
    a->outcome = sqlite_column_text(q, 1);
    a->detail = sqlite_column_text_or_null(q, 2);
    a->actor = sqlite_column_text_or_null(q, 3);
}

/* Hands each row `sql` selects for notification id (?1) to add. */
static int read_rows_of(sqlite_reader *r, const char *sql, uint64_t id,
                        void (*add)(sqlite3_stmt *q, notification_detail *d),
                        notification_detail *d, char *err, size_t err_cap)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(r->db, sql, -1, &q, NULL) != SQLITE_OK)
        return read_failed(r, q, err, err_cap);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        add(q, d);
    if (rc != SQLITE_DONE)
        return read_failed(r, q, err, err_cap);
    sqlite3_finalize(q);
    return 0;
}

int sqlite_show(store_reader *base, uint64_t id, notification_detail *out, char *err,
                size_t err_cap)
{
    sqlite_reader *r = (sqlite_reader *)base;
    *out = (notification_detail){0};
    strbuf sql = STRBUF_INIT;
    sb_printf(&sql, "SELECT %s, text, mentions FROM notifications WHERE id = ?1", summary_columns);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(r->db, sb_str(&sql), -1, &q, NULL);
    sb_free(&sql);
    if (rc != SQLITE_OK)
        return read_failed(r, q, err, err_cap);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(q);
        return 1;
    }
    if (rc != SQLITE_ROW)
        return read_failed(r, q, err, err_cap);
    read_summary(q, &out->summary);
    out->text = sqlite_column_text(q, 11);
    out->mentions_json = sqlite_column_text(q, 12);
    sqlite3_finalize(q);
    /* attempts oldest first: the order they happened in */
    if (read_rows_of(r,
                     "SELECT fingerprint, alertname, status, labels FROM history_results"
                     " WHERE notification_id = ?1 ORDER BY id",
                     id, add_alert, out, err, err_cap) ||
        read_rows_of(r,
                     "SELECT at_ms, outcome, detail, actor FROM attempts"
                     " WHERE notification_id = ?1 ORDER BY id",
                     id, add_attempt, out, err, err_cap)) {
        notification_detail_free(out);
        return -1;
    }
    return 0;
}

int sqlite_history(store_reader *base, const history_filter *f, history_rows *rows, char *err,
                   size_t err_cap)
{
    sqlite_reader *r = (sqlite_reader *)base;
    *rows = (history_rows){0};
    sqlite3_stmt *q = NULL;
    /* Absent filters bind NULL and match everything. */
    const char *sql =
        "SELECT h.id, h.notification_id, h.fingerprint, h.alertname, h.instance, h.severity,"
        " h.status, h.starts_at, h.ends_at, h.receiver, h.labels, h.annotations, h.result,"
        " h.created_ms, h.silenced_by FROM history_results h"
        " WHERE (?1 IS NULL OR h.alertname = ?1) AND (?2 IS NULL OR h.receiver = ?2)"
        " AND (?3 IS NULL OR h.status = ?3) AND (?4 IS NULL OR h.created_ms >= ?4)"
        " AND (?5 IS NULL OR h.created_ms <= ?5) ORDER BY h.id DESC LIMIT ?6";
    if (sqlite3_prepare_v2(r->db, sql, -1, &q, NULL) != SQLITE_OK)
        return read_failed(r, q, err, err_cap);
    if (f->alertname)
        sqlite3_bind_text(q, 1, f->alertname, -1, SQLITE_STATIC);
    if (f->receiver)
        sqlite3_bind_text(q, 2, f->receiver, -1, SQLITE_STATIC);
    if (f->status)
        sqlite3_bind_text(q, 3, f->status, -1, SQLITE_STATIC);
    if (f->since_ms)
        sqlite3_bind_int64(q, 4, f->since_ms);
    if (f->until_ms)
        sqlite3_bind_int64(q, 5, f->until_ms);
    sqlite3_bind_int(q, 6, f->limit);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rows->items = add_row(rows->items, &rows->len, sizeof *rows->items);
        history_row *h = &rows->items[rows->len - 1];
        h->id = sqlite3_column_int64(q, 0);
        h->notification_id = sqlite3_column_int64(q, 1);
        h->fingerprint = sqlite_column_text(q, 2);
        h->alertname = sqlite_column_text(q, 3);
        h->instance = sqlite_column_text(q, 4);
        h->severity = sqlite_column_text(q, 5);
        h->status = sqlite_column_text(q, 6);
        h->starts_at = sqlite3_column_double(q, 7);
        h->ends_at = sqlite3_column_double(q, 8); /* NULL reads as 0 */
        h->receiver = sqlite_column_text(q, 9);
        h->labels_json = sqlite_column_text(q, 10);
        h->annotations_json = sqlite_column_text(q, 11);
        h->result = sqlite_column_text(q, 12);
        h->created_ms = sqlite3_column_int64(q, 13);
        h->silenced_by = sqlite_column_text_or_null(q, 14);
    }
    if (rc != SQLITE_DONE) {
        history_rows_free(rows);
        return read_failed(r, q, err, err_cap);
    }
    sqlite3_finalize(q);
    return 0;
}

/* A firing is one alert (fingerprint) from one startsAt: the rows of
 * its notifications to several receivers, and of its repeats, are one.
 * The label's JSON path is bound, so no asked-for text is ever SQL. */
int sqlite_history_top(store_reader *base, const history_top *t, top_rows *rows, char *err,
                       size_t err_cap)
{
    sqlite_reader *r = (sqlite_reader *)base;
    *rows = (top_rows){0};
    int by_receiver = strcmp(t->by, "receiver") == 0;
    char sql[512];
    /* Firing rows only: the TOP of what alerted, not of what recovered. */
    snprintf(sql, sizeof sql,
             "SELECT value, COUNT(*) FROM ("
             " SELECT DISTINCT %s AS value, fingerprint, starts_at FROM history_results"
             " WHERE created_ms >= ?1 AND status = 'firing')"
             " WHERE value IS NOT NULL AND value != ''"
             " GROUP BY value ORDER BY COUNT(*) DESC, value LIMIT ?2",
             by_receiver ? "receiver" : "json_extract(labels, ?3)");
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(r->db, sql, -1, &q, NULL) != SQLITE_OK)
        return read_failed(r, q, err, err_cap);
    sqlite3_bind_int64(q, 1, t->since_ms);
    sqlite3_bind_int(q, 2, t->limit);
    strbuf path = STRBUF_INIT;
    if (!by_receiver) {
        /* query_top let through only label names, which need no escaping
         * inside the quotes */
        sb_printf(&path, "$.\"%s\"", t->by);
        sqlite3_bind_text(q, 3, sb_str(&path), -1, SQLITE_TRANSIENT);
    }
    sb_free(&path);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rows->items = add_row(rows->items, &rows->len, sizeof *rows->items);
        rows->items[rows->len - 1].value = sqlite_column_text(q, 0);
        rows->items[rows->len - 1].count = sqlite3_column_int64(q, 1);
    }
    if (rc != SQLITE_DONE) {
        top_rows_free(rows);
        return read_failed(r, q, err, err_cap);
    }
    sqlite3_finalize(q);
    return 0;
}
