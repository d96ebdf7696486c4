/* The configuration: a Lua file run in the sandbox, validated strictly.
 * Every error names the file, the key path and what was expected, e.g.
 * "conf/herald.lua: receivers.ops.secret: expected a string, got nil". */
#ifndef HERALD_CONF_H
#define HERALD_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "alert/mention.h"
#include "config/auth.h"
#include "config/time_interval.h"
#include "herald/plugin.h"
#include "lua/sandbox.h"
#include "lua/tz.h"
#include "plugin/loader.h"

/* The limits of one target; 0 in a field: no limit of that kind. */
typedef struct rate_spec {
    unsigned per_minute;
    unsigned per_second;
} rate_spec;

/* Whether the spec sets any limit. */
static inline int rate_is_limited(const rate_spec *rate)
{
    return rate->per_minute || rate->per_second;
}

typedef struct receiver {
    char *name;
    char *channel_name;
    const herald_channel *channel;
    char *template_name;
    int split_per_alert;          /* split = "alert": one message per alert */
    mention_set mentions;
    herald_option_value *values;  /* one per channel option, in spec order */
    void *instance;               /* the channel's configured instance */
    char *proxy;                  /* served by the core for every channel: */
    char *ca_file;                /*   proxy URL, CA bundle, and whether to */
    int tls_verify;               /*   verify certificates (default yes) */
    rate_spec rate;               /* per target; a 0 field: no limit of that kind */
    size_t text_budget;           /* the channel's, asked once: 0 for no limit */
    /* Alerts it was told of in the same state are not sent again sooner
     * (0: every time they come). */
    int64_t repeat_interval_ms;
    quiet_hours quiet;            /* mute_time_intervals, active_time_intervals, muted */
} receiver;

typedef struct delivery_settings {
    int64_t request_timeout_ms;
    int64_t retry_initial_ms;
    int64_t retry_max_delay_ms;
    int64_t max_age_ms;
    unsigned max_in_flight;    /* requests open at once */
    /* Notifications sent whose outcome is not on disk yet, those of open
     * requests included: a crash sends at most this many twice. */
    unsigned max_unrecorded;
} delivery_settings;

/* Who may hold how many connections, and how long a request may take to
 * arrive. The inactivity timeout alone lets a client that sends a byte
 * now and then hold a connection for ever; these deadlines count from
 * the start. */
typedef struct connection_settings {
    unsigned max;             /* at once; 0: sized from the file-descriptor limit */
    unsigned per_address;     /* at once from one client address */
    int64_t head_timeout_ms;  /* a request's head, from the connection's start or the last answer */
    int64_t body_timeout_ms;  /* its body, from the end of its head */
} connection_settings;

typedef struct config {
    char *path;
    char *dir;                    /* relative paths are resolved against it */
    char *listen;
    char *timezone;
    tz_zone *zone;
    char *route_path;
    char *templates_dir;
    char *plugin_dir;
    char *default_receiver;
    receiver *receivers;
    size_t receivers_len;
    time_interval *time_intervals; /* named, for quiet hours; sorted by name */
    size_t time_intervals_len;
    char **template_names;        /* every template found (config/search_path.h), sorted */
    char **template_paths;        /* each one's file, by the same index */
    size_t template_names_len;
    char *shipped_templates_dir;  /* searched after templates_dir; NULL: not searched */
    size_t max_body_bytes;
    unsigned http_threads;
    size_t queue_capacity;
    int64_t shutdown_timeout_ms;
    char *data_dir;               /* where the store lives */
    int64_t dedup_window_ms;
    int64_t retention_ms;
    int64_t resolved_retention_ms; /* a resolved alert stays in the current view so long */
    int log_level;
    sandbox_limits lua;
    delivery_settings delivery;
    connection_settings connections;
    inbound_auth auth;            /* what requests must present; none by default */
    char *tls_cert_file;          /* HTTPS with these PEM files; NULL: plain HTTP */
    char *tls_key_file;
    char tls_summary[320];        /* the certificate's subject and expiry */
    plugin_set plugins;
    /* store = { backend = "postgresql", dsn = ... }: libpq's connection
     * string, a secret; NULL: the SQLite store in data_dir */
    char *store_dsn;
    /* store.lease: how long a replica's claim on a notification outlives
     * its last renewal (PostgreSQL) */
    int64_t store_lease_ms;
    /* Where herald's action page is reached (action links); NULL: no links. */
    char *external_url;
    /* alertmanager = { url, auth }: action links silence there (NULL: in
     * herald); the Authorization header's value, a secret (NULL: none). */
    char *alertmanager_url;
    char *alertmanager_authorization;
} config;

/* A certificate that expires sooner is warned about at every load. */
#define TLS_EXPIRY_WARNING_DAYS 14

/* Loads and validates the file, loads the plugins it names and configures
 * one channel instance per receiver. Returns 0, or -1 with err set. */
int config_load(const char *path, config *out, char *err, size_t err_cap);
/* The same, with relative paths resolved against base_dir rather than the
 * file's folder (a saved copy of a configuration, read as the original). */
int config_load_in(const char *path, const char *base_dir, config *out, char *err, size_t err_cap);
void config_free(config *c);
/* Only what the commands that read the store need: data_dir (resolved),
 * the store's DSN (NULL: SQLite in data_dir; NULL dsn: not read) and the
 * zone their tables show times in (the caller frees them; a NULL zone:
 * not read). The rest of the file is run but not validated, so they work
 * without the other secrets. */
int config_store_view(const char *path, char **data_dir, char **dsn, tz_zone **zone, char *err,
                      size_t err_cap);
/* Where the store is, for the log: data_dir, or the PostgreSQL server and
 * database without user or password. */
void config_store_describe(const config *c, char *out, size_t cap);
/* Only data_dir, the same way. */
int config_data_dir(const char *path, char **data_dir, char *err, size_t err_cap);
/* Whether the file defines the receiver, read the same way: 0 yes, 1 no
 * (err names the file), -1 when the file does not run (err says why). */
int config_defines_receiver(const char *path, const char *name, char *err, size_t err_cap);
const receiver *config_receiver(const config *c, const char *name);

/* The build tree's plugins folder beside the running executable, else the
 * installed plugin directory (config/layout.h). Caller frees. */
char *default_plugin_dir(void);

#endif
