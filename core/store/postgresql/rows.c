/* A notification read back from its row: what a start resumes and what a
 * replica claims. */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


notification *pg_row_to_notification(const PGresult *r, int row)
{
    notification *n = xcalloc(1, sizeof *n);
    n->id = (uint64_t)pg_int(r, row, 0);
    n->receiver = pg_text(r, row, 1);
    n->status = pg_text(r, row, 2);
    n->alert_count = (size_t)pg_int(r, row, 3);
    n->content.format = (herald_format)pg_int(r, row, 4);
    n->content.title = pg_text(r, row, 5);
    n->content.text = pg_text(r, row, 6);
    mention_set_from_json(PQgetisnull(r, row, 7) ? "{}" : PQgetvalue(r, row, 7),
                       &n->content.mentions);
    if (!PQgetisnull(r, row, 8)) {
        size_t len = 0;
        unsigned char *bytes =
            PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, 8), &len);
        n->payload = xstrndup(bytes ? (const char *)bytes : "", bytes ? len : 0);
        n->payload_len = bytes ? len : 0;
        PQfreemem(bytes);
    }
    n->group_key = pg_text(r, row, 9);
    snprintf(n->dedup_key, sizeof n->dedup_key, "%s", PQgetvalue(r, row, 10));
    n->created_ms = pg_int(r, row, 11);
    n->next_attempt_ms = pg_int(r, row, 12);
    n->attempts = (unsigned)pg_int(r, row, 13);
    n->last_error = pg_text_or_null(r, row, 14);
    rendered_entries_from_json(&n->content, PQgetisnull(r, row, 15) ? NULL : PQgetvalue(r, row, 15));
    return n;
}
