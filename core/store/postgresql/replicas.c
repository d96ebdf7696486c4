/* This replica's heartbeat, on a connection of its own so that a long
 * transaction of the writer never delays it: every STORE_HEARTBEAT_MS it
 * writes its row (version, configuration digest), reads everyone's, and
 * sweeps rows long gone. Times come from the database's clock, the one
 * clock every replica shares, so a replica's skewed clock cannot make
 * another look gone. The store is healthy while both the writer and the
 * heartbeat reach the database. */
#include "store/postgresql/private.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread_name.h"

#define DB_NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"

static const char beat_sql[] =
    "INSERT INTO replicas(id, version, config_digest, started_ms, heartbeat_ms)"
    " VALUES($1, $2, $3, $4, " DB_NOW_MS ")"
    " ON CONFLICT(id) DO UPDATE SET version = excluded.version,"
    "  config_digest = excluded.config_digest, started_ms = excluded.started_ms,"
    "  heartbeat_ms = excluded.heartbeat_ms";

static int read_replicas(PGconn *db, replica_rows *rows, char *why, size_t why_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, STORE_REPLICA_GONE_MS);
    PGresult *r = pg_run(db,
                         "SELECT id, version, config_digest, started_ms, heartbeat_ms,"
                         " heartbeat_ms >= " DB_NOW_MS " - $1::bigint FROM replicas ORDER BY id",
                         &p);
    *rows = (replica_rows){0};
    if (!pg_ok(r))
        return pg_failed(db, r, why, why_cap);
    for (int i = 0; i < PQntuples(r); i++) {
        rows->items = pg_add_row(rows->items, &rows->len, sizeof *rows->items);
        replica_row *row = &rows->items[rows->len - 1];
        row->id = pg_text(r, i, 0);
        row->version = pg_text(r, i, 1);
        row->config_digest = pg_text(r, i, 2);
        row->started_ms = pg_int(r, i, 3);
        row->heartbeat_ms = pg_int(r, i, 4);
        row->live = strcmp(PQgetvalue(r, i, 5), "t") == 0;
    }
    PQclear(r);
    return 0;
}

/* One beat: 0, or -1 with why. */
static int beat(pg_store *s, char *why, size_t why_cap)
{
    if (pg_reconnect_if_lost(s->heartbeat_db, why, why_cap))
        return -1;
    replica_row self;
    replica_self(&self);
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, self.id);
    pp_text(&p, self.version);
    pp_text(&p, self.config_digest);
    pp_int(&p, self.started_ms);
    int rc = pg_command(s->heartbeat_db, beat_sql, &p, why, why_cap);
    free(self.id);
    free(self.version);
    free(self.config_digest);
    pg_params sweep = PG_PARAMS_INIT;
    pp_int(&sweep, STORE_REPLICA_SWEEP_MS);
    replica_rows rows;
    if (rc || pg_command(s->heartbeat_db,
                         "DELETE FROM replicas WHERE heartbeat_ms < " DB_NOW_MS " - $1::bigint",
                         &sweep, why, why_cap) ||
        read_replicas(s->heartbeat_db, &rows, why, why_cap))
        return -1;
    const char *self_id = store_replica_id();
    for (size_t i = 0; i < rows.len; i++)
        rows.items[i].self = strcmp(rows.items[i].id, self_id) == 0;
    replica_review(&rows);
    replica_rows_free(&rows);
    return 0;
}

static void *heartbeat_main(void *arg)
{
    thread_name("heartbeat");
    pg_store *s = arg;
    pthread_mutex_lock(&s->heartbeat_lock);
    while (!s->heartbeat_stopping) {
        pthread_mutex_unlock(&s->heartbeat_lock);
        char why[256];
        int ok = beat(s, why, sizeof why) == 0;
        if (!ok && atomic_load(&s->heartbeat_ok))
            log_warn("store", "replica heartbeat to %s failed; not ready until it is back: %s",
                     s->where, why);
        else if (ok && !atomic_load(&s->heartbeat_ok))
            log_info("store", "replica heartbeat to %s is back", s->where);
        atomic_store(&s->heartbeat_ok, ok);
        pthread_mutex_lock(&s->heartbeat_lock);
        struct timespec until = wall_deadline(STORE_HEARTBEAT_MS);
        if (!s->heartbeat_stopping)
            pthread_cond_timedwait(&s->heartbeat_wake, &s->heartbeat_lock, &until);
    }
    pthread_mutex_unlock(&s->heartbeat_lock);
    return NULL;
}

int pg_heartbeat_start(pg_store *s, char *err, size_t err_cap)
{
    if (!(s->heartbeat_db = pg_connect(s->dsn, err, err_cap)))
        return -1;
    pthread_mutex_init(&s->heartbeat_lock, NULL);
    pthread_cond_init(&s->heartbeat_wake, NULL);
    atomic_store(&s->heartbeat_ok, 1); /* it just connected */
    int rc = pthread_create(&s->heartbeat, NULL, heartbeat_main, s);
    if (rc != 0) {
        pthread_cond_destroy(&s->heartbeat_wake);
        pthread_mutex_destroy(&s->heartbeat_lock);
        return fail_errno(err, err_cap, rc, "cannot start the replica heartbeat");
    }
    s->heartbeat_started = 1;
    return 0;
}

void pg_heartbeat_stop(pg_store *s)
{
    if (s->heartbeat_started) {
        pthread_mutex_lock(&s->heartbeat_lock);
        s->heartbeat_stopping = 1;
        pthread_cond_signal(&s->heartbeat_wake);
        pthread_mutex_unlock(&s->heartbeat_lock);
        pthread_join(s->heartbeat, NULL);
        s->heartbeat_started = 0;
        pthread_cond_destroy(&s->heartbeat_wake);
        pthread_mutex_destroy(&s->heartbeat_lock);
        pg_params p = PG_PARAMS_INIT;
        pp_text(&p, store_replica_id());
        char ignored[256]; /* a database that is gone keeps the row until its sweep */
        if (PQstatus(s->heartbeat_db) == CONNECTION_OK)
            pg_command(s->heartbeat_db, "DELETE FROM replicas WHERE id = $1", &p, ignored,
                       sizeof ignored);
    }
    PQfinish(s->heartbeat_db);
    s->heartbeat_db = NULL;
}

int pg_healthy(store *base)
{
    pg_store *s = (pg_store *)base;
    return !atomic_load(&s->unreachable) && atomic_load(&s->heartbeat_ok);
}

int pg_replicas(store_reader *base, replica_rows *rows, char *err, size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    char why[256];
    if (pg_reconnect_if_lost(r->db, why, sizeof why) || read_replicas(r->db, rows, why, sizeof why))
        return fail(err, err_cap, "store: %s", why);
    return 0;
}
