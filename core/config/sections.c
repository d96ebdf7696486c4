#include "config/sections.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <openssl/crypto.h>

#include "config/actions.h"
#include "config/listen.h"
#include "config/layout.h"
#include "config/paths.h"
#include "config/quiet_hours.h"
#include "config/receivers.h"
#include "config/search_path.h"
#include "config/tls.h"
#include "util/dsn.h"
#include "util/log.h"
#include "util/strbuf.h"

static const char *const top_keys[] = {
    "listen", "timezone", "route", "templates", "plugin_dir", "default_receiver",
    "receivers", "log_level", "max_body", "http_threads", "queue_capacity",
    "shutdown_timeout", "lua", "delivery", "data_dir", "dedup_window", "retention", "auth",
    "tls", "env_file", "connections", "resolved_retention", "store", "external_url",
    "alertmanager", "time_intervals",
};

#define RESOLVED_RETENTION_DEFAULT_MS (60LL * 60 * 1000)
/* How long Prometheus goes on sending an alert after it resolved. */
#define RESOLVED_RESENT_MS (15LL * 60 * 1000)

/* The ingest workers only compute (the commit is asynchronous): more of
 * them than processors adds no throughput, only a Lua state and a malloc
 * arena each, which a 64-client burst of large requests fills (4 workers
 * on 2 processors peaked 2 MiB higher). Two at least, so that one script
 * running to its deadline does not stop all ingest on a 1-processor VM. */
static unsigned default_http_threads(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online < 2 ? 2 : online > 16 ? 16 : (unsigned)online;
}

void set_defaults(config *c)
{
    c->listen = xstrdup("127.0.0.1:8060");
    c->timezone = xstrdup("Local");
    /* Beside the configuration when installed (/etc/herald/...), beside
     * conf/ in a source checkout. */
    int installed = install_layout_get()->installed;
    c->route_path = xstrdup(installed ? "scripts/route.lua" : "../scripts/route.lua");
    c->templates_dir = xstrdup(installed ? "templates" : "../templates");
    c->max_body_bytes = (size_t)1 << 20;
    c->http_threads = default_http_threads();
    c->queue_capacity = 10000;
    c->shutdown_timeout_ms = 10000;
    c->data_dir = xstrdup("data");
    c->dedup_window_ms = 5 * 60 * 1000;
    c->store_lease_ms = 30 * 1000;
    c->retention_ms = 30LL * 86400 * 1000;
    c->resolved_retention_ms = RESOLVED_RETENTION_DEFAULT_MS;
    c->log_level = HERALD_LOG_INFO;
    c->lua.timeout_ms = SANDBOX_DEFAULT_TIMEOUT_MS;
    c->lua.memory_bytes = SANDBOX_DEFAULT_MEMORY_BYTES;
    c->delivery.request_timeout_ms = 10000;
    c->delivery.retry_initial_ms = 1000;
    c->delivery.retry_max_delay_ms = 300000;
    c->delivery.max_age_ms = 24LL * 3600 * 1000;
    c->delivery.max_in_flight = 64;
    c->delivery.max_unrecorded = 256;
    c->connections.per_address = 128;
    c->connections.head_timeout_ms = 10000;
    c->connections.body_timeout_ms = 60000;
}

/* Pushes the section `name`; returns 1 when the file sets it, else pops
 * it and returns 0. */
static int open_section(conf_reader *rd, const char *name)
{
    lua_getfield(rd->L, -1, name);
    if (!lua_isnil(rd->L, -1))
        return 1;
    lua_pop(rd->L, 1);
    return 0;
}

static int read_lua_section(conf_reader *rd)
{
    sandbox_limits *lua = &rd->conf->lua;
    if (!open_section(rd, "lua"))
        return 0;
    static const char *const keys[] = {"timeout", "memory"};
    int64_t timeout = lua->timeout_ms;
    int rc = expect_table(rd, "lua") || check_keys(rd, "lua", keys, 2) ||
             read_table_quantity(rd, "lua", "timeout", 0, &timeout, NULL) ||
             read_table_quantity(rd, "lua", "memory", 1, NULL, &lua->memory_bytes);
    if (!rc && (timeout < 1 || timeout > 60000))
        rc = fail_at(rd, "lua.timeout", "expected from 1ms to 60s");
    if (!rc && lua->memory_bytes < ((size_t)1 << 20))
        rc = fail_at(rd, "lua.memory", "expected at least 1MiB");
    lua->timeout_ms = (unsigned)timeout;
    lua_pop(rd->L, 1);
    return rc ? -1 : 0;
}

static int read_delivery_section(conf_reader *rd)
{
    delivery_settings *d = &rd->conf->delivery;
    if (!open_section(rd, "delivery"))
        return 0;
    static const char *const keys[] = {"timeout", "retry_initial", "retry_max_delay",
                                       "max_age", "max_in_flight", "max_unrecorded"};
    long long in_flight = d->max_in_flight, unrecorded = d->max_unrecorded;
    int rc = expect_table(rd, "delivery") || check_keys(rd, "delivery", keys, 6) ||
             read_table_quantity(rd, "delivery", "timeout", 0, &d->request_timeout_ms, NULL) ||
             read_table_quantity(rd, "delivery", "retry_initial", 0, &d->retry_initial_ms, NULL) ||
             read_table_quantity(rd, "delivery", "retry_max_delay", 0, &d->retry_max_delay_ms,
                                 NULL) ||
             read_table_quantity(rd, "delivery", "max_age", 0, &d->max_age_ms, NULL) ||
             read_table_integer(rd, "delivery", "max_in_flight", 1, 1024, &in_flight) ||
             read_table_integer(rd, "delivery", "max_unrecorded", 1, 65536, &unrecorded);
    d->max_in_flight = (unsigned)in_flight;
    d->max_unrecorded = (unsigned)unrecorded;
    if (!rc && d->request_timeout_ms < 100)
        rc = fail_at(rd, "delivery.timeout", "expected at least 100ms");
    if (!rc && d->retry_initial_ms < 10)
        rc = fail_at(rd, "delivery.retry_initial", "expected at least 10ms");
    if (!rc && d->retry_max_delay_ms < d->retry_initial_ms)
        rc = fail_at(rd, "delivery.retry_max_delay", "must not be below retry_initial");
    lua_pop(rd->L, 1);
    return rc ? -1 : 0;
}

/* connections = { max, per_address, head_timeout, body_timeout }. */
static int read_connections_section(conf_reader *rd)
{
    connection_settings *cs = &rd->conf->connections;
    if (!open_section(rd, "connections"))
        return 0;
    static const char *const keys[] = {"max", "per_address", "head_timeout", "body_timeout"};
    long long max = cs->max, per_address = 0; /* 0: not set */
    int rc = expect_table(rd, "connections") || check_keys(rd, "connections", keys, 4) ||
             read_table_integer(rd, "connections", "max", 16, 1000000, &max) ||
             read_table_integer(rd, "connections", "per_address", 1, 1000000, &per_address) ||
             read_table_quantity(rd, "connections", "head_timeout", 0, &cs->head_timeout_ms,
                                 NULL) ||
             read_table_quantity(rd, "connections", "body_timeout", 0, &cs->body_timeout_ms,
                                 NULL);
    cs->max = (unsigned)max;
    if (!rc && cs->max && per_address > cs->max)
        rc = fail_at(rd, "connections.per_address", "%lld is more than connections.max (%u)",
                     per_address, cs->max);
    if (per_address)
        cs->per_address = (unsigned)per_address;
    else if (cs->max && cs->per_address > cs->max)
        cs->per_address = cs->max; /* the default, within a small max */
    if (!rc && (cs->head_timeout_ms < 1000 || cs->head_timeout_ms > 3600000))
        rc = fail_at(rd, "connections.head_timeout", "expected from 1s to 1h");
    if (!rc && (cs->body_timeout_ms < 1000 || cs->body_timeout_ms > 3600000))
        rc = fail_at(rd, "connections.body_timeout", "expected from 1s to 1h");
    lua_pop(rd->L, 1);
    return rc ? -1 : 0;
}

/* A secret read for a moment: taken, checked non-empty, then wiped. */
static int take_secret(conf_reader *rd, const char *table, const char *key, int required,
                       char **out)
{
    int rc = read_table_string(rd, table, key, required, out);
    if (!rc && *out && !**out) {
        char path[KEY_PATH_CAP];
        key_path(path, sizeof path, table, key);
        rc = fail_at(rd, path, "must not be empty");
    }
    return rc;
}

static void wipe(char *secret)
{
    if (secret)
        OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

static int read_auth_section(conf_reader *rd)
{
    if (!open_section(rd, "auth"))
        return 0;
    static const char *const keys[] = {"bearer_token", "username", "password"};
    char *token = NULL, *username = NULL, *password = NULL;
    int rc = expect_table(rd, "auth") || check_keys(rd, "auth", keys, 3) ||
             take_secret(rd, "auth", "bearer_token", 0, &token) ||
             take_secret(rd, "auth", "username", 0, &username) ||
             take_secret(rd, "auth", "password", username != NULL, &password);
    if (!rc && password && !username)
        rc = fail_at(rd, "auth.username", "missing: a password needs its username");
    if (!rc && username && strchr(username, ':'))
        rc = fail_at(rd, "auth.username", "must not contain ':' (Basic authentication "
                                          "separates it from the password with one)");
    if (!rc && !token && !username)
        rc = fail_at(rd, "auth", "expected bearer_token, or username and password%s",
                     unset_env_hint(rd));
    if (!rc && token)
        auth_set_bearer(&rd->conf->auth, token);
    if (!rc && username)
        auth_set_basic(&rd->conf->auth, username, password);
    wipe(token);
    wipe(username);
    wipe(password);
    lua_pop(rd->L, 1);
    return rc ? -1 : 0;
}

int read_store_section(conf_reader *rd)
{
    if (!open_section(rd, "store"))
        return 0;
    static const char *const keys[] = {"backend", "dsn", "lease"};
    char *backend = NULL, *dsn = NULL, *password = NULL;
    int rc = expect_table(rd, "store") || check_keys(rd, "store", keys, 3) ||
             read_table_string(rd, "store", "backend", 0, &backend) ||
             read_table_string(rd, "store", "dsn", 0, &dsn) ||
             read_table_quantity(rd, "store", "lease", 0, &rd->conf->store_lease_ms, NULL);
    lua_pop(rd->L, 1);
    int postgresql = backend && strcmp(backend, "postgresql") == 0;
    if (!rc && backend && !postgresql && strcmp(backend, "sqlite") != 0)
        rc = fail_at(rd, "store.backend", "expected \"sqlite\" or \"postgresql\"");
    else if (!rc && rd->conf->store_lease_ms < 3000)
        rc = fail_at(rd, "store.lease", "must be at least 3s (it is renewed every third of it)");
    else if (!rc && !postgresql && dsn)
        rc = fail_at(rd, "store.dsn", "only for backend = \"postgresql\" (the SQLite store is "
                                      "in data_dir)");
    else if (!rc && postgresql && !dsn)
        rc = fail_at(rd, "store.dsn", "missing: backend \"postgresql\" needs libpq's connection "
                                      "string%s", unset_env_hint(rd));
    else if (!rc && postgresql && !*dsn)
        rc = fail_at(rd, "store.dsn", "must not be empty");
    /* libpq's own message would quote the string, password and all */
    else if (!rc && postgresql && pg_dsn_password(dsn, &password))
        rc = fail_at(rd, "store.dsn", "not a libpq connection string (keyword=value pairs or a "
                                      "postgresql:// URI)");
    wipe(password);
    free(backend);
    if (!rc && postgresql) {
        wipe(rd->conf->store_dsn);
        rd->conf->store_dsn = dsn;
    } else {
        wipe(dsn);
    }
    return rc ? -1 : 0;
}

/* tls = { cert_file = ..., key_file = ... }, relative to the
 * configuration's folder. The files are read and checked here, so that
 * `herald check` and a reload name a wrong one before a start fails. */
static int read_tls_section(conf_reader *rd)
{
    config *c = rd->conf;
    if (!open_section(rd, "tls"))
        return 0;
    static const char *const keys[] = {"cert_file", "key_file"};
    int rc = expect_table(rd, "tls") || check_keys(rd, "tls", keys, 2) ||
             read_table_string(rd, "tls", "cert_file", 1, &c->tls_cert_file) ||
             read_table_string(rd, "tls", "key_file", 1, &c->tls_key_file);
    lua_pop(rd->L, 1);
    if (rc || resolve_path(rd, "tls.cert_file", &c->tls_cert_file, 0) ||
        resolve_path(rd, "tls.key_file", &c->tls_key_file, 0))
        return -1;
    tls_pair pair;
    char why[1024] = "";
    if (tls_read(c->tls_cert_file, c->tls_key_file, &pair, why, sizeof why))
        return fail_at(rd, NULL, "%s", why);
    snprintf(c->tls_summary, sizeof c->tls_summary, "%s, valid until %s", pair.subject,
             pair.not_after);
    if (pair.days_left < 0)
        log_warn("tls", "the certificate in %s expired on %s: clients will refuse it",
                 c->tls_cert_file, pair.not_after);
    else if (pair.days_left < TLS_EXPIRY_WARNING_DAYS)
        log_warn("tls", "the certificate in %s expires in %d day%s (%s)", c->tls_cert_file,
                 pair.days_left, pair.days_left == 1 ? "" : "s", pair.not_after);
    tls_pair_free(&pair);
    return 0;
}

/* Every key's value, the sections' included; nothing is checked against
 * the system yet. */
static int read_values(conf_reader *rd)
{
    config *c = rd->conf;
    char *log_level = NULL;
    long long threads = c->http_threads, capacity = (long long)c->queue_capacity;
    char *env_file = NULL;
    int rc = check_keys(rd, NULL, top_keys, sizeof top_keys / sizeof top_keys[0]) ||
             read_table_string(rd, NULL, "env_file", 0, &env_file) ||
             (env_file && reader_env_file(rd, env_file)) ||
             read_table_string(rd, NULL, "listen", 0, &c->listen) ||
             read_table_string(rd, NULL, "timezone", 0, &c->timezone) ||
             read_table_string(rd, NULL, "route", 0, &c->route_path) ||
             read_table_string(rd, NULL, "templates", 0, &c->templates_dir) ||
             read_table_string(rd, NULL, "plugin_dir", 0, &c->plugin_dir) ||
             read_table_string(rd, NULL, "default_receiver", 1, &c->default_receiver) ||
             read_table_string(rd, NULL, "log_level", 0, &log_level) ||
             read_table_string(rd, NULL, "data_dir", 0, &c->data_dir) ||
             read_table_quantity(rd, NULL, "dedup_window", 0, &c->dedup_window_ms, NULL) ||
             read_table_quantity(rd, NULL, "retention", 0, &c->retention_ms, NULL) ||
             read_table_quantity(rd, NULL, "resolved_retention", 0, &c->resolved_retention_ms,
                                 NULL) ||
             read_table_quantity(rd, NULL, "max_body", 1, NULL, &c->max_body_bytes) ||
             read_table_quantity(rd, NULL, "shutdown_timeout", 0, &c->shutdown_timeout_ms,
                                 NULL) ||
             read_table_integer(rd, NULL, "http_threads", 1, 256, &threads) ||
             read_table_integer(rd, NULL, "queue_capacity", 1, 10000000, &capacity) ||
             read_lua_section(rd) || read_delivery_section(rd) || read_connections_section(rd) ||
             read_auth_section(rd) || read_store_section(rd) ||
             read_actions_section(rd);
    free(env_file);
    c->http_threads = (unsigned)threads;
    c->queue_capacity = (size_t)capacity;
    if (!rc && log_level) {
        c->log_level = log_level_parse(log_level);
        if (c->log_level < 0)
            rc = fail_at(rd, "log_level", "expected \"debug\", \"info\", \"warn\" or \"error\"");
    }
    free(log_level);
    if (!rc && c->resolved_retention_ms < RESOLVED_RESENT_MS)
        log_warn("config", "resolved_retention is under 15m: Prometheus sends a resolved alert "
                 "again for 15 minutes, and one that left the alert state is notified again");
    if (!rc && (c->max_body_bytes < 1024 || c->max_body_bytes > ((size_t)1 << 30)))
        rc = fail_at(rd, "max_body", "expected from 1KiB to 1GiB");
    return rc ? -1 : 0;
}

int read_settings(conf_reader *rd)
{
    config *c = rd->conf;
    if (read_values(rd))
        return -1;
    char why[512] = "";
    c->zone = tz_load(c->timezone, why, sizeof why);
    if (!c->zone)
        return fail_at(rd, "timezone", "%s", why);
    if (!c->plugin_dir)
        c->plugin_dir = default_plugin_dir();
    resolve_data_dir(c);
    struct sockaddr_storage addr;
    if (listen_parse(c->listen, &addr, why, sizeof why))
        return fail_at(rd, "listen", "%s", why);
    if (check_data_dir(rd) || find_route(rd) || find_templates(rd) ||
        resolve_path(rd, "plugin_dir", &c->plugin_dir, 1) || read_tls_section(rd))
        return -1;
    if (plugins_load_dir(&c->plugins, c->plugin_dir, why, sizeof why))
        return fail_at(rd, "plugin_dir", "%s", why);
    lua_getfield(rd->L, -1, "time_intervals");
    int rc = read_time_intervals(rd);
    lua_pop(rd->L, 1);
    if (rc)
        return -1;
    lua_getfield(rd->L, -1, "receivers");
    rc = read_receivers(rd);
    lua_pop(rd->L, 1);
    if (rc)
        return -1;
    if (!config_receiver(c, c->default_receiver))
        return fail_at(rd, "default_receiver", "no receiver named \"%s\"", c->default_receiver);
    return 0;
}
