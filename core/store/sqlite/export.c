/* herald store copy's source: every table of store/transfer.h, read in
 * one transaction while data_dir's lock is held, so no herald serves the
 * store while it is copied, nor starts before the copy is done. */
#include "store/sqlite/private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/strbuf.h"

static void read_cell(sqlite3_stmt *q, int col, store_cell *cell)
{
    memset(cell, 0, sizeof *cell);
    switch (sqlite3_column_type(q, col)) {
    case SQLITE_INTEGER:
        cell->kind = STORE_CELL_INT;
        cell->integer = sqlite3_column_int64(q, col);
        break;
    case SQLITE_FLOAT:
        cell->kind = STORE_CELL_REAL;
        cell->real = sqlite3_column_double(q, col);
        break;
    case SQLITE_TEXT:
        cell->kind = STORE_CELL_TEXT;
        cell->bytes = (const char *)sqlite3_column_text(q, col);
        cell->len = (size_t)sqlite3_column_bytes(q, col);
        break;
    case SQLITE_BLOB:
        cell->kind = STORE_CELL_BLOB;
        cell->bytes = sqlite3_column_blob(q, col);
        cell->len = (size_t)sqlite3_column_bytes(q, col);
        break;
    default:
        cell->kind = STORE_CELL_NULL;
    }
}

static int export_table(sqlite3 *db, store_table table, store_row_fn row, void *ctx, char *err,
                        size_t err_cap)
{
    const store_table_def *def = &store_tables[table];
    /* The history and the alert state as they are read, each row with
     * its labels and annotations: from their own table (store/content.h),
     * or, in a store not upgraded to that yet (this connection upgrades
     * nothing), from the row, where the history's older view reads them
     * and the state's table has them. */
    const char *source = def->name;
    if (table == STORE_TABLE_HISTORY)
        source = "history_results";
    else if (table == STORE_TABLE_ALERT_STATE &&
             sqlite_has_column(db, "alert_state_labelled", "labels"))
        source = "alert_state_labelled";
    /* A store written by an older herald lacks the newer tables
     * (silences), nothing to copy, and the newer columns (messages'
     * entries), copied as NULL, as its daemon would have read them. */
    if (!sqlite_has_column(db, source, def->columns[0]))
        return 0;
    strbuf sql = STRBUF_INIT;
    sb_printf(&sql, "SELECT ");
    for (int c = 0; c < def->columns_len; c++)
        sb_printf(&sql, "%s%s", c ? ", " : "", sqlite_has_column(db, source, def->columns[c])
                                                   ? def->columns[c]
                                                   : "NULL");
    sb_printf(&sql, " FROM %s", source);
    sqlite3_stmt *q = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db, sb_str(&sql), -1, &q, NULL) != SQLITE_OK) {
        rc = fail(err, err_cap, "reading %s: %s", def->name, sqlite3_errmsg(db));
    } else {
        store_cell cells[STORE_TABLE_MAX_COLUMNS];
        int step;
        while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
            for (int c = 0; c < def->columns_len; c++)
                read_cell(q, c, &cells[c]);
            store_row r = {table, cells};
            rc = row(ctx, &r, err, err_cap);
        }
        if (rc == 0 && step != SQLITE_DONE)
            rc = fail(err, err_cap, "reading %s: %s", def->name, sqlite3_errmsg(db));
    }
    sqlite3_finalize(q);
    sb_free(&sql);
    return rc;
}

int sqlite_export_rows(const store_location *from, store_row_fn row, void *ctx, char *err,
                       size_t err_cap)
{
    struct stat st;
    if (stat(from->data_dir, &st) != 0)
        return fail_errno(err, err_cap, errno, "--from: %s", from->data_dir);
    if (!S_ISDIR(st.st_mode))
        return fail(err, err_cap, "--from: %s: not a directory (the data_dir of a herald)",
                    from->data_dir);
    char why[512];
    sqlite3 *db = sqlite_open_existing(from->data_dir, 0, why, sizeof why);
    if (!db)
        return fail(err, err_cap, "--from: %s", why);
    int lock_fd = sqlite_lock_data_dir(from->data_dir,
                                       "stop it before copying its store (the copy would miss "
                                       "what it does meanwhile)",
                                       why, sizeof why);
    int rc = lock_fd < 0 ? fail(err, err_cap, "--from: %s", why) : 0;
    if (rc == 0 && sqlite_exec(db, "BEGIN", why, sizeof why))
        rc = fail(err, err_cap, "--from: %s", why);
    for (int t = 0; rc == 0 && t < STORE_TABLE_COUNT; t++)
        rc = export_table(db, (store_table)t, row, ctx, err, err_cap);
    sqlite3_close(db); /* ends the read transaction */
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}
