/* herald store copy's destination: the rows of store/transfer.h inserted
 * in one transaction, with their ids, into a database that holds no
 * notifications, history or alert state. The tables stay locked until
 * the commit, so a herald started meanwhile waits for the copy; the id
 * sequences then continue after the ids copied. */
#include "store/postgresql/private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "notification/notification.h"
#include "store/content.h"
#include "util/dsn.h"
#include "util/error.h"

_Static_assert(STORE_TABLE_MAX_COLUMNS + 1 <= PG_MAX_PARAMS,
               "a copied row is one statement's parameters, and a history row's content id");

struct store_import {
    PGconn *db;
    char where[256];                    /* the DSN described */
    char *insert[STORE_TABLE_COUNT];    /* made at the table's first row */
};

/* A history row's labels, annotations and time, in store_tables' order */
#define HISTORY_LABELS_COLUMN 10
#define HISTORY_ANNOTATIONS_COLUMN 11
#define HISTORY_CREATED_MS_COLUMN 12

/* The history's rows come with their labels and annotations: stored as
 * the writer stores them (write.c), once a day each, the row naming them
 * by the id its last parameter carries. */
static char *insert_history_sql(void)
{
    const store_table_def *def = &store_tables[STORE_TABLE_HISTORY];
    strbuf sql = STRBUF_INIT;
    int id_param = def->columns_len + 1;
    sb_printf(&sql,
              "WITH content AS (INSERT INTO alert_content(day, id, labels, annotations)"
              " VALUES($%d / %d, $%d, $%d, $%d) ON CONFLICT (day, id) DO NOTHING)"
              " INSERT INTO history(",
              HISTORY_CREATED_MS_COLUMN + 1, STORE_CONTENT_DAY_MS, id_param,
              HISTORY_LABELS_COLUMN + 1, HISTORY_ANNOTATIONS_COLUMN + 1);
    for (int c = 0; c < def->columns_len; c++)
        if (c != HISTORY_LABELS_COLUMN && c != HISTORY_ANNOTATIONS_COLUMN)
            sb_printf(&sql, "%s, ", def->columns[c]);
    sb_puts(&sql, "content_id) VALUES(");
    for (int c = 0; c < def->columns_len; c++)
        if (c != HISTORY_LABELS_COLUMN && c != HISTORY_ANNOTATIONS_COLUMN)
            sb_printf(&sql, "$%d, ", c + 1);
    sb_printf(&sql, "$%d)", id_param);
    return sb_take(&sql);
}

static char *insert_sql(store_table table)
{
    const store_table_def *def = &store_tables[table];
    if (table == STORE_TABLE_HISTORY)
        return insert_history_sql();
    strbuf sql = STRBUF_INIT;
    sb_printf(&sql, "INSERT INTO %s(", def->name);
    for (int c = 0; c < def->columns_len; c++)
        sb_printf(&sql, "%s%s", c ? ", " : "", def->columns[c]);
    sb_puts(&sql, ") VALUES(");
    for (int c = 0; c < def->columns_len; c++)
        sb_printf(&sql, "%s$%d", c ? ", " : "", c + 1);
    sb_puts(&sql, ")");
    return sb_take(&sql);
}

static void free_import(store_import *im)
{
    PQfinish(im->db);
    for (int t = 0; t < STORE_TABLE_COUNT; t++)
        free(im->insert[t]);
    free(im);
}

/* Locks every table copied into and counts what they hold already. */
static int lock_empty(store_import *im, char *why, size_t why_cap)
{
    strbuf lock = STRBUF_INIT;
    sb_puts(&lock, "LOCK TABLE ");
    for (int t = 0; t < STORE_TABLE_COUNT; t++)
        sb_printf(&lock, "%s%s", t ? ", " : "", store_tables[t].name);
    sb_puts(&lock, " IN EXCLUSIVE MODE");
    int rc = pg_exec(im->db, "BEGIN", why, why_cap) || pg_exec(im->db, sb_str(&lock), why, why_cap)
                 ? -1
                 : 0;
    sb_free(&lock);
    if (rc)
        return -1;
    PGresult *r = pg_run(im->db,
                         "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM history),"
                         " (SELECT count(*) FROM alert_state)",
                         NULL);
    if (!pg_ok(r))
        return pg_failed(im->db, r, why, why_cap);
    int64_t notifications = pg_int(r, 0, 0), history = pg_int(r, 0, 1), alerts = pg_int(r, 0, 2);
    PQclear(r);
    if (notifications || history || alerts)
        return fail(why, why_cap,
                    "the database is not empty (%" PRId64 " notifications, %" PRId64
                    " history rows, %" PRId64 " alert states): copy into a database no "
                    "herald has served",
                    notifications, history, alerts);
    return 0;
}

store_import *pg_import_begin(const store_location *to, char *err, size_t err_cap)
{
    store_import *im = xcalloc(1, sizeof *im);
    pg_dsn_describe(to->dsn, im->where, sizeof im->where);
    char why[512];
    if (!(im->db = pg_connect(to->dsn, why, sizeof why))) {
        fail(err, err_cap, "--to: %s", why);
    } else if (pg_migrate(im->db, why, sizeof why) || lock_empty(im, why, sizeof why)) {
        fail(err, err_cap, "--to: %s: %s", im->where, why);
    } else {
        return im;
    }
    free_import(im);
    return NULL;
}

int pg_import_row(store_import *im, const store_row *row, char *err, size_t err_cap)
{
    const store_table_def *def = &store_tables[row->table];
    if (!im->insert[row->table])
        im->insert[row->table] = insert_sql(row->table);
    pg_params p = PG_PARAMS_INIT;
    for (int c = 0; c < def->columns_len; c++) {
        const store_cell *cell = &row->cells[c];
        switch (cell->kind) {
        case STORE_CELL_INT: pp_int(&p, cell->integer); break;
        case STORE_CELL_REAL: pp_double(&p, cell->real); break;
        case STORE_CELL_TEXT: pp_text(&p, cell->bytes); break;
        case STORE_CELL_BLOB: pp_bytes(&p, cell->bytes, cell->len); break;
        case STORE_CELL_NULL: pp_text(&p, NULL); break;
        }
    }
    if (row->table == STORE_TABLE_HISTORY) {
        const store_cell *labels = &row->cells[HISTORY_LABELS_COLUMN];
        const store_cell *annotations = &row->cells[HISTORY_ANNOTATIONS_COLUMN];
        int has_labels = labels->kind == STORE_CELL_TEXT;
        int has_annotations = annotations->kind == STORE_CELL_TEXT;
        pp_int(&p, alert_content_id(has_labels ? labels->bytes : "{}", has_labels ? labels->len : 2,
                                    has_annotations ? annotations->bytes : "{}",
                                    has_annotations ? annotations->len : 2));
    }
    char why[512];
    if (pg_command(im->db, im->insert[row->table], &p, why, sizeof why))
        return fail(err, err_cap, "--to: %s: writing %s: %s", im->where, def->name, why);
    return 0;
}

/* New notifications must not take an id that copied history or attempts
 * name, even of a notification swept since: the sequence continues after
 * every id seen. */
static const char continue_sequences[] =
    "SELECT setval(pg_get_serial_sequence('messages', 'id'), m) FROM (SELECT greatest("
    "  (SELECT max(id) FROM messages), (SELECT max(notification_id) FROM history),"
    "  (SELECT max(notification_id) FROM attempts)) AS m) ids WHERE m IS NOT NULL;"
    "SELECT setval(pg_get_serial_sequence('history', 'id'), max(id)) FROM history"
    "  HAVING max(id) IS NOT NULL;"
    "SELECT setval(pg_get_serial_sequence('attempts', 'id'), max(id)) FROM attempts"
    "  HAVING max(id) IS NOT NULL;";

int pg_import_end(store_import *im, int commit, char *err, size_t err_cap)
{
    char why[512];
    int rc = 0;
    if (!commit)
        pg_exec(im->db, "ROLLBACK", why, sizeof why);
    else if (pg_exec(im->db, continue_sequences, why, sizeof why) ||
             pg_exec(im->db, "COMMIT", why, sizeof why))
        rc = fail(err, err_cap, "--to: %s: %s", im->where, why);
    free_import(im);
    return rc;
}
