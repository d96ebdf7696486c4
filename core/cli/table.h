/* Tables for the command line: a header row and aligned columns, each
 * cell on one line and cut to its column's width with "…", so a long
 * error or a label set cannot wrap a terminal line. -o json gives the
 * full values. Widths count what a terminal shows: a CJK character (an
 * alert name like 【故障】) takes two columns. */
#ifndef HERALD_CLI_TABLE_H
#define HERALD_CLI_TABLE_H

#include <stddef.h>

#include "util/strbuf.h"

typedef struct table_column {
    const char *header;
    size_t max_width;  /* longer cells are cut to this, ending in "…"; 0: never cut */
    int align_right;   /* numbers */
} table_column;

typedef struct table {
    const table_column *columns;
    size_t columns_len;
    char **cells;      /* row after row, columns_len each */
    size_t rows_len;
} table;

#define TABLE_INIT(columns) {(columns), sizeof(columns) / sizeof((columns)[0]), NULL, 0}

/* Appends a row of columns_len cells (NULL is an empty cell), copied:
 * control characters (a newline in an error) become spaces, and a cell
 * wider than its column is cut. */
void table_add_row(table *t, const char *const *cells);
/* The header and every row, columns two spaces apart, no trailing
 * spaces. */
void table_print(const table *t, strbuf *out);
void table_free(table *t);

/* Columns the text takes on a terminal. */
size_t text_width(const char *text);
/* A copy on one line (control characters as spaces), at most max_width
 * columns wide, ending in "…" when it was cut; 0: never cut. */
char *text_cut(const char *text, size_t max_width);

#endif
