/* An alert's labels and annotations are stored once, in a table of
 * their own (alert_content), and every history row names them by this
 * id: an Alertmanager posts the same alerts again every group_interval,
 * and an alert routed to two receivers makes two rows, so the JSON
 * would otherwise be written again at each. */
#ifndef HERALD_STORE_CONTENT_H
#define HERALD_STORE_CONTENT_H

#include <stdint.h>

/* The first 63 bits of SHA-256 of labels, a NUL and annotations (a
 * non-negative 64-bit integer, the rowid SQLite keys fastest by). The
 * PostgreSQL store computes the same in SQL where it must
 * (postgresql/private.h PG_CONTENT_ID). */
int64_t store_content_id(const char *labels_json, const char *annotations_json);

#endif
