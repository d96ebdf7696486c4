/* Opening and closing the daemon's store: one herald per data_dir, the
 * writer's connection, and the writer stopped before anything is freed. */
#include "store/sqlite/private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"

/* Two daemons on one store would both resume and deliver everything, each
 * with its own rate windows: the second one is refused. The lock goes with
 * the process, whatever way it ends. */
int sqlite_lock_data_dir(const char *data_dir, const char *busy_reason, char *err, size_t err_cap)
{
    strbuf path = STRBUF_INIT;
    sb_printf(&path, "%s/herald.lock", data_dir);
    int fd = open(sb_str(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        fail_errno(err, err_cap, errno, "data_dir: %s", sb_str(&path));
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        char pid[32] = "";
        ssize_t n = busy ? pread(fd, pid, sizeof pid - 1, 0) : -1;
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (busy)
            fail(err, err_cap, "data_dir: %s is in use by another herald serve%s%s%s: %s",
                 data_dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", busy_reason);
        else
            fail_errno(err, err_cap, errno, "data_dir: %s", sb_str(&path));
        close(fd);
        fd = -1;
    } else {
        char pid[32];
        int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
            log_warn("store", "cannot write the pid into %s", sb_str(&path));
    }
    sb_free(&path);
    return fd;
}

/* SQLite counts each allocation it makes, under one process-wide mutex,
 * for sqlite3_memory_used and a soft heap limit, neither of which herald
 * uses: a lock and an unlock per allocation, about 3% of the writer's
 * time. It can only be said before SQLite starts, hence at load. */
__attribute__((constructor)) static void skip_sqlite_memory_counts(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

store *sqlite_open(const store_location *where, const store_settings *settings, char *err,
                   size_t err_cap)
{
    if (mkdir(where->data_dir, 0750) != 0 && errno != EEXIST) {
        fail_errno(err, err_cap, errno, "data_dir: %s", where->data_dir);
        return NULL;
    }
    int lock_fd = sqlite_lock_data_dir(where->data_dir, "two would both deliver everything",
                                       err, err_cap);
    if (lock_fd < 0)
        return NULL;
    sqlite_store *s = xcalloc(1, sizeof *s);
    s->base.backend = &sqlite_backend;
    s->lock_fd = lock_fd;
    s->data_dir = xstrdup(where->data_dir);
    s->path = sqlite_db_path(where->data_dir);
    s->settings = *settings;
    sqlite_content_forget(s);
    job_queue_init(&s->base.jobs);
    char why[512] = "";
    if (sqlite_open_writer(s, why, sizeof why)) {
        fail(err, err_cap, "data_dir: %s: %s", s->path, why);
        sqlite_close(&s->base);
        return NULL;
    }
    return &s->base;
}

void sqlite_close(store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    job_queue_stop(&s->base.jobs, s->writer, &s->started);
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    for (int i = 0; i < ROWS_PER_STATEMENT; i++) {
        sqlite3_finalize(s->state_seen.rows[i]);
        sqlite3_finalize(s->notified.rows[i]);
        sqlite3_finalize(s->insert_history.rows[i]);
    }
    sqlite3_close(s->db);
    job_queue_destroy(&s->base.jobs);
    free(s->data_dir);
    free(s->path);
    free(s->content_pending);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s);
}
