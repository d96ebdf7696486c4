/* What a start resumes: notifications still to deliver that no live
 * replica holds, those `herald queue retry` requeued, and the rate
 * limiter's recent sends and pauses. */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/log.h"

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
