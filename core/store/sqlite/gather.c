/* The writer's writes, gathered into few large ones.
 *
 * A commit appends one frame per page to the WAL, and SQLite writes each
 * frame with two system calls (its header, then the page); a checkpoint
 * then writes each page to the database file with one more. A commit of
 * 47 requests was some 340 calls, and its checkpoint 170: gathered, the
 * writer spends a fifth less per request. This VFS, over the default one,
 * keeps consecutive writes to the WAL or the database file in memory and
 * hands them to the file in one write before anything else is done with
 * that file (a sync, a read, its size, a lock, a file control), or when
 * GATHER_MAX bytes are waiting.
 *
 * It relies on the writer's synchronous=FULL: SQLite then syncs the WAL
 * before it makes a commit's frames visible to readers (the wal-index),
 * and the database file before it records a checkpoint's pages as copied,
 * so no reader ever looks in a file for bytes still gathered here. */
#include "store/sqlite/private.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

/* The most the default VFS writes in one call: it cuts a longer write
 * short and reports a full disk. A commit of 47 requests, about 700 KiB
 * of WAL, is then six writes. */
#define GATHER_MAX (((size_t)128 << 10) - 1)

typedef struct gather_file {
    sqlite3_file base;
    sqlite3_file *real;  /* the default VFS's file, right after this struct */
    int gathers;         /* the WAL or the database file */
    char *bytes;         /* GATHER_MAX bytes, from the first write gathered */
    size_t len;
    sqlite3_int64 start; /* the file offset of bytes[0] */
} gather_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs gather_vfs;

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((gather_file *)f)->real;
}

static int flush(gather_file *g)
{
    if (!g->len)
        return SQLITE_OK;
    int rc = g->real->pMethods->xWrite(g->real, g->bytes, (int)g->len, g->start);
    g->len = 0;
    return rc;
}

static int gather_write(sqlite3_file *f, const void *data, int amount, sqlite3_int64 offset)
{
    gather_file *g = (gather_file *)f;
    size_t n = (size_t)amount;
    if (!g->gathers)
        return g->real->pMethods->xWrite(g->real, data, amount, offset);
    /* A frame written again in the same transaction lands in place. */
    if (g->len && offset >= g->start && offset + amount <= g->start + (sqlite3_int64)g->len) {
        memcpy(g->bytes + (offset - g->start), data, n);
        return SQLITE_OK;
    }
    if (g->len && (offset != g->start + (sqlite3_int64)g->len || g->len + n > GATHER_MAX)) {
        int rc = flush(g);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (n > GATHER_MAX)
        return g->real->pMethods->xWrite(g->real, data, amount, offset);
    if (!g->bytes)
        g->bytes = xmalloc(GATHER_MAX);
    if (!g->len)
        g->start = offset;
    memcpy(g->bytes + g->len, data, n);
    g->len += n;
    return SQLITE_OK;
}

static int gather_read(sqlite3_file *f, void *data, int amount, sqlite3_int64 offset)
{
    int rc = flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xRead(real_of(f), data, amount, offset);
}

static int gather_sync(sqlite3_file *f, int flags)
{
    int rc = flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int gather_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int gather_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int gather_close(sqlite3_file *f)
{
    gather_file *g = (gather_file *)f;
    int flushed = flush(g);
    int rc = g->real->pMethods->xClose(g->real);
    free(g->bytes);
    g->bytes = NULL;
    return flushed != SQLITE_OK ? flushed : rc;
}

static int gather_lock(sqlite3_file *f, int level)
{
    int rc = flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xLock(real_of(f), level);
}

/* Unlocked even when the flush fails, as a close closes: a lock kept
 * would stop every other connection. */
static int gather_unlock(sqlite3_file *f, int level)
{
    int flushed = flush((gather_file *)f);
    int rc = real_of(f)->pMethods->xUnlock(real_of(f), level);
    return flushed != SQLITE_OK ? flushed : rc;
}

static int gather_check_reserved(sqlite3_file *f, int *reserved)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), reserved);
}

/* Passed on even when the flush fails: SQLite may read what the control
 * sets whatever it returns. */
static int gather_file_control(sqlite3_file *f, int op, void *arg)
{
    int flushed = flush((gather_file *)f);
    int rc = real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
    return flushed != SQLITE_OK ? flushed : rc;
}

static int gather_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int gather_device_characteristics(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int gather_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **at)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, at);
}

static int gather_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void gather_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int gather_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int gather_fetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **at)
{
    int rc = flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFetch(real_of(f), offset, amount, at);
}

static int gather_unfetch(sqlite3_file *f, sqlite3_int64 offset, void *at)
{
    return real_of(f)->pMethods->xUnfetch(real_of(f), offset, at);
}

static const sqlite3_io_methods gather_methods = {
    .iVersion = 3,
    .xClose = gather_close,
    .xRead = gather_read,
    .xWrite = gather_write,
    .xTruncate = gather_truncate,
    .xSync = gather_sync,
    .xFileSize = gather_file_size,
    .xLock = gather_lock,
    .xUnlock = gather_unlock,
    .xCheckReservedLock = gather_check_reserved,
    .xFileControl = gather_file_control,
    .xSectorSize = gather_sector_size,
    .xDeviceCharacteristics = gather_device_characteristics,
    .xShmMap = gather_shm_map,
    .xShmLock = gather_shm_lock,
    .xShmBarrier = gather_shm_barrier,
    .xShmUnmap = gather_shm_unmap,
    .xFetch = gather_fetch,
    .xUnfetch = gather_unfetch,
};

static int gather_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
                       int *out_flags)
{
    (void)vfs;
    gather_file *g = (gather_file *)f;
    memset(g, 0, sizeof *g);
    g->real = (sqlite3_file *)(g + 1);
    int rc = real_vfs->xOpen(real_vfs, name, g->real, flags, out_flags);
    /* SQLite closes a file that has methods, even when its open failed,
     * and closing this one closes the default VFS's. */
    g->base.pMethods = g->real->pMethods ? &gather_methods : NULL;
    g->gathers = (flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_DB)) != 0;
    return rc;
}

static void register_gather_vfs(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    gather_vfs = *real_vfs;
    gather_vfs.szOsFile = (int)sizeof(gather_file) + real_vfs->szOsFile;
    gather_vfs.zName = SQLITE_GATHER_VFS;
    gather_vfs.xOpen = gather_open;
    gather_vfs.pNext = NULL;
    sqlite3_vfs_register(&gather_vfs, 0);
}

void sqlite_register_gather_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_gather_vfs);
}
