#include "daemon/daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "action/links.h"
#include "daemon/action_keys.h"
#include "daemon/last_good.h"
#include "delivery/dispatch.h"
#include "delivery/outbox.h"
#include "delivery/ratelimit.h"
#include "http/server.h"
#include "lua/sandbox.h"
#include "pipeline/check.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/memory.h"
#include "util/metrics.h"

/* ---- settings read once at start ---------------------------------------- */

/* What the process started with stays in force until a restart: the
 * listener, the thread pool, the outbox and the store are built from
 * these. A reload that changes one says so rather than answering success
 * silently. This table is the one list of them (conf/README.md names them
 * for operators). */
typedef struct start_only_key {
    const char *key;
    /* The setting as the log shows it. */
    void (*show)(const config *c, char *out, size_t cap);
} start_only_key;

static void show_listen(const config *c, char *out, size_t cap) { snprintf(out, cap, "%s", c->listen); }

static void show_http_threads(const config *c, char *out, size_t cap)
{
    snprintf(out, cap, "%u", c->http_threads);
}

static void show_queue_capacity(const config *c, char *out, size_t cap)
{
    snprintf(out, cap, "%zu", c->queue_capacity);
}

static void show_data_dir(const config *c, char *out, size_t cap) { snprintf(out, cap, "%s", c->data_dir); }

static void show_store(const config *c, char *out, size_t cap) { config_store_describe(c, out, cap); }

static void show_dedup_window(const config *c, char *out, size_t cap)
{
    snprintf(out, cap, "%lld ms", (long long)c->dedup_window_ms);
}

static void show_retention(const config *c, char *out, size_t cap)
{
    snprintf(out, cap, "%lld ms", (long long)c->retention_ms);
}

static void show_resolved_retention(const config *c, char *out, size_t cap)
{
    snprintf(out, cap, "%lld ms", (long long)c->resolved_retention_ms);
}

static void show_shutdown_timeout(const config *c, char *out, size_t cap)
{
    snprintf(out, cap, "%lld ms", (long long)c->shutdown_timeout_ms);
}

static void show_connections(const config *c, char *out, size_t cap)
{
    const connection_settings *cs = &c->connections;
    char max[16] = "auto";
    if (cs->max)
        snprintf(max, sizeof max, "%u", cs->max);
    snprintf(out, cap, "max %s, per_address %u, head_timeout %lld ms, body_timeout %lld ms", max,
             cs->per_address, (long long)cs->head_timeout_ms, (long long)cs->body_timeout_ms);
}

/* A renewed certificate usually keeps its file names: what the files hold
 * (subject and expiry) is part of the setting. */
static void show_tls(const config *c, char *out, size_t cap)
{
    if (c->tls_cert_file)
        snprintf(out, cap, "%s (%s)", c->tls_cert_file, c->tls_summary);
    else
        snprintf(out, cap, "off");
}

static const start_only_key start_only_keys[] = {
    {"listen", show_listen},
    {"http_threads", show_http_threads},
    {"queue_capacity", show_queue_capacity},
    {"data_dir", show_data_dir},
    {"dedup_window", show_dedup_window},
    {"retention", show_retention},
    {"resolved_retention", show_resolved_retention},
    {"shutdown_timeout", show_shutdown_timeout},
    {"tls", show_tls},
    {"connections", show_connections},
    {"store", show_store},
};

/* listen_fixed: --listen set it, so the file's listen does not count. */
static void warn_start_only_changes(const config *now, const config *started, int listen_fixed)
{
    for (size_t i = 0; i < sizeof start_only_keys / sizeof *start_only_keys; i++) {
        const start_only_key *k = &start_only_keys[i];
        if (listen_fixed && strcmp(k->key, "listen") == 0)
            continue;
        char was[1024], is[1024];
        k->show(started, was, sizeof was);
        k->show(now, is, sizeof is);
        if (strcmp(was, is) != 0)
            log_warn("reload", "%s changed to %s; %s stays in force until a restart", k->key, is,
                     was);
    }
}

/* ---- reload --------------------------------------------------------------- */

typedef struct serve_state {
    const char *config_path;
    int listen_fixed;
    const config *started; /* the start-only settings in force */
    pthread_mutex_t reload_lock;
} serve_state;

/* Builds and installs a generation; the caller holds reload_lock. */
static int reload_locked(serve_state *st, char *err, size_t err_cap)
{
    generation *g = generation_build(st->config_path, NULL, err, err_cap);
    if (!g) {
        metrics_count(METRIC_RELOADS_FAILED);
        metrics_reload_result(0, 0);
        log_error("reload", "refused, the previous configuration keeps serving: %s", err);
        return -1;
    }
    log_set_level((herald_log_level)g->conf.log_level);
    warn_start_only_changes(&g->conf, st->started, st->listen_fixed);
    last_good_save(g);
    unsigned number = g->number;
    char digest[CONFIG_DIGEST_SIZE];
    memcpy(digest, g->config_digest, sizeof digest);
    store_replica_serving(digest);
    store_location where = {st->started->data_dir, st->started->store_dsn};
    daemon_action_links(&where, &g->conf);
    generation_install(g);
    metrics_count(METRIC_RELOADS_OK);
    metrics_reload_result(1, wall_ms());
    log_info("reload", "generation %u of %s is serving (config digest %s)", number,
             st->config_path, digest);
    return 0;
}

/* POST /-/reload: an HTTP thread must not wait behind a reload already
 * running while alerts arrive; that reload reads the same file anyway. */
static int reload_unless_busy(void *ctx, char *err, size_t err_cap)
{
    serve_state *st = ctx;
    if (pthread_mutex_trylock(&st->reload_lock) != 0)
        return RELOAD_BUSY;
    int rc = reload_locked(st, err, err_cap);
    pthread_mutex_unlock(&st->reload_lock);
    return rc;
}

/* SIGHUP: the signal thread may wait. */
static int reload_after_others(serve_state *st, char *err, size_t err_cap)
{
    pthread_mutex_lock(&st->reload_lock);
    int rc = reload_locked(st, err, err_cap);
    pthread_mutex_unlock(&st->reload_lock);
    return rc;
}

static void schedule_stored(void *ctx, notification *n) { outbox_restore(ctx, n); }

/* On the store's writer: the dispatcher applies it on its own thread. */
static void pass_request(void *ctx, queue_request *q) { outbox_request(ctx, q); }

static size_t recovered_count;

/* After a restart everything pending is due at once, in arrival order:
 * the backoffs of the last run are not kept, and the order is. What the
 * targets' limits and pauses allow is (restore_send, restore_pause). */
static void schedule_recovered(void *ctx, notification *n)
{
    recovered_count++;
    n->next_attempt_ms = 0;
    outbox_restore(ctx, n);
}

typedef struct restored_targets {
    rate_limits *limits;
    size_t sends, pauses;
} restored_targets;

static void restore_send(void *ctx, const char *target, int64_t at_ms)
{
    restored_targets *r = ctx;
    rate_restore_send(r->limits, target, at_ms);
    r->sends++;
}

static void restore_pause(void *ctx, const char *target, int64_t until_ms)
{
    restored_targets *r = ctx;
    rate_restore_pause(r->limits, target, until_ms);
    metrics_target_paused(target, until_ms);
    r->pauses++;
}

/* ---- start and stop -------------------------------------------------------- */

/* Blocks until SIGTERM or SIGINT; SIGHUP reloads. */
static void wait_for_stop(serve_state *st, const char *config_path)
{
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    char err[1024];
    for (;;) {
        int sig;
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig != SIGHUP) {
            log_info("herald", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        log_info("reload", "SIGHUP: reloading %s", config_path);
        reload_after_others(st, err, sizeof err);
    }
}

int daemon_serve(const char *config_path, const char *listen_override, generation *g)
{
    serve_state st = {.config_path = config_path, .listen_fixed = listen_override != NULL};
    pthread_mutex_init(&st.reload_lock, NULL);
    /* Kept whole for the life of the process: the start-only settings are
     * read from it, and a reload compares with it. */
    generation *started = generation_ref(g);
    const config *conf = &started->conf;
    st.started = conf;
    const char *listen = listen_override ? listen_override : conf->listen;
    log_set_level((herald_log_level)conf->log_level);
    memory_map_large_blocks(); /* before the store's and the server's threads */
    if (started->stale_note)
        log_error("config", "%s", started->stale_note);
    generation_install(g); /* from here a reload may free g, never `started` */
    /* The first load counts, as in Prometheus; serving the last good copy
     * because the files do not load is a failed one. */
    metrics_reload_result(!started->stale_note, started->stale_note ? 0 : wall_ms());

    char err[1024] = "";
    int rc = 1;
    outbox *box = NULL;
    dispatcher *disp = NULL;
    http_server *srv = NULL;
    store_settings settings = {conf->dedup_window_ms, conf->retention_ms,
                               conf->resolved_retention_ms, conf->store_lease_ms};
    store_location where = {conf->data_dir, conf->store_dsn};
    store_replica_serving(started->config_digest); /* before the store's heartbeat starts */
    char store_shown[512];
    config_store_describe(conf, store_shown, sizeof store_shown);
    store *db = store_open(&where, &settings, err, sizeof err);
    if (!db)
        goto done;
    /* A store on a server leaves data_dir to the last good copy. */
    if (conf->store_dsn && mkdir(conf->data_dir, 0750) != 0 && errno != EEXIST)
        log_warn("config", "cannot create data_dir %s for the last good configuration: %s",
                 conf->data_dir, errno_text(errno, err, sizeof err));
    if (!started->stale_note) /* into data_dir, which the store has made */
        last_good_save(started);
    box = outbox_new(conf->queue_capacity, db);
    if (store_load_pending(db, schedule_recovered, box, err, sizeof err))
        goto done;
    if (recovered_count)
        log_info("store", "resuming %zu undelivered notification%s from %s", recovered_count,
                 recovered_count == 1 ? "" : "s", store_shown);
    int64_t now = wall_ms();
    restored_targets targets = {.limits = rate_limits_new()};
    if (store_load_targets(db, now - RATE_WINDOW_MS - RATE_SAFETY_MS, now, restore_send,
                           restore_pause, &targets, err, sizeof err)) {
        rate_limits_free(targets.limits);
        goto done;
    }
    if (targets.sends || targets.pauses)
        log_info("store", "rate limits resume with %zu send%s of the last minute and %zu target%s "
                 "paused by their service", targets.sends, targets.sends == 1 ? "" : "s",
                 targets.pauses, targets.pauses == 1 ? "" : "s");
    store_on_requests(db, pass_request, box);
    if (store_start(db, schedule_stored, box, err, sizeof err))
        goto done;
    if (!(disp = dispatcher_start(box, targets.limits, err, sizeof err)))
        goto done;
    daemon_action_links(&where, conf);
    if (!(srv = http_start(listen, conf->http_threads, box, &where, reload_unless_busy, &st,
                           err, sizeof err)))
        goto done;
    log_info("herald", "herald %s serving on %s://%s (%zu receivers, generation %u, config "
             "digest %s, replica %s, store %s)", HERALD_VERSION, http_is_tls(srv) ? "https" : "http",
             listen, conf->receivers_len, started->number, started->config_digest,
             store_replica_id(), store_shown);

    wait_for_stop(&st, config_path);
    /* lua.timeout may be longer than shutdown_timeout: requests still in a
     * route script or template end now, and take their fallbacks. */
    sandbox_stop_all();
    log_info("herald", "finishing deliveries in flight for up to %lld ms",
             (long long)conf->shutdown_timeout_ms);
    http_stop_accepting(srv);
    size_t left = dispatcher_stop(disp, conf->shutdown_timeout_ms);
    disp = NULL;
    if (left)
        log_info("herald", "%zu notification%s kept in the store for the next start", left,
                 left == 1 ? "" : "s");
    rc = 0;
done:
    if (rc && listen_override && strncmp(err, "listen: ", 8) == 0)
        fprintf(stderr, "herald: --listen %s: %s\n", listen_override, err + 8);
    else if (rc)
        fprintf(stderr, "herald: %s: %s\n", config_path, err);
    if (disp)
        dispatcher_stop(disp, 0);
    if (srv)
        http_stop(srv);
    store_close(db); /* after the dispatcher: its last results are written */
    outbox_free(box);
    generation_install(NULL);
    action_links_reset();
    generation_unref(started);
    pthread_mutex_destroy(&st.reload_lock);
    if (rc == 0)
        log_info("herald", "stopped");
    return rc;
}
