#include "store/postgresql/private.h"

#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"

/* The highest $N the statement uses: it is given that many parameters. */
static int parameters_used(const char *sql)
{
    int most = 0;
    for (const char *p = strchr(sql, '$'); p; p = strchr(p + 1, '$'))
        if (p[1] >= '1' && p[1] <= '9' && p[1] - '0' > most)
            most = p[1] - '0';
    return most;
}

int pg_change_queue(store_reader *base, uint64_t id, const char *text3, const char *text4,
                    const char *const *sql, size_t n, char *err, size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    char why[256];
    if (pg_reconnect_if_lost(r->db, why, sizeof why) ||
        pg_exec(r->db, "BEGIN", why, sizeof why))
        return fail(err, err_cap, "store: %s", why);
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, (int64_t)id);
    pp_int(&p, wall_ms());
    pp_text(&p, text3);
    pp_text(&p, text4);
    int changed = 1;
    for (size_t i = 0; i < n && changed; i++) {
        pg_params used = p; /* its numbers still those of p */
        used.n = parameters_used(sql[i]);
        PGresult *res = pg_run(r->db, sql[i], &used);
        if (!pg_ok(res)) {
            pg_failed(r->db, res, why, sizeof why);
            char ignored[64];
            pg_exec(r->db, "ROLLBACK", ignored, sizeof ignored);
            return fail(err, err_cap, "store: %s", why);
        }
        if (i == 0)
            changed = atoi(PQcmdTuples(res)) > 0;
        PQclear(res);
    }
    if (pg_exec(r->db, "COMMIT", why, sizeof why))
        return fail(err, err_cap, "store: %s", why);
    return changed ? 0 : 1;
}

int pg_requeue(store_reader *r, uint64_t id, char *err, size_t err_cap)
{
    /* A fresh start: attempts and age count again from now, so the
     * maximum age does not dead-letter it at once. */
    static const char *const sql[] = {
        "UPDATE deliveries SET state = 'requeued', attempts = 0, next_attempt_ms = $2::bigint,"
        " finished_ms = NULL WHERE id = $1::bigint AND state = 'dead'",
        "UPDATE messages SET created_ms = $2::bigint WHERE id = $1::bigint",
    };
    return pg_change_queue(r, id, NULL, NULL, sql, 2, err, err_cap);
}

int pg_drop(store_reader *r, uint64_t id, char *err, size_t err_cap)
{
    static const char *const sql[] = {
        "DELETE FROM deliveries WHERE id = $1::bigint AND state = 'dead'",
        "DELETE FROM messages WHERE id = $1::bigint",
        "DELETE FROM attempts WHERE notification_id = $1::bigint",
    };
    return pg_change_queue(r, id, NULL, NULL, sql, 3, err, err_cap);
}

/* Counted at every poll: the requeues and drops of readers, in this
 * process or another, change it without the writer knowing. */
void pg_count_dead_letters(pg_store *s)
{
    PGresult *r = pg_run(s->db, "SELECT count(*) FROM deliveries WHERE state = 'dead'", NULL);
    if (!pg_ok(r)) {
        char why[256];
        pg_failed(s->db, r, why, sizeof why);
        if (!s->unreachable && PQstatus(s->db) == CONNECTION_OK)
            log_warn("store", "cannot count the dead letters: %s", why);
        return;
    }
    metrics_set_dead_letters(pg_int(r, 0, 0));
    PQclear(r);
}
