/* Action links' keys and uses (action/token.h), on a connection of their
 * own as silences are: few rows, written when a key is made or a link
 * is used. */
#include "store/sqlite/private.h"

#include <stdlib.h>

#include <openssl/crypto.h>

#include "store/actions_hex.h"
#include "util/error.h"

static int failed(sqlite3 *db, sqlite3_stmt *q, char *err, size_t err_cap)
{
    fail(err, err_cap, "store: %s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return -1;
}

static int insert_key(sqlite3 *db, const action_key *k, const char *verb)
{
    char hex[ACTION_SECRET_HEX];
    action_secret_to_hex(k, hex);
    char sql[96];
    snprintf(sql, sizeof sql, "%s INTO action_keys(id, secret, created_ms) VALUES(?1, ?2, ?3)",
             verb);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK ? 0 : -1;
    if (!rc) {
        sqlite3_bind_int64(q, 1, k->id);
        sqlite3_bind_text(q, 2, hex, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, k->created_ms);
        rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(q);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}

static int read_keys(sqlite3 *db, action_keyring *ring, char *err, size_t err_cap)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, secret, created_ms FROM action_keys ORDER BY id", -1,
                           &q, NULL) != SQLITE_OK)
        return failed(db, q, err, err_cap);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        action_key k = {.id = sqlite3_column_int64(q, 0),
                        .created_ms = sqlite3_column_int64(q, 2)};
        if (action_secret_from_hex((const char *)sqlite3_column_text(q, 1), &k))
            continue; /* not a key: never signs nor verifies */
        ring->keys = add_row(ring->keys, &ring->len, sizeof *ring->keys);
        ring->keys[ring->len - 1] = k;
        OPENSSL_cleanse(&k, sizeof k);
    }
    if (rc != SQLITE_DONE) {
        action_keyring_free(ring);
        return failed(db, q, err, err_cap);
    }
    sqlite3_finalize(q);
    return 0;
}

int sqlite_action_keys(store_reader *base, int64_t now_ms, action_keyring *ring, char *err,
                       size_t err_cap)
{
    *ring = (action_keyring){0};
    sqlite3 *db = sqlite_open_existing(((sqlite_reader *)base)->data_dir, 1, err, err_cap);
    if (!db)
        return -1;
    if (read_keys(db, ring, err, err_cap))
        return -1;
    if (!ring->len) {
        action_key k;
        if (action_key_generate(1, now_ms, &k)) {
            sqlite3_close(db);
            return fail(err, err_cap, "action links: no random bytes for a key");
        }
        int rc = insert_key(db, &k, "INSERT OR IGNORE");
        OPENSSL_cleanse(&k, sizeof k);
        if (rc || read_keys(db, ring, err, err_cap))
            return rc ? failed(db, NULL, err, err_cap) : -1;
    }
    sqlite3_close(db);
    return 0;
}

int sqlite_action_key_rotate(store_reader *base, int64_t now_ms, action_key *out, char *err,
                             size_t err_cap)
{
    action_keyring ring;
    if (sqlite_action_keys(base, now_ms, &ring, err, err_cap))
        return -1;
    int64_t id = action_keyring_current(&ring)->id + 1;
    action_keyring_free(&ring);
    sqlite3 *db = sqlite_open_existing(((sqlite_reader *)base)->data_dir, 1, err, err_cap);
    if (!db)
        return -1;
    if (action_key_generate(id, now_ms, out)) {
        sqlite3_close(db);
        return fail(err, err_cap, "action links: no random bytes for a key");
    }
    if (insert_key(db, out, "INSERT"))
        return failed(db, NULL, err, err_cap);
    /* A key whose successor came before the longest a link lives signs
     * nothing that could still be followed. */
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "DELETE FROM action_keys WHERE id IN (SELECT k.id FROM action_keys k"
                           " JOIN action_keys n ON n.id = k.id + 1 WHERE n.created_ms < ?1)",
                           -1, &q, NULL) != SQLITE_OK)
        return failed(db, q, err, err_cap);
    sqlite3_bind_int64(q, 1, now_ms - ACTION_MAX_TTL_MS);
    if (sqlite3_step(q) != SQLITE_DONE)
        return failed(db, q, err, err_cap);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return 0;
}

int sqlite_action_use(store_reader *base, const char *nonce, const char *who, int64_t now_ms,
                      int64_t expires_ms, char **prior_who, int64_t *prior_ms, char *err,
                      size_t err_cap)
{
    *prior_who = NULL;
    *prior_ms = 0;
    sqlite3 *db = sqlite_open_existing(((sqlite_reader *)base)->data_dir, 1, err, err_cap);
    if (!db)
        return -1;
    sqlite3_stmt *q = NULL;
    /* Uses of expired links go: such a link is refused as expired anyway. */
    if (sqlite3_prepare_v2(db, "DELETE FROM action_uses WHERE expires_ms < ?1", -1, &q, NULL) !=
            SQLITE_OK)
        return failed(db, q, err, err_cap);
    sqlite3_bind_int64(q, 1, now_ms);
    if (sqlite3_step(q) != SQLITE_DONE)
        return failed(db, q, err, err_cap);
    sqlite3_finalize(q);
    if (sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO action_uses(nonce, used_by, used_ms, expires_ms)"
                           " VALUES(?1, ?2, ?3, ?4)",
                           -1, &q, NULL) != SQLITE_OK)
        return failed(db, q, err, err_cap);
    sqlite3_bind_text(q, 1, nonce, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, who, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now_ms);
    sqlite3_bind_int64(q, 4, expires_ms);
    if (sqlite3_step(q) != SQLITE_DONE)
        return failed(db, q, err, err_cap);
    sqlite3_finalize(q);
    if (sqlite3_changes(db) > 0) {
        sqlite3_close(db);
        return 0;
    }
    if (sqlite3_prepare_v2(db, "SELECT used_by, used_ms FROM action_uses WHERE nonce = ?1", -1,
                           &q, NULL) != SQLITE_OK)
        return failed(db, q, err, err_cap);
    sqlite3_bind_text(q, 1, nonce, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        *prior_who = sqlite_column_text(q, 0);
        *prior_ms = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return 1;
}

int sqlite_action_used(store_reader *base, const char *nonce, char **who, int64_t *used_ms,
                       char *err, size_t err_cap)
{
    sqlite_reader *r = (sqlite_reader *)base;
    *who = NULL;
    *used_ms = 0;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT used_by, used_ms FROM action_uses WHERE nonce = ?1",
                           -1, &q, NULL) != SQLITE_OK)
        return read_failed(r, q, err, err_cap);
    sqlite3_bind_text(q, 1, nonce, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *who = sqlite_column_text(q, 0);
        *used_ms = sqlite3_column_int64(q, 1);
    } else if (rc != SQLITE_DONE) {
        return read_failed(r, q, err, err_cap);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW;
}

int sqlite_action_unuse(store_reader *base, const char *nonce, char *err, size_t err_cap)
{
    sqlite3 *db = sqlite_open_existing(((sqlite_reader *)base)->data_dir, 1, err, err_cap);
    if (!db)
        return -1;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM action_uses WHERE nonce = ?1", -1, &q, NULL) !=
            SQLITE_OK)
        return failed(db, q, err, err_cap);
    sqlite3_bind_text(q, 1, nonce, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE)
        return failed(db, q, err, err_cap);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return 0;
}
