#include "store/sqlite/private.h"

#include "util/error.h"

int sqlite_exec(sqlite3 *db, const char *sql, char *err, size_t err_cap)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    fail(err, err_cap, "%s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

int sqlite_has_column(sqlite3 *db, const char *table, const char *column)
{
    sqlite3_stmt *q = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", -1,
                           &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, column, -1, SQLITE_STATIC);
        found = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) > 0;
    }
    sqlite3_finalize(q);
    return found;
}

int sqlite_write_rows(sqlite_store *s, row_statements *statements, int columns, size_t len,
                      row_binder bind, const void *ctx)
{
    for (size_t first = 0; first < len; first += ROWS_PER_STATEMENT) {
        size_t rows = len - first < ROWS_PER_STATEMENT ? len - first : ROWS_PER_STATEMENT;
        sqlite3_stmt *q = statements->rows[rows - 1];
        sqlite3_reset(q);
        for (size_t i = 0; i < rows; i++)
            if (bind(s, q, (int)i * columns, first + i, ctx))
                return -1;
        if (sqlite3_step(q) != SQLITE_DONE)
            return -1;
    }
    return 0;
}
