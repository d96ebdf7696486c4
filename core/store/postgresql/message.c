/* A notification's message and its delivery row: what a new
 * notification (write.c) and a waiting escalation (escalations.c) both
 * store. */
#include "store/postgresql/private.h"

#include <stdlib.h>

#include "util/clock.h"
#include "util/strbuf.h"

int pg_insert_message(pg_store *s, notification *n, int pending, char *why, size_t why_cap)
{
    strbuf mentions = STRBUF_INIT;
    mention_set_to_json(&n->content.mentions, &mentions);
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, n->receiver);
    pp_text(&p, n->status);
    pp_int(&p, (int64_t)n->alert_count);
    pp_int(&p, (int64_t)n->content.format);
    pp_text(&p, n->content.title);
    pp_text(&p, n->content.text);
    pp_text(&p, sb_str(&mentions));
    if (n->payload)
        pp_bytes(&p, n->payload, n->payload_len);
    else
        pp_text(&p, NULL);
    pp_text(&p, n->group_key ? n->group_key : "");
    pp_text(&p, n->dedup_key);
    pp_int(&p, n->created_ms);
    pp_int(&p, n->attempts);
    pp_int(&p, n->next_attempt_ms);
    pp_text(&p, pending ? s->replica : NULL);
    if (pending)
        pp_int(&p, wall_ms() + s->settings.lease_ms);
    else
        pp_text(&p, NULL);
    char *entries = rendered_entries_to_json(&n->content);
    pp_text(&p, entries); /* NULL: none */
    /* the message and its delivery state (a pending one claimed by this
     * replica; an escalation waits unclaimed) in one statement */
    PGresult *r = pg_run(s->db,
                         "WITH m AS (INSERT INTO messages(receiver, status, alert_count, format,"
                         " title, text, mentions, payload, group_key, dedup_key, created_ms,"
                         " entries)"
                         " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $16) RETURNING id)"
                         " INSERT INTO deliveries(id, state, attempts, next_attempt_ms,"
                         " claimed_by, lease_until_ms)"
                         " SELECT id, CASE WHEN $14::text IS NULL THEN 'escalation' ELSE 'pending'"
                         " END, $12, $13, $14, $15::bigint FROM m RETURNING id",
                         &p);
    free(entries);
    sb_free(&mentions);
    if (!pg_ok(r) || PQntuples(r) != 1)
        return pg_failed(s->db, r, why, why_cap);
    n->id = (uint64_t)pg_int(r, 0, 0);
    PQclear(r);
    return 0;
}
