/* A notification's message and its delivery row: what a new
 * notification (write.c) and a waiting escalation (escalations.c) both
 * store. */
#include "store/sqlite/private.h"

#include <stdlib.h>

#include "util/strbuf.h"

int sqlite_insert_message(sqlite_store *s, notification *n)
{
    sqlite3_stmt *q = s->stmt[STMT_INSERT_MESSAGE];
    strbuf mentions = STRBUF_INIT;
    mention_set_to_json(&n->content.mentions, &mentions);
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, n->receiver, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, n->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)n->alert_count);
    sqlite3_bind_int(q, 4, (int)n->content.format);
    sqlite3_bind_text(q, 5, n->content.title, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, n->content.text, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 7, sb_str(&mentions), -1, SQLITE_TRANSIENT);
    if (n->payload)
        sqlite3_bind_blob(q, 8, n->payload, (int)n->payload_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 8);
    sqlite3_bind_text(q, 9, n->group_key ? n->group_key : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 10, n->dedup_key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 11, n->created_ms);
    char *entries = rendered_entries_to_json(&n->content);
    sqlite3_bind_text(q, 12, entries, -1, SQLITE_STATIC); /* NULL: none */
    int rc = sqlite3_step(q);
    free(entries);
    sb_free(&mentions);
    if (rc != SQLITE_DONE)
        return -1;
    n->id = (uint64_t)sqlite3_last_insert_rowid(s->db);
    q = s->stmt[STMT_INSERT_DELIVERY];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)n->id);
    sqlite3_bind_int64(q, 2, n->attempts);
    sqlite3_bind_int64(q, 3, n->next_attempt_ms);
    if (sqlite3_step(q) != SQLITE_DONE)
        return -1;
    return 0;
}
