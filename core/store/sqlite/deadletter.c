#include "store/sqlite/private.h"

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"

/* "store: <SQLite's message>" in err, the connection closed; returns -1. */
static int failed(sqlite3 *db, char *err, size_t err_cap)
{
    fail(err, err_cap, "store: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return -1;
}

int sqlite_change_queue(store_reader *base, uint64_t id, const char *text3, const char *text4,
                        const char *const *sql, size_t n, char *err, size_t err_cap)
{
    /* the reader's connection is read-only: this is the one write */
    sqlite3 *db = sqlite_open_existing(((sqlite_reader *)base)->data_dir, 1, err, err_cap);
    if (!db)
        return -1;
    char why[256];
    if (sqlite_exec(db, "BEGIN IMMEDIATE", why, sizeof why))
        return failed(db, err, err_cap);
    int changed = 1;
    for (size_t i = 0; i < n && changed; i++) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(db, sql[i], -1, &q, NULL) != SQLITE_OK)
            return failed(db, err, err_cap);
        int params = sqlite3_bind_parameter_count(q);
        sqlite3_bind_int64(q, 1, (sqlite3_int64)id);
        if (params >= 2)
            sqlite3_bind_int64(q, 2, wall_ms());
        if (params >= 3)
            sqlite3_bind_text(q, 3, text3, -1, SQLITE_STATIC);
        if (params >= 4)
            sqlite3_bind_text(q, 4, text4, -1, SQLITE_STATIC);
        int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            return failed(db, err, err_cap);
        if (i == 0)
            changed = sqlite3_changes(db) > 0;
    }
    if (sqlite_exec(db, "COMMIT", why, sizeof why))
        return failed(db, err, err_cap);
    sqlite3_close(db);
    return changed ? 0 : 1;
}

int sqlite_requeue(store_reader *r, uint64_t id, char *err, size_t err_cap)
{
    /* A fresh start: attempts and age count again from now, so the
     * maximum age does not dead-letter it at once. */
    static const char *const sql[] = {
        "UPDATE deliveries SET state = 'requeued', attempts = 0, next_attempt_ms = ?2,"
        " finished_ms = NULL WHERE id = ?1 AND state = 'dead'",
        "UPDATE messages SET created_ms = ?2 WHERE id = ?1",
    };
    return sqlite_change_queue(r, id, NULL, NULL, sql, 2, err, err_cap);
}

int sqlite_drop(store_reader *r, uint64_t id, char *err, size_t err_cap)
{
    static const char *const sql[] = {
        "DELETE FROM deliveries WHERE id = ?1 AND state = 'dead'",
        "DELETE FROM messages WHERE id = ?1",
        "DELETE FROM attempts WHERE notification_id = ?1",
    };
    return sqlite_change_queue(r, id, NULL, NULL, sql, 3, err, err_cap);
}

/* One integer from a statement without arguments; -1 on error, with why. */
static long long query_integer(sqlite3 *db, const char *sql, char *why, size_t why_cap)
{
    sqlite3_stmt *q = NULL;
    long long value = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        value = sqlite3_column_int64(q, 0);
    else
        fail(why, why_cap, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return value;
}

void sqlite_count_dead_letters(sqlite_store *s, int changed)
{
    char why[256];
    /* Only other connections change data_version: the requeues and drops
     * of readers, in this process or another. */
    long long version = query_integer(s->db, "PRAGMA data_version", why, sizeof why);
    if (!changed && version == s->data_version)
        return;
    long long dead = query_integer(s->db, "SELECT COUNT(*) FROM deliveries WHERE state = 'dead'",
                                   why, sizeof why);
    if (version < 0 || dead < 0) {
        log_warn("store", "cannot count the dead letters: %s", why);
        return;
    }
    s->data_version = version;
    metrics_set_dead_letters(dead);
}
