/* An alert's labels and annotations are stored once a day, in a table
 * of their own (alert_content), and every history row names them by
 * this id and its own day: an Alertmanager posts the same alerts again
 * every group_interval, and an alert routed to two receivers makes two
 * rows, so the JSON would otherwise be written again at each.
 *
 * The content is keyed by (day, id), the day being that of the rows
 * naming it: the retention sweep deletes the days wholly past, a range,
 * where content keyed by id alone would need an index on the history's
 * random ids to find the content no row names, and that index took a
 * random page write per history row. */
#ifndef HERALD_STORE_CONTENT_H
#define HERALD_STORE_CONTENT_H

#include <stdint.h>

/* The first 63 bits of SHA-256 of labels, a NUL and annotations (a
 * non-negative 64-bit integer). The PostgreSQL store computes the same
 * in SQL where it must (postgresql/private.h PG_CONTENT_ID). */
int64_t store_content_id(const char *labels_json, const char *annotations_json);

/* The UTC day of a history row's created_ms, under which the content it
 * names is stored; STORE_CONTENT_DAY_SQL is the same in SQL (integer
 * division in both stores: created_ms is positive). */
#define STORE_CONTENT_DAY_MS 86400000
#define STORE_CONTENT_DAY_SQL(created_ms) "(" created_ms " / 86400000)"

static inline int64_t store_content_day(int64_t created_ms)
{
    return created_ms / STORE_CONTENT_DAY_MS;
}

#endif
