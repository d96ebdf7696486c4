/* An alert's labels and annotations are stored once a day, in a table
 * of their own (alert_content), under their id (alert_record.content_id)
 * and a day: an Alertmanager posts the same alerts again every
 * group_interval, and an alert routed to two receivers makes two history
 * rows, so the JSON would otherwise be written again at each. A history
 * row names the content of the day it was made; the SQLite store's alert
 * state that of the day it was last seen, so a post of a firing alert
 * rewrites a row of its times and status, not its labels and annotations.
 *
 * The content is keyed by (day, id), the day being that of the rows
 * naming it: the retention sweep deletes the days wholly past, a range,
 * where content keyed by id alone would need an index on the history's
 * random ids to find the content no row names, and that index took a
 * random page write per history row. */
#ifndef HERALD_STORE_CONTENT_H
#define HERALD_STORE_CONTENT_H

#include <stdint.h>

/* The UTC day of a history row's created_ms (or an alert state's
 * last_seen_ms), under which the content it names is stored;
 * STORE_CONTENT_DAY_SQL is the same in SQL (integer division in both
 * stores: the times are positive). */
#define STORE_CONTENT_DAY_MS 86400000
#define STORE_CONTENT_DAY_SQL(created_ms) "(" created_ms " / 86400000)"

static inline int64_t store_content_day(int64_t created_ms)
{
    return created_ms / STORE_CONTENT_DAY_MS;
}

#endif
