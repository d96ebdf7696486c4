/* Notifications for the tests of the store and of what reads it (the
 * API), and a commit waited for as an HTTP request waits for its answer. */
#ifndef HERALD_TEST_STORE_FIXTURE_H
#define HERALD_TEST_STORE_FIXTURE_H

#include <pthread.h>
#include <stdio.h>

#include <sqlite3.h>

#include "store/store.h"

static inline notification *make_with_status(const char *receiver, const char *alertname,
                                             const char *instance, int64_t created_ms,
                                             alert_status status)
{
    alert a = {.status = status};
    labelset_set(&a.labels, "alertname", alertname);
    labelset_set(&a.labels, "instance", instance);
    labelset_set(&a.annotations, "summary", "磁盘将满");
    a.starts_at = 1795238566.39;
    alert_fingerprint(&a.labels, a.fingerprint);
    notification *n = xcalloc(1, sizeof *n);
    n->receiver = xstrdup(receiver);
    n->status = xstrdup(alert_status_name(status));
    n->alert_count = 1;
    n->content.format = HERALD_FORMAT_MARKDOWN;
    n->content.title = xstrdup(alertname);
    n->content.text = xstrdup("### 告警\nbody");
    mention_set_add_mobile(&n->content.mentions, "13800000000");
    n->created_ms = n->next_attempt_ms = created_ms;
    const alert *list[1] = {&a};
    notification_describe(n, "{}:{alertname=\"X\"}", list, 1);
    alert_free(&a);
    return n;
}

static inline notification *make(const char *receiver, const char *alertname,
                                 const char *instance, int64_t created_ms)
{
    return make_with_status(receiver, alertname, instance, created_ms, ALERT_FIRING);
}

static inline void ignore_requeued(void *ctx, notification *n)
{
    (void)ctx;
    notification_free(n);
}

/* The SQLite store in dir, started (requeued: what its writer hands back),
 * keeping history 30 days and resolved alerts an hour; NULL with the
 * reason on stderr. */
static inline store *fixture_store_open(const char *dir, void (*requeued)(void *, notification *),
                                        void *ctx)
{
    store_settings settings = {0, 30LL * 86400 * 1000, 3600LL * 1000, 0};
    char err[512];
    store *s = store_open(&(store_location){.data_dir = dir}, &settings, err, sizeof err);
    if (s && store_start(s, requeued, ctx, err, sizeof err)) {
        store_close(s);
        s = NULL;
    }
    if (!s)
        fprintf(stderr, "store_open: %s\n", err);
    return s;
}

static inline store_reader *fixture_reader_open(const char *dir)
{
    char err[512];
    store_reader *r = store_reader_open(&(store_location){.data_dir = dir}, err, sizeof err);
    if (!r)
        fprintf(stderr, "store_reader_open: %s\n", err);
    return r;
}

/* The writer of a started store may hold the write lock a moment (its
 * first poll for requeued notifications and operator requests runs at
 * once, a checkpoint later): what the tests run beside it waits for the
 * lock as herald's own connections do, rather than failing on it. */
#define FIXTURE_LOCK_WAIT_MS 30000

/* Runs `sql` on the store of `dir` (made as an older herald left it, or
 * beside a started store): SQLite's result code. */
static inline int fixture_exec(const char *dir, const char *sql)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", dir);
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, FIXTURE_LOCK_WAIT_MS);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc;
}

/* What `sql` counts in the store of `dir`, -1 when it cannot. */
static inline long long fixture_count(const char *dir, const char *sql)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    long long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, FIXTURE_LOCK_WAIT_MS) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    else
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

typedef struct commit_wait {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int done;
    int failed;
} commit_wait;

static inline void committed(void *ctx, int failed, const char *error)
{
    (void)error;
    commit_wait *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    w->failed = failed;
    pthread_cond_signal(&w->done_cond);
    pthread_mutex_unlock(&w->lock);
}

/* store_commit of the notifications and the alerts seen (either may be
 * none), waited for as an HTTP request waits for its answer. */
static inline int commit_seen(store *s, notification **items, size_t n, alert_report *seen)
{
    commit_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    store_commit(s, items, n, seen, committed, &w);
    pthread_mutex_lock(&w.lock);
    while (!w.done)
        pthread_cond_wait(&w.done_cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    return w.failed ? -1 : 0;
}

static inline int commit(store *s, notification **items, size_t n)
{
    return commit_seen(s, items, n, NULL);
}

#endif
