/* Keeping the WAL small, and living through a full disk.
 *
 * SQLite's own checkpoint runs once the WAL holds 1000 pages (4 MiB):
 * on a small volume the WAL filled the disk before that, and then the
 * checkpoint that would have freed it needed room in the database file
 * that was no longer there. So the writer checkpoints itself, after its
 * writes: PASSIVE once the WAL holds the passive threshold (it never
 * waits, and lets the next write start the WAL over), TRUNCATE once the
 * WAL has grown to four times that anyway (readers kept it from starting
 * over) and whenever the disk is full, which gives the WAL's file back. */
#include "store/sqlite/private.h"

#include <errno.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"

/* What a full disk can strand in the WAL (pages the database file must
 * grow to take in) against what a checkpoint costs (a write and an fsync
 * of the database file, and every page the commits since the last one
 * rewrote, such as the indexes' last pages, copied once more): committing
 * 4 KiB notifications in batches of 64 went 40% slower with a checkpoint
 * every 256 KiB than every 4 MiB, and about 10% slower every 1 MiB; the
 * benchmark's writer spent 69 µs per request at 1 MiB and 63 at 4. So
 * the WAL may reach 4 MiB where the volume has 64 times that free, and
 * 1 MiB where it has less. */
#define WAL_PASSIVE_SMALL_BYTES (1024LL * 1024)
#define WAL_PASSIVE_LARGE_BYTES (4LL * 1024 * 1024)
#define WAL_LARGE_FREE_FACTOR 64
#define WAL_TRUNCATE_FACTOR 4

long long sqlite_wal_passive_bytes(unsigned long long free_bytes)
{
    return free_bytes >= (unsigned long long)WAL_PASSIVE_LARGE_BYTES * WAL_LARGE_FREE_FACTOR
               ? WAL_PASSIVE_LARGE_BYTES
               : WAL_PASSIVE_SMALL_BYTES;
}

checkpoint_mode sqlite_checkpoint_policy(long long wal_bytes, long long passive_bytes,
                                         int disk_full)
{
    if (disk_full || wal_bytes >= passive_bytes * WAL_TRUNCATE_FACTOR)
        return CHECKPOINT_TRUNCATE;
    return wal_bytes >= passive_bytes ? CHECKPOINT_PASSIVE : CHECKPOINT_NONE;
}

int sqlite_is_disk_full(sqlite3 *db)
{
    return sqlite3_errcode(db) == SQLITE_FULL || sqlite3_system_errno(db) == ENOSPC;
}

/* Called by SQLite after each commit on the writer's connection. */
static int count_wal_pages(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    sqlite_store *s = arg;
    s->wal_pages = pages;
    return SQLITE_OK;
}

/* The WAL's file is cut back to this size each time it starts over,
 * instead of staying as large as it ever was, and to nothing when the
 * last connection closes. */
static int limit_wal_file(sqlite3 *db, long long bytes, char *why, size_t why_cap)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit = %lld", bytes);
    return sqlite_exec(db, sql, why, why_cap);
}

/* The threshold for the volume's free space now: measured at open and
 * after each checkpoint, so a filling disk brings it down within one. */
static void follow_free_space(sqlite_store *s)
{
    struct statvfs vfs;
    long long passive = statvfs(s->data_dir, &vfs) == 0
                            ? sqlite_wal_passive_bytes((unsigned long long)vfs.f_bavail * vfs.f_frsize)
                            : WAL_PASSIVE_SMALL_BYTES;
    if (passive == s->wal_passive_bytes)
        return;
    char why[256];
    if (limit_wal_file(s->db, passive, why, sizeof why)) {
        log_warn("store", "cannot set the WAL's size limit of %s: %s", s->path, why);
        return;
    }
    s->wal_passive_bytes = passive;
}

int sqlite_keep_wal_files(sqlite3 *db, char *why, size_t why_cap)
{
    if (limit_wal_file(db, WAL_PASSIVE_SMALL_BYTES, why, why_cap))
        return -1;
    /* ... but neither it nor the WAL index (-shm) is deleted then: SQLite
     * cannot open a WAL database whose index it cannot create, and on a
     * full disk it could not, so a restart would fail. */
    int persist = 1;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist) != SQLITE_OK)
        return fail(why, why_cap, "cannot keep the WAL's files: %s", sqlite3_errmsg(db));
    return 0;
}

int sqlite_manage_wal(sqlite_store *s, char *why, size_t why_cap)
{
    if (sqlite_keep_wal_files(s->db, why, why_cap))
        return -1;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA page_size", -1, &q, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
        s->page_size = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW)
        return fail(why, why_cap, "%s", sqlite3_errmsg(s->db));
    s->wal_passive_bytes = WAL_PASSIVE_SMALL_BYTES;
    follow_free_space(s);
    /* Replaces SQLite's automatic checkpoint, which is a WAL hook too. */
    sqlite3_wal_hook(s->db, count_wal_pages, s);
    return 0;
}

void sqlite_checkpoint(sqlite_store *s, checkpoint_mode mode)
{
    if (mode == CHECKPOINT_NONE)
        return;
    int rc = sqlite3_wal_checkpoint_v2(
        s->db, NULL,
        mode == CHECKPOINT_TRUNCATE ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE, NULL,
        NULL);
    if (rc == SQLITE_OK) {
        if (mode == CHECKPOINT_TRUNCATE)
            s->wal_pages = 0;
        s->checkpoint_failing = 0;
        follow_free_space(s);
    } else if (rc != SQLITE_BUSY && !s->checkpoint_failing) {
        /* Once per failing stretch: on a full disk it fails every second. */
        s->checkpoint_failing = 1;
        log_warn("store", "cannot checkpoint the WAL of %s (it keeps growing until it can): %s",
                 s->path, sqlite3_errmsg(s->db));
    }
}

void sqlite_checkpoint_after_write(sqlite_store *s)
{
    sqlite_checkpoint(s, sqlite_checkpoint_policy((long long)s->wal_pages * s->page_size,
                                                  s->wal_passive_bytes, s->disk_full));
}

void sqlite_disk_full_begins(sqlite_store *s)
{
    if (s->disk_full)
        return;
    s->disk_full = 1;
    metrics_set_store_disk_full(1);
    log_error("store", "disk full at %s; answering 503 until space returns", s->data_dir);
}

void sqlite_disk_full_ends(sqlite_store *s)
{
    if (!s->disk_full)
        return;
    s->disk_full = 0;
    metrics_set_store_disk_full(0);
    log_info("store", "space returned at %s; accepting alerts again", s->data_dir);
}
