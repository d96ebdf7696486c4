/* What a start resumes: notifications still to deliver that no live
 * replica holds, those `herald queue retry` requeued, and the rate
 * limiter's recent sends and pauses. */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

static void mentions_from_json(const char *json, mention_set *m)
{
    cJSON *root = json_parse(json, strlen(json));
    static const char *const keys[] = {"mobiles", "user_ids"};
    void (*const add[])(mention_set *, const char *) = {mention_set_add_mobile,
                                                         mention_set_add_user_id};
    for (int k = 0; k < 2; k++) {
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, keys[k]))
            if (cJSON_IsString(item))
                add[k](m, item->valuestring);
    }
    m->all = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "all"));
    cJSON_Delete(root);
}

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
    mentions_from_json(PQgetisnull(r, row, 7) ? "{}" : PQgetvalue(r, row, 7),
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
    return n;
}

/* What is free at the start, claimed round by round: not what another
 * live replica holds (its lease runs). */
int pg_load_pending(store *base, void (*each)(void *ctx, notification *n), void *ctx,
                    char *err, size_t err_cap)
{
    pg_store *s = (pg_store *)base;
    enum { ROUND = 1000 };
    char why[256];
    int claimed;
    do {
        claimed = pg_claim_free(s, ROUND, each, ctx, why, sizeof why);
        if (claimed < 0)
            return fail(err, err_cap, "store: %s: %s", s->where, why);
    } while (claimed == ROUND);
    return 0;
}

int pg_load_targets(store *base, int64_t sent_since_ms, int64_t paused_at_ms,
                    void (*sent)(void *ctx, const char *target, int64_t at_ms),
                    void (*paused)(void *ctx, const char *target, int64_t until_ms), void *ctx,
                    char *err, size_t err_cap)
{
    pg_store *s = (pg_store *)base;
    static const char *const sql[2] = {
        "SELECT target, sent_ms FROM target_sends WHERE sent_ms >= $1::bigint ORDER BY sent_ms",
        "SELECT target, until_ms FROM target_pauses WHERE until_ms > $1::bigint",
    };
    for (int i = 0; i < 2; i++) {
        pg_params p = PG_PARAMS_INIT;
        pp_int(&p, i == 0 ? sent_since_ms : paused_at_ms);
        PGresult *r = pg_run(s->db, sql[i], &p);
        char why[256];
        if (!pg_ok(r)) {
            pg_failed(s->db, r, why, sizeof why);
            return fail(err, err_cap, "store: %s: %s", s->where, why);
        }
        for (int row = 0; row < PQntuples(r); row++)
            (i == 0 ? sent : paused)(ctx, PQgetvalue(r, row, 0), pg_int(r, row, 1));
        PQclear(r);
    }
    return 0;
}
