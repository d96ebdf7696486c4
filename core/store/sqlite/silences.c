/* Silences (alert/silence.h): added and expired on a connection of their
 * own, as the queue's changes are; read by the reader. */
#include "store/sqlite/private.h"

#include <stdlib.h>

#include "util/error.h"

/* "store: <SQLite's message>" in err, the statement finalized and the
 * connection closed; returns -1. */
static int write_failed(sqlite3 *db, sqlite3_stmt *q, char *err, size_t err_cap)
{
    fail(err, err_cap, "store: %s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return -1;
}

int sqlite_silence_add(store_reader *base, const silence *s, char *err, size_t err_cap)
{
    sqlite3 *db = sqlite_open_existing(((sqlite_reader *)base)->data_dir, 1, err, err_cap);
    if (!db)
        return -1;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO silences(id, matchers, starts_ms, ends_ms, created_by,"
                           " comment, created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &q, NULL) != SQLITE_OK)
        return write_failed(db, q, err, err_cap);
    sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, s->matchers, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, s->starts_ms);
    sqlite3_bind_int64(q, 4, s->ends_ms);
    sqlite3_bind_text(q, 5, s->created_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, s->comment, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 7, s->created_ms);
    if (sqlite3_step(q) != SQLITE_DONE)
        return write_failed(db, q, err, err_cap);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return 0;
}

int sqlite_silence_expire(store_reader *base, const char *id, int64_t now_ms, char *err,
                          size_t err_cap)
{
    sqlite3 *db = sqlite_open_existing(((sqlite_reader *)base)->data_dir, 1, err, err_cap);
    if (!db)
        return -1;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "UPDATE silences SET ends_ms = ?2 WHERE id = ?1 AND ends_ms > ?2",
                           -1, &q, NULL) != SQLITE_OK)
        return write_failed(db, q, err, err_cap);
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now_ms);
    if (sqlite3_step(q) != SQLITE_DONE)
        return write_failed(db, q, err, err_cap);
    sqlite3_finalize(q);
    if (sqlite3_changes(db) > 0) {
        sqlite3_close(db);
        return 0;
    }
    /* nothing changed: no such silence, or one that had ended */
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM silences WHERE id = ?1", -1, &q, NULL) !=
            SQLITE_OK)
        return write_failed(db, q, err, err_cap);
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_ROW)
        return write_failed(db, q, err, err_cap);
    int exists = sqlite3_column_int(q, 0) > 0;
    sqlite3_finalize(q);
    sqlite3_close(db);
    return exists ? 2 : 1;
}

int sqlite_silences(store_reader *base, int all, int64_t now_ms, silence_rows *rows, char *err,
                    size_t err_cap)
{
    sqlite_reader *r = (sqlite_reader *)base;
    *rows = (silence_rows){0};
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT id, matchers, starts_ms, ends_ms, created_by, comment,"
                           " created_ms FROM silences WHERE ?1 OR (starts_ms <= ?2 AND"
                           " ends_ms > ?2) ORDER BY created_ms DESC, id",
                           -1, &q, NULL) != SQLITE_OK)
        return read_failed(r, q, err, err_cap);
    sqlite3_bind_int(q, 1, all);
    sqlite3_bind_int64(q, 2, now_ms);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        rows->items = add_row(rows->items, &rows->len, sizeof *rows->items);
        silence *s = &rows->items[rows->len - 1];
        s->id = sqlite_column_text(q, 0);
        s->matchers = sqlite_column_text(q, 1);
        s->starts_ms = sqlite3_column_int64(q, 2);
        s->ends_ms = sqlite3_column_int64(q, 3);
        s->created_by = sqlite_column_text(q, 4);
        s->comment = sqlite_column_text(q, 5);
        s->created_ms = sqlite3_column_int64(q, 6);
    }
    if (rc != SQLITE_DONE) {
        silence_rows_free(rows);
        return read_failed(r, q, err, err_cap);
    }
    sqlite3_finalize(q);
    return 0;
}
