/* Silences (alert/silence.h), shared by every replica on the database:
 * added, expired and listed on the reader's connection. */
#include "store/postgresql/private.h"

#include <stdlib.h>

#include "util/error.h"

static int usable(pg_reader *r, char *err, size_t err_cap)
{
    char why[256];
    return pg_reconnect_if_lost(r->db, why, sizeof why) ? fail(err, err_cap, "store: %s", why)
                                                        : 0;
}

int pg_silence_add(store_reader *base, const silence *s, char *err, size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    if (usable(r, err, err_cap))
        return -1;
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, s->id);
    pp_text(&p, s->matchers);
    pp_int(&p, s->starts_ms);
    pp_int(&p, s->ends_ms);
    pp_text(&p, s->created_by);
    pp_text(&p, s->comment);
    pp_int(&p, s->created_ms);
    char why[256];
    if (pg_command(r->db,
                   "INSERT INTO silences(id, matchers, starts_ms, ends_ms, created_by, comment,"
                   " created_ms) VALUES($1, $2, $3, $4, $5, $6, $7)",
                   &p, why, sizeof why))
        return fail(err, err_cap, "store: %s", why);
    return 0;
}

int pg_silence_expire(store_reader *base, const char *id, int64_t now_ms, char *err,
                      size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    if (usable(r, err, err_cap))
        return -1;
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, id);
    pp_int(&p, now_ms);
    /* one statement: whether it exists, and whether this ended it */
    PGresult *res = pg_run(r->db,
                           "WITH ended AS (UPDATE silences SET ends_ms = $2::bigint"
                           "  WHERE id = $1 AND ends_ms > $2::bigint RETURNING id)"
                           " SELECT (SELECT count(*) FROM ended),"
                           "  (SELECT count(*) FROM silences WHERE id = $1)",
                           &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    int ended = pg_int(res, 0, 0) > 0, exists = pg_int(res, 0, 1) > 0;
    PQclear(res);
    return ended ? 0 : exists ? 2 : 1;
}

int pg_silences(store_reader *base, int all, int64_t now_ms, silence_rows *rows, char *err,
                size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    *rows = (silence_rows){0};
    if (usable(r, err, err_cap))
        return -1;
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, all);
    pp_int(&p, now_ms);
    PGresult *res = pg_run(r->db,
                           "SELECT id, matchers, starts_ms, ends_ms, created_by, comment,"
                           " created_ms FROM silences WHERE $1::int = 1 OR (starts_ms <= $2::bigint"
                           " AND ends_ms > $2::bigint) ORDER BY created_ms DESC, id",
                           &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    for (int i = 0; i < PQntuples(res); i++) {
        rows->items = pg_add_row(rows->items, &rows->len, sizeof *rows->items);
        silence *s = &rows->items[rows->len - 1];
        s->id = pg_text(res, i, 0);
        s->matchers = pg_text(res, i, 1);
        s->starts_ms = pg_int(res, i, 2);
        s->ends_ms = pg_int(res, i, 3);
        s->created_by = pg_text(res, i, 4);
        s->comment = pg_text(res, i, 5);
        s->created_ms = pg_int(res, i, 6);
    }
    PQclear(res);
    return 0;
}
