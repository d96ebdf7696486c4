/* Acknowledgements (store_acknowledge): written on a connection of their
 * own, as the queue's changes are. */
#include "store/sqlite/private.h"

#include "util/error.h"

static int ack_failed(sqlite3 *db, sqlite3_stmt *q, char *err, size_t err_cap)
{
    fail(err, err_cap, "store: %s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    char ignored[64];
    sqlite_exec(db, "ROLLBACK", ignored, sizeof ignored);
    sqlite3_close(db);
    return -1;
}

/* What stopped the acknowledgement: the alert's state as it is. */
static int refused(sqlite3 *db, const char *fingerprint, char *err, size_t err_cap)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT status = 'firing' FROM alert_state WHERE fingerprint = ?1",
                           -1, &q, NULL) != SQLITE_OK)
        return ack_failed(db, q, err, err_cap);
    sqlite3_bind_text(q, 1, fingerprint, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ack_failed(db, q, err, err_cap);
    int outcome = rc == SQLITE_DONE           ? ACK_UNKNOWN
                  : sqlite3_column_int(q, 0) ? ACK_ALREADY
                                             : ACK_NOT_FIRING;
    sqlite3_finalize(q);
    return outcome;
}

int sqlite_acknowledge(store_reader *base, const char *fingerprint, const char *by,
                       const char *comment, int64_t now_ms, char *err, size_t err_cap)
{
    sqlite3 *db = sqlite_open_existing(((sqlite_reader *)base)->data_dir, 1, err, err_cap);
    if (!db)
        return -1;
    char why[256];
    if (sqlite_exec(db, "BEGIN IMMEDIATE", why, sizeof why)) {
        sqlite3_close(db);
        return fail(err, err_cap, "store: %s", why);
    }
    sqlite3_stmt *q = NULL;
    /* The condition is the guard: of two acknowledgements of one firing,
     * the second changes nothing and is told so. */
    if (sqlite3_prepare_v2(db,
                           "UPDATE alert_state SET ack_by = ?2, ack_ms = ?3, ack_comment = ?4"
                           " WHERE fingerprint = ?1 AND status = 'firing' AND ack_by IS NULL",
                           -1, &q, NULL) != SQLITE_OK)
        return ack_failed(db, q, err, err_cap);
    sqlite3_bind_text(q, 1, fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, by, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now_ms);
    sqlite3_bind_text(q, 4, comment, -1, SQLITE_STATIC); /* NULL: none */
    if (sqlite3_step(q) != SQLITE_DONE)
        return ack_failed(db, q, err, err_cap);
    sqlite3_finalize(q);
    int outcome = sqlite3_changes(db) > 0 ? ACK_DONE : refused(db, fingerprint, err, err_cap);
    if (outcome < 0)
        return -1;
    if (sqlite_exec(db, "COMMIT", why, sizeof why)) {
        sqlite3_close(db);
        return fail(err, err_cap, "store: %s", why);
    }
    sqlite3_close(db);
    return outcome;
}
