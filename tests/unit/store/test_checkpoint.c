/* The writer's checkpoints: when they happen, and that the data then
 * lives in the database file and not in an ever longer WAL. */
#include "harness.h"

#include <sys/stat.h>

#include "store/sqlite/private.h"
#include "store/store.h"
#include "store/store_fixture.h"
#include "testutil.h"

TEST(policy_checkpoints_by_wal_size_and_on_a_full_disk)
{
    CHECK_INT(sqlite_checkpoint_policy(0, 0), CHECKPOINT_NONE);
    CHECK_INT(sqlite_checkpoint_policy(1024 * 1024 - 1, 0), CHECKPOINT_NONE);
    CHECK_INT(sqlite_checkpoint_policy(1024 * 1024, 0), CHECKPOINT_PASSIVE);
    CHECK_INT(sqlite_checkpoint_policy(4 * 1024 * 1024 - 1, 0), CHECKPOINT_PASSIVE);
    /* passive ones could not start the WAL over: readers held it */
    CHECK_INT(sqlite_checkpoint_policy(4 * 1024 * 1024, 0), CHECKPOINT_TRUNCATE);
    /* a full disk gives the WAL's file back whatever its size */
    CHECK_INT(sqlite_checkpoint_policy(0, 1), CHECKPOINT_TRUNCATE);
    CHECK_INT(sqlite_checkpoint_policy(1100 * 1024, 1), CHECKPOINT_TRUNCATE);
}

static long long file_size(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* 3 MiB committed in 64 KiB notifications: SQLite's own checkpoint would
 * wait for 4 MiB of WAL and leave the database file empty; the writer's
 * keep the WAL near 1 MiB. */
TEST(commits_land_in_the_database_file)
{
    char *dir = test_tmpdir();
    store_settings settings = {0, 30LL * 86400 * 1000, 3600000, 0};
    char err[512];
    store *s = store_open(&(store_location){.data_dir = dir}, &settings, err, sizeof err);
    CHECK(s != NULL);
    CHECK_INT(store_start(s, ignore_requeued, NULL, err, sizeof err), 0);
    char *big = xcalloc(1, 64 * 1024 + 1);
    memset(big, 'x', 64 * 1024);
    int failed = 0;
    for (int i = 0; i < 48; i++) {
        notification *n = make("ops", "BigText", "db1", 1795238566000LL + i);
        free(n->content.text);
        n->content.text = xstrdup(big);
        failed |= commit(s, &n, 1);
        notification_free(n);
    }
    long long wal = file_size(dir, "herald.db-wal"), db = file_size(dir, "herald.db");
    store_close(s);
    free(big);
    test_rmtree(dir);
    free(dir);
    CHECK_INT(failed, 0);
    if (wal > 1280 * 1024 || db < 1792 * 1024)
        FAIL_AT("WAL %lld bytes, database %lld bytes: the checkpoints did not happen", wal, db);
}

RUN_TESTS(CASE(policy_checkpoints_by_wal_size_and_on_a_full_disk),
          CASE(commits_land_in_the_database_file))
