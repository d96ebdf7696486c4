/* herald store copy: a stopped herald's SQLite store moved into a
 * PostgreSQL database, pending notifications, dead letters, history,
 * alert state and rate-limit state alike.
 *
 * The backends never read each other's schema: the source exports rows
 * of the tables below, with the columns below, and the destination
 * imports them. These lists are the interchange format; a table's rows
 * keep their ids, so history and attempts still point at their
 * notification. */
#ifndef HERALD_STORE_TRANSFER_H
#define HERALD_STORE_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef enum store_table {
    STORE_TABLE_MESSAGES,       /* a notification's content */
    STORE_TABLE_DELIVERIES,     /* its delivery state: attempts, next attempt, last error */
    STORE_TABLE_HISTORY,        /* one row per alert per notification, with its labels and
                                 * annotations (each store keeps those once: store/content.h) */
    STORE_TABLE_ATTEMPTS,       /* each attempt's outcome, and operators' drops */
    STORE_TABLE_ALERT_STATE,    /* what is firing */
    STORE_TABLE_ALERT_NOTIFIED, /* what each receiver was told, for repeat intervals */
    STORE_TABLE_TARGET_SENDS,   /* recent sends to rate-limited robots */
    STORE_TABLE_TARGET_PAUSES,  /* pauses the services imposed */
    STORE_TABLE_SILENCES,       /* silences, active and ended */
    STORE_TABLE_ESCALATIONS,    /* escalations waiting, sent and cancelled */
    STORE_TABLE_ACTION_KEYS,    /* the keys that sign action links: links keep working */
    STORE_TABLE_ACTION_USES,    /* action links used: they stay refused */
    STORE_TABLE_COUNT
} store_table;

#define STORE_TABLE_MAX_COLUMNS 17

typedef struct store_table_def {
    const char *name;
    const char *what;           /* for the summary: "history rows" */
    int columns_len;
    const char *columns[STORE_TABLE_MAX_COLUMNS];
} store_table_def;

extern const store_table_def store_tables[STORE_TABLE_COUNT];

typedef enum store_cell_kind {
    STORE_CELL_NULL,
    STORE_CELL_INT,
    STORE_CELL_REAL,
    STORE_CELL_TEXT,
    STORE_CELL_BLOB
} store_cell_kind;

/* One value, borrowed from the exporter for the time of one row. */
typedef struct store_cell {
    store_cell_kind kind;
    int64_t integer;
    double real;
    const char *bytes;          /* TEXT (terminated) and BLOB */
    size_t len;
} store_cell;

/* A row of `table`, its cells in the order of store_tables[table].columns. */
typedef struct store_row {
    store_table table;
    const store_cell *cells;
} store_row;

/* A destination being filled, in one transaction: the backend's own. */
typedef struct store_import store_import;

/* Takes one exported row: 0, or -1 with err to stop the export. */
typedef int (*store_row_fn)(void *ctx, const store_row *row, char *err, size_t err_cap);

/* What a copy moved. */
typedef struct store_copy_counts {
    long rows[STORE_TABLE_COUNT];
    long pending, requeued, dead, dropped, delivered; /* notifications by delivery state */
} store_copy_counts;

/* Copies the store at `from` into the empty store at `to`, all or
 * nothing: 0, or -1 with err (a DSN never in it). The source must not be
 * served while it is read (refused otherwise); the destination must hold
 * no notifications, history or alert state. */
int store_copy(const store_location *from, const store_location *to, store_copy_counts *counts,
               char *err, size_t err_cap);

/* Where the store is, a DSN described without who logs in with what. */
void store_location_describe(const store_location *where, char *out, size_t cap);

/* "12 notifications (3 pending, ...), 40 history rows, ..." */
void store_copy_summary(const store_copy_counts *counts, strbuf *out);

#endif
