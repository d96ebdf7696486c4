/* The writer's checkpoints: when they happen, and that the data then
 * lives in the database file and not in an ever longer WAL. */
#include "harness.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include "store/sqlite/private.h"
#include "store/store.h"
#include "store/store_fixture.h"
#include "testutil.h"

#define MIB (1024LL * 1024)

TEST(policy_checkpoints_by_wal_size_and_on_a_full_disk)
{
    CHECK_INT(sqlite_checkpoint_policy(0, MIB, 0), CHECKPOINT_NONE);
    CHECK_INT(sqlite_checkpoint_policy(MIB - 1, MIB, 0), CHECKPOINT_NONE);
    CHECK_INT(sqlite_checkpoint_policy(MIB, MIB, 0), CHECKPOINT_PASSIVE);
    CHECK_INT(sqlite_checkpoint_policy(4 * MIB - 1, MIB, 0), CHECKPOINT_PASSIVE);
    /* passive ones could not start the WAL over: readers held it */
    CHECK_INT(sqlite_checkpoint_policy(4 * MIB, MIB, 0), CHECKPOINT_TRUNCATE);
    CHECK_INT(sqlite_checkpoint_policy(4 * MIB, 4 * MIB, 0), CHECKPOINT_PASSIVE);
    CHECK_INT(sqlite_checkpoint_policy(16 * MIB, 4 * MIB, 0), CHECKPOINT_TRUNCATE);
    /* a full disk gives the WAL's file back whatever its size */
    CHECK_INT(sqlite_checkpoint_policy(0, MIB, 1), CHECKPOINT_TRUNCATE);
    CHECK_INT(sqlite_checkpoint_policy(1100 * 1024, 4 * MIB, 1), CHECKPOINT_TRUNCATE);
}

/* A small volume keeps the WAL at 1 MiB; one with 64 times 4 MiB free
 * lets it reach 4 MiB, checkpointing less often. */
TEST(the_wal_may_grow_larger_where_the_volume_has_room)
{
    CHECK_INT(sqlite_wal_passive_bytes(0), MIB);
    CHECK_INT(sqlite_wal_passive_bytes(4 * MIB), MIB);
    CHECK_INT(sqlite_wal_passive_bytes(256 * MIB - 1), MIB);
    CHECK_INT(sqlite_wal_passive_bytes(256 * MIB), 4 * MIB);
    CHECK_INT(sqlite_wal_passive_bytes(80000 * MIB), 4 * MIB);
}

static long long file_size(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* Three times the threshold committed in 64 KiB notifications: without
 * the writer's checkpoints the WAL would hold them all (SQLite's own waits
 * for 4 MiB) and the database file would stay empty. */
TEST(commits_land_in_the_database_file)
{
    char *dir = test_tmpdir();
    struct statvfs vfs;
    CHECK_INT(statvfs(dir, &vfs), 0);
    long long passive = sqlite_wal_passive_bytes((unsigned long long)vfs.f_bavail * vfs.f_frsize);
    store_settings settings = {0, 30LL * 86400 * 1000, 3600000, 0};
    char err[512];
    store *s = store_open(&(store_location){.data_dir = dir}, &settings, err, sizeof err);
    CHECK(s != NULL);
    CHECK_INT(store_start(s, ignore_requeued, NULL, err, sizeof err), 0);
    char *big = xcalloc(1, 64 * 1024 + 1);
    memset(big, 'x', 64 * 1024);
    int failed = 0;
    for (int i = 0; i < 3 * passive / (64 * 1024); i++) {
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
    if (wal > passive * 5 / 4 || db < passive * 7 / 4)
        FAIL_AT("WAL %lld bytes, database %lld bytes: the checkpoints at %lld bytes did not happen",
                wal, db, passive);
}

RUN_TESTS(CASE(policy_checkpoints_by_wal_size_and_on_a_full_disk),
          CASE(the_wal_may_grow_larger_where_the_volume_has_room),
          CASE(commits_land_in_the_database_file))
