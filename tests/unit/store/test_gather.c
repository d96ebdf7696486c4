/* The writer's VFS (store/sqlite/gather.c) gathers writes to the WAL and
 * the database file: whatever a connection through it commits, another
 * connection through the default VFS reads back whole, and the database
 * checks intact after checkpoints. */
#include "harness.h"

#include <sqlite3.h>

#include "store/fresh_dir.h"
#include "store/sqlite/private.h"
#include "testutil.h"
#include "util/strbuf.h"

static sqlite3 *open_db(const char *vfs)
{
    char path[512];
    snprintf(path, sizeof path, "%s/gather.db", dir);
    sqlite3 *db = NULL;
    /* A failed open still gives a handle, whose every query then fails */
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        FAIL_AT("%s: %s", sql, err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
}

/* The first column of the query's first row as text, or the error. */
static char *text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    char *value;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        value = xstrdup(sqlite3_column_type(q, 0) == SQLITE_NULL
                            ? "NULL"
                            : (const char *)sqlite3_column_text(q, 0));
    else {
        strbuf error = STRBUF_INIT;
        sb_printf(&error, "error: %s", sqlite3_errmsg(db));
        value = sb_take(&error);
    }
    sqlite3_finalize(q);
    return value;
}

static long long number(sqlite3 *db, const char *sql)
{
    char *value = text(db, sql);
    long long n = strncmp(value, "error: ", 7) == 0 ? -1 : atoll(value);
    if (n < 0)
        fprintf(stderr, "  %s: %s\n", sql, value);
    free(value);
    return n;
}

static sqlite3 *open_writer(void)
{
    sqlite_register_gather_vfs();
    sqlite3 *db = open_db(SQLITE_GATHER_VFS);
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
             "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    return db;
}

/* Checkpoints what the writer committed (its gathered writes to the
 * database file), closes it, and checks the database it leaves. */
static void checkpoint_close_and_check(sqlite3 *writer)
{
    CHECK_INT(sqlite3_wal_checkpoint_v2(writer, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(writer);
    sqlite3 *db = open_db(NULL);
    char *result = text(db, "PRAGMA integrity_check");
    CHECK_STR(result, "ok");
    free(result);
    sqlite3_close(db);
}

/* Rows of a page or so, and one body of 1 MiB: writes larger than what
 * is gathered at once, and larger than the default VFS takes in one call
 * (128 KiB), go through whole. */
TEST(a_commit_is_read_back_whole_by_another_connection)
{
    sqlite3 *writer = open_writer();
    exec(writer, "BEGIN;"
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)"
                 "  INSERT INTO t(id, body) SELECT i, zeroblob(3000) || randomblob(i) FROM n;"
                 "INSERT INTO t(id, body) VALUES (1000, randomblob(1048576));"
                 "COMMIT");
    long long written = number(writer, "SELECT sum(length(body)) FROM t");
    char *digest = text(writer, "SELECT group_concat(hex(substr(body, -8)), '') FROM t");
    sqlite3 *reader = open_db(NULL);
    CHECK_INT(number(reader, "SELECT count(*) FROM t"), 301);
    CHECK_INT(number(reader, "SELECT sum(length(body)) FROM t"), written);
    char *read = text(reader, "SELECT group_concat(hex(substr(body, -8)), '') FROM t");
    CHECK_STR(read, digest);
    sqlite3_close(reader);
    checkpoint_close_and_check(writer);
    free(read);
    free(digest);
}

/* A transaction larger than the page cache spills pages into the WAL
 * before its commit and writes some of them again: the last version is
 * the one read. */
TEST(pages_written_again_in_one_transaction_keep_the_last_version)
{
    sqlite3 *writer = open_writer();
    exec(writer, "PRAGMA cache_size = 8;"
                 "BEGIN;"
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)"
                 "  INSERT INTO t(id, body) SELECT i, zeroblob(500) FROM n;"
                 "UPDATE t SET body = randomblob(500);"
                 "UPDATE t SET body = printf('%0500d', id);"
                 "COMMIT");
    sqlite3 *reader = open_db(NULL);
    CHECK_INT(number(reader, "SELECT count(*) FROM t WHERE body = printf('%0500d', id)"), 400);
    sqlite3_close(reader);
    checkpoint_close_and_check(writer);
}

WRAP(a_commit_is_read_back_whole_by_another_connection)
WRAP(pages_written_again_in_one_transaction_keep_the_last_version)

RUN_TESTS(WCASE(a_commit_is_read_back_whole_by_another_connection),
          WCASE(pages_written_again_in_one_transaction_keep_the_last_version))
