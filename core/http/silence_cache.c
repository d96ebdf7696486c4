/* The silences ingest matches every alert against, kept in memory: the
 * store is read once a second on a thread of its own (a silence added by
 * the CLI or by another replica applies within a second), and at once
 * after this process's API changed one. Ingest workers take a reference
 * to the current set; a reload swaps in a new one, and the old one goes
 * when its last reader lets go. */
#include "http/server_internal.h"

#include <stdlib.h>
#include <time.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/thread_name.h"

struct silence_snapshot {
    silence_set set;
    int refs;                  /* under the cache's lock */
};

struct silence_cache {
    store_location where;      /* borrowed from the server */
    pthread_mutex_t lock;      /* current and each snapshot's refs */
    silence_snapshot *current;
    pthread_mutex_t load_lock; /* one load at a time: the thread's or the API's */
    store_reader *reader;      /* under load_lock; opened at the first load, kept */
    int failing;               /* a failed load was logged: the next success is too */
    pthread_t thread;
    pthread_cond_t wake;
    int stopping;
};

static void snapshot_unref(silence_cache *c, silence_snapshot *snap)
{
    if (!snap)
        return;
    pthread_mutex_lock(&c->lock);
    int last = --snap->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last) {
        silence_set_free(&snap->set);
        free(snap);
    }
}

/* Reads the active silences and makes them current; on failure the
 * previous ones (none at the start) stay in force, logged once. */
static int load(silence_cache *c, char *err, size_t err_cap)
{
    pthread_mutex_lock(&c->load_lock);
    silence_rows rows = {0};
    int rc = (!c->reader && !(c->reader = store_reader_open(&c->where, err, err_cap))) ||
                     store_silences(c->reader, 0, wall_ms(), &rows, err, err_cap)
                 ? -1
                 : 0;
    if (rc == 0) {
        silence_snapshot *fresh = xcalloc(1, sizeof *fresh);
        silence_set_build(&rows, &fresh->set);
        fresh->refs = 1;
        metrics_set_silences_active((long long)fresh->set.len);
        silence_rows_free(&rows);
        pthread_mutex_lock(&c->lock);
        silence_snapshot *old = c->current;
        c->current = fresh;
        pthread_mutex_unlock(&c->lock);
        snapshot_unref(c, old);
        if (c->failing)
            log_info("silences", "reading the silences works again");
        c->failing = 0;
    } else if (!c->failing) {
        c->failing = 1;
        log_warn("silences", "cannot read the silences, the last ones read stay in force: %s",
                 err);
    }
    pthread_mutex_unlock(&c->load_lock);
    return rc;
}

static void *refresh_main(void *arg)
{
    thread_name("silences");
    silence_cache *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        struct timespec until = wall_deadline(SILENCE_REFRESH_MS);
        pthread_cond_timedwait(&c->wake, &c->lock, &until);
        if (c->stopping)
            break;
        pthread_mutex_unlock(&c->lock);
        char err[512];
        load(c, err, sizeof err);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

silence_cache *silence_cache_start(const store_location *where, char *err, size_t err_cap)
{
    silence_cache *c = xcalloc(1, sizeof *c);
    c->where = *where;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->load_lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    /* The first load before any alert comes in: a silence in force when
     * herald starts holds back the first post too. */
    char why[512];
    load(c, why, sizeof why);
    int rc = pthread_create(&c->thread, NULL, refresh_main, c);
    if (rc) {
        fail_errno(err, err_cap, rc, "%s", "cannot start the silences' thread");
        c->stopping = 1; /* no thread to join */
        silence_cache_stop(c);
        return NULL;
    }
    return c;
}

void silence_cache_stop(silence_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    int running = !c->stopping;
    c->stopping = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    if (running)
        pthread_join(c->thread, NULL);
    snapshot_unref(c, c->current);
    store_reader_close(c->reader);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->load_lock);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void silence_cache_reload(silence_cache *c)
{
    char err[512];
    if (c)
        load(c, err, sizeof err);
}

silence_snapshot *silence_cache_acquire(silence_cache *c)
{
    if (!c)
        return NULL;
    pthread_mutex_lock(&c->lock);
    silence_snapshot *snap = c->current;
    if (snap)
        snap->refs++;
    pthread_mutex_unlock(&c->lock);
    return snap;
}

void silence_cache_release(silence_cache *c, silence_snapshot *snap)
{
    snapshot_unref(c, snap);
}

const char *silence_snapshot_match(const silence_snapshot *snap, const labelset *labels,
                                   int64_t now_ms)
{
    return snap ? silence_set_match(&snap->set, labels, now_ms) : NULL;
}
