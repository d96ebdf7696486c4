/* Opening and closing the daemon's store: the connection, the schema
 * migrated, and this process named among the replicas. */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/dsn.h"
#include "util/error.h"
#include "util/log.h"

store *pg_open(const store_location *where, const store_settings *settings, char *err,
               size_t err_cap)
{
    pg_store *s = xcalloc(1, sizeof *s);
    s->base.backend = &postgresql_backend;
    s->dsn = xstrdup(where->dsn);
    char shown[256];
    pg_dsn_describe(where->dsn, shown, sizeof shown);
    s->where = xstrdup(shown);
    s->settings = *settings;
    if (s->settings.lease_ms <= 0)
        s->settings.lease_ms = 30 * 1000;
    snprintf(s->replica, sizeof s->replica, "%s", store_replica_id());
    job_queue_init(&s->base.jobs);
    char why[512];
    if (!(s->db = pg_connect(s->dsn, err, err_cap))) {
        pg_close(&s->base);
        return NULL;
    }
    if (pg_migrate(s->db, why, sizeof why)) {
        fail(err, err_cap, "store: %s: %s", s->where, why);
        pg_close(&s->base);
        return NULL;
    }
    log_info("store", "replica %s on %s (lease %llds)", s->replica, s->where,
             (long long)(s->settings.lease_ms / 1000));
    return &s->base;
}

void pg_close(store *base)
{
    pg_store *s = (pg_store *)base;
    pg_heartbeat_stop(s);
    job_queue_stop(&s->base.jobs, s->writer, &s->started);
    PQfinish(s->db);
    job_queue_destroy(&s->base.jobs);
    if (s->dsn)
        OPENSSL_cleanse(s->dsn, strlen(s->dsn));
    free(s->dsn);
    free(s->where);
    free(s);
}

int pg_describe(const store_location *where, strbuf *out, char *err, size_t err_cap)
{
    PGconn *db = pg_connect(where->dsn, err, err_cap);
    if (!db)
        return -1;
    char why[512], shown[256];
    int version = pg_schema_version(db, why, sizeof why);
    const char *server = PQparameterStatus(db, "server_version");
    pg_dsn_describe(where->dsn, shown, sizeof shown);
    if (version < 0) {
        fail(err, err_cap, "store: %s: %s", shown, why);
    } else {
        sb_printf(out, "  store       %s (PostgreSQL %s, ", shown,
                  server ? server : "of unknown version");
        if (version)
            sb_printf(out, "schema version %d of %d)\n", version, pg_schema_latest());
        else
            sb_puts(out, "no schema yet: herald serve creates it)\n");
    }
    PQfinish(db);
    return version < 0 ? -1 : 0;
}
