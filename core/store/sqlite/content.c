/* An alert's labels and annotations, stored once a day (store/content.h):
 * what the alert state (state.c) and a history row (write.c) name.
 *
 * Alertmanager posts the same alerts again every group_interval, so most
 * contents are stored already: the writer remembers those it stored (or
 * found stored) and skips their INSERT, one statement per alert of every
 * request, twice for an alert the state and a history row both name.
 * Only the writer's connection inserts or deletes content (the data_dir
 * lock keeps any other herald serve out), so what it remembers holds
 * until its own retention sweep deletes days of it, or its transaction
 * is rolled back. */
#include "store/sqlite/private.h"

#include <stdlib.h>

#include "store/content.h"
#include "util/strbuf.h"

static content_key *slot_of(sqlite_store *s, int64_t id)
{
    return &s->content_known[(uint64_t)id % CONTENT_KNOWN_SLOTS];
}

int sqlite_insert_content(sqlite_store *s, int64_t day_ms, const alert_record *a)
{
    content_key key = {store_content_day(day_ms), a->content_id};
    content_key *known = slot_of(s, key.id);
    if (known->day == key.day && known->id == key.id)
        return 0;
    sqlite3_stmt *q = s->stmt[STMT_INSERT_CONTENT];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, key.day);
    sqlite3_bind_int64(q, 2, key.id);
    sqlite3_bind_text(q, 3, a->labels_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, a->annotations_json, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        return -1;
    /* known at once, so the state's and the history's INSERT of a new
     * alert are one; forgotten should the transaction roll back */
    *known = key;
    if (s->content_pending_len == s->content_pending_cap) {
        s->content_pending_cap = s->content_pending_cap ? 2 * s->content_pending_cap : 64;
        s->content_pending = xrealloc(s->content_pending,
                                      s->content_pending_cap * sizeof *s->content_pending);
    }
    s->content_pending[s->content_pending_len++] = key;
    return 0;
}

void sqlite_content_committed(sqlite_store *s) { s->content_pending_len = 0; }

/* no day is negative: an empty slot matches nothing */
static const content_key unknown = {-1, -1};

void sqlite_content_rolled_back(sqlite_store *s)
{
    /* a slot this transaction took may have held a content stored before:
     * forgetting that too costs an INSERT OR IGNORE, never a lost row */
    for (size_t i = 0; i < s->content_pending_len; i++)
        *slot_of(s, s->content_pending[i].id) = unknown;
    s->content_pending_len = 0;
}

void sqlite_content_forget(sqlite_store *s)
{
    for (size_t i = 0; i < CONTENT_KNOWN_SLOTS; i++)
        s->content_known[i] = unknown;
    s->content_pending_len = 0;
}
