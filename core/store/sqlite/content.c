/* An alert's labels and annotations, stored once a day (store/content.h):
 * what a history row (write.c) and a silenced alert's row (state.c) both
 * name. */
#include "store/sqlite/private.h"

#include "store/content.h"

int sqlite_insert_content(sqlite_store *s, int64_t created_ms, int64_t content_id,
                          const alert_record *a)
{
    sqlite3_stmt *q = s->stmt[STMT_INSERT_CONTENT];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, store_content_day(created_ms));
    sqlite3_bind_int64(q, 2, content_id);
    sqlite3_bind_text(q, 3, a->labels_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, a->annotations_json, -1, SQLITE_STATIC);
    return sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
}
