/* The replicas serving from one store: this process's identity, what
 * every backend answers about them, and what the daemon makes of the
 * heartbeats (gauges, and a warning when configurations differ). */
#include "store/backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"

static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;
static char self_id[300];
static char self_digest[80];
static int64_t self_started_ms;
static char mismatch_logged[1024]; /* the heartbeat's last warning: said once */
static atomic_uint live_replicas = 1;

const char *store_replica_id(void)
{
    pthread_mutex_lock(&self_lock);
    if (!self_id[0]) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !host[0])
            snprintf(host, sizeof host, "unknown-host");
        /* The random part tells a restarted replica from its earlier self
         * when the pid repeats (pid 1 in every container): a replica
         * must never take its predecessor's claims for its own. */
        unsigned char random[4] = {0};
        if (RAND_bytes(random, sizeof random) != 1)
            memset(random, 0, sizeof random);
        snprintf(self_id, sizeof self_id, "%s:%ld:%02x%02x%02x%02x", host, (long)getpid(),
                 random[0], random[1], random[2], random[3]);
    }
    pthread_mutex_unlock(&self_lock);
    return self_id;
}

void store_replica_serving(const char *config_digest)
{
    store_replica_id();
    pthread_mutex_lock(&self_lock);
    snprintf(self_digest, sizeof self_digest, "%s", config_digest);
    if (!self_started_ms)
        self_started_ms = wall_ms();
    pthread_mutex_unlock(&self_lock);
}

void replica_self(replica_row *out)
{
    *out = (replica_row){.id = xstrdup(store_replica_id()), .version = xstrdup(HERALD_VERSION),
                         .live = 1, .self = 1};
    pthread_mutex_lock(&self_lock);
    out->config_digest = xstrdup(self_digest);
    out->started_ms = self_started_ms;
    pthread_mutex_unlock(&self_lock);
    out->heartbeat_ms = wall_ms();
}

int store_healthy(store *s)
{
    return !s->backend->healthy || s->backend->healthy(s);
}

unsigned store_live_replicas(void) { return atomic_load(&live_replicas); }

static int live_first_then_by_id(const void *a, const void *b)
{
    const replica_row *x = a, *y = b;
    if (x->live != y->live)
        return y->live - x->live;
    return strcmp(x->id, y->id);
}

int store_replicas(store_reader *r, replica_rows *rows, char *err, size_t err_cap)
{
    *rows = (replica_rows){0};
    if (!r->backend->replicas) {
        pthread_mutex_lock(&self_lock);
        int serving = self_started_ms != 0;
        pthread_mutex_unlock(&self_lock);
        if (!serving) /* a command reading the store, not its one herald */
            return 0;
        rows->items = xcalloc(1, sizeof *rows->items);
        replica_self(&rows->items[0]);
        rows->len = 1;
        return 0;
    }
    if (r->backend->replicas(r, rows, err, err_cap))
        return -1;
    const char *self = store_replica_id();
    for (size_t i = 0; i < rows->len; i++)
        rows->items[i].self = strcmp(rows->items[i].id, self) == 0;
    if (rows->len > 1)
        qsort(rows->items, rows->len, sizeof *rows->items, live_first_then_by_id);
    return 0;
}

int replica_configs_differ(const replica_rows *rows)
{
    const char *first = NULL;
    for (size_t i = 0; i < rows->len; i++) {
        if (!rows->items[i].live)
            continue;
        if (!first)
            first = rows->items[i].config_digest;
        else if (strcmp(first, rows->items[i].config_digest) != 0)
            return 1;
    }
    return 0;
}

void replica_review(const replica_rows *rows)
{
    size_t live = 0;
    for (size_t i = 0; i < rows->len; i++)
        live += rows->items[i].live != 0;
    int differ = replica_configs_differ(rows);
    metrics_set_replicas((long long)live, differ);
    /* this one counts even when its own row is late */
    atomic_store(&live_replicas, live ? (unsigned)live : 1);

    replica_row self;
    replica_self(&self);
    strbuf others = STRBUF_INIT;
    for (size_t i = 0; i < rows->len; i++) {
        const replica_row *o = &rows->items[i];
        if (o->live && strcmp(o->config_digest, self.config_digest) != 0)
            sb_printf(&others, "%s%s serves %s", others.len ? ", " : "", o->id, o->config_digest);
    }
    /* Said when the set of differing replicas changes, not every beat. */
    if (strcmp(sb_str(&others), mismatch_logged) != 0) {
        if (others.len)
            log_warn("replicas", "live replicas serve different configurations: this one (%s) "
                     "serves %s; %s", self.id, self.config_digest, sb_str(&others));
        else
            log_info("replicas", "live replicas serve the same configuration (%s) again",
                     self.config_digest);
        snprintf(mismatch_logged, sizeof mismatch_logged, "%s", sb_str(&others));
    }
    sb_free(&others);
    free(self.id);
    free(self.version);
    free(self.config_digest);
}

void replica_rows_free(replica_rows *rows)
{
    for (size_t i = 0; i < rows->len; i++) {
        free(rows->items[i].id);
        free(rows->items[i].version);
        free(rows->items[i].config_digest);
    }
    free(rows->items);
    *rows = (replica_rows){0};
}
