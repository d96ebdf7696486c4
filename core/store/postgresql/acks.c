/* Acknowledgements (store_acknowledge), shared by every replica on the
 * database: written on the reader's connection. */
#include "store/postgresql/private.h"

#include "util/error.h"

int pg_acknowledge(store_reader *base, const char *fingerprint, const char *by,
                   const char *comment, int64_t now_ms, char *err, size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    char why[256];
    if (pg_reconnect_if_lost(r->db, why, sizeof why))
        return fail(err, err_cap, "store: %s", why);
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, fingerprint);
    pp_text(&p, by);
    pp_int(&p, now_ms);
    pp_text(&p, comment); /* NULL: none */
    /* The UPDATE's condition is the guard: of acknowledgements racing on
     * one firing, the row lock lets one through and the others find it
     * taken. The outer reads see the row as it was before. */
    PGresult *res = pg_run(r->db,
                           "WITH acked AS (UPDATE alert_state SET ack_by = $2, ack_ms = $3::bigint,"
                           "  ack_comment = $4 WHERE fingerprint = $1 AND status = 'firing'"
                           "  AND ack_by IS NULL RETURNING fingerprint)"
                           " SELECT (SELECT count(*) FROM acked),"
                           "  (SELECT count(*) FROM alert_state WHERE fingerprint = $1),"
                           "  (SELECT count(*) FROM alert_state WHERE fingerprint = $1"
                           "   AND status = 'firing')",
                           &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    int acked = pg_int(res, 0, 0) > 0, exists = pg_int(res, 0, 1) > 0,
        firing = pg_int(res, 0, 2) > 0;
    PQclear(res);
    return acked ? ACK_DONE : !exists ? ACK_UNKNOWN : firing ? ACK_ALREADY : ACK_NOT_FIRING;
}
