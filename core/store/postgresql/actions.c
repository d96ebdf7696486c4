/* Action links' keys and uses (action/token.h), shared by every replica
 * on the database: on the reader's connection, as silences are. */
#include "store/postgresql/private.h"

#include <stdlib.h>

#include <openssl/crypto.h>

#include "store/actions_hex.h"
#include "util/error.h"

static int usable(pg_reader *r, char *err, size_t err_cap)
{
    char why[256];
    return pg_reconnect_if_lost(r->db, why, sizeof why) ? fail(err, err_cap, "store: %s", why)
                                                        : 0;
}

static int insert_key(pg_reader *r, const action_key *k, const char *conflict, char *err,
                      size_t err_cap)
{
    char hex[ACTION_SECRET_HEX];
    action_secret_to_hex(k, hex);
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, k->id);
    pp_text(&p, hex);
    pp_int(&p, k->created_ms);
    char sql[160], why[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO action_keys(id, secret, created_ms) VALUES($1, $2, $3)%s", conflict);
    int rc = pg_command(r->db, sql, &p, why, sizeof why);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc ? fail(err, err_cap, "store: %s", why) : 0;
}

static int read_keys(pg_reader *r, action_keyring *ring, char *err, size_t err_cap)
{
    PGresult *res = pg_run(r->db, "SELECT id, secret, created_ms FROM action_keys ORDER BY id",
                           NULL);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    for (int i = 0; i < PQntuples(res); i++) {
        action_key k = {.id = pg_int(res, i, 0), .created_ms = pg_int(res, i, 2)};
        if (action_secret_from_hex(PQgetvalue(res, i, 1), &k))
            continue;
        ring->keys = pg_add_row(ring->keys, &ring->len, sizeof *ring->keys);
        ring->keys[ring->len - 1] = k;
        OPENSSL_cleanse(&k, sizeof k);
    }
    PQclear(res);
    return 0;
}

int pg_action_keys(store_reader *base, int64_t now_ms, action_keyring *ring, char *err,
                   size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    *ring = (action_keyring){0};
    if (usable(r, err, err_cap) || read_keys(r, ring, err, err_cap))
        return -1;
    if (ring->len)
        return 0;
    action_key k;
    if (action_key_generate(1, now_ms, &k))
        return fail(err, err_cap, "action links: no random bytes for a key");
    /* Replicas starting together: the first key stored is everyone's. */
    int rc = insert_key(r, &k, " ON CONFLICT (id) DO NOTHING", err, err_cap);
    OPENSSL_cleanse(&k, sizeof k);
    return rc || read_keys(r, ring, err, err_cap) ? -1 : 0;
}

int pg_action_key_rotate(store_reader *base, int64_t now_ms, action_key *out, char *err,
                         size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    action_keyring ring;
    if (pg_action_keys(base, now_ms, &ring, err, err_cap))
        return -1;
    int64_t id = action_keyring_current(&ring)->id + 1;
    action_keyring_free(&ring);
    if (action_key_generate(id, now_ms, out))
        return fail(err, err_cap, "action links: no random bytes for a key");
    if (insert_key(r, out, "", err, err_cap))
        return -1;
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, now_ms - ACTION_MAX_TTL_MS);
    char why[256];
    if (pg_command(r->db,
                   "DELETE FROM action_keys WHERE id IN (SELECT k.id FROM action_keys k"
                   " JOIN action_keys n ON n.id = k.id + 1 WHERE n.created_ms < $1)",
                   &p, why, sizeof why))
        return fail(err, err_cap, "store: %s", why);
    return 0;
}

int pg_action_use(store_reader *base, const char *nonce, const char *who, int64_t now_ms,
                  int64_t expires_ms, char **prior_who, int64_t *prior_ms, char *err,
                  size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    *prior_who = NULL;
    *prior_ms = 0;
    if (usable(r, err, err_cap))
        return -1;
    pg_params sweep = PG_PARAMS_INIT;
    pp_int(&sweep, now_ms);
    char why[256];
    if (pg_command(r->db, "DELETE FROM action_uses WHERE expires_ms < $1", &sweep, why,
                   sizeof why))
        return fail(err, err_cap, "store: %s", why);
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, nonce);
    pp_text(&p, who);
    pp_int(&p, now_ms);
    pp_int(&p, expires_ms);
    /* One statement: two replicas taking the same link cannot both win. */
    PGresult *res = pg_run(r->db,
                           "WITH taken AS (INSERT INTO action_uses(nonce, used_by, used_ms,"
                           "  expires_ms) VALUES($1, $2, $3, $4) ON CONFLICT (nonce) DO NOTHING"
                           "  RETURNING nonce)"
                           " SELECT (SELECT count(*) FROM taken), used_by, used_ms"
                           " FROM (SELECT 1) one LEFT JOIN action_uses u ON u.nonce = $1",
                           &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    int taken = pg_int(res, 0, 0) > 0;
    if (!taken && !PQgetisnull(res, 0, 1)) {
        *prior_who = pg_text(res, 0, 1);
        *prior_ms = pg_int(res, 0, 2);
    }
    PQclear(res);
    return taken ? 0 : 1;
}

int pg_action_used(store_reader *base, const char *nonce, char **who, int64_t *used_ms,
                   char *err, size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    *who = NULL;
    *used_ms = 0;
    if (usable(r, err, err_cap))
        return -1;
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, nonce);
    PGresult *res = pg_run(r->db, "SELECT used_by, used_ms FROM action_uses WHERE nonce = $1", &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    int used = PQntuples(res) > 0;
    if (used) {
        *who = pg_text(res, 0, 0);
        *used_ms = pg_int(res, 0, 1);
    }
    PQclear(res);
    return used;
}

int pg_action_unuse(store_reader *base, const char *nonce, char *err, size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    if (usable(r, err, err_cap))
        return -1;
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, nonce);
    char why[256];
    if (pg_command(r->db, "DELETE FROM action_uses WHERE nonce = $1", &p, why, sizeof why))
        return fail(err, err_cap, "store: %s", why);
    return 0;
}
