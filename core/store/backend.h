/* What a backend implements: every operation of store.h, for handles it
 * made. A backend's handles begin with the base structs below, so store.c
 * can forward a call to the backend that made the handle. Only store.c
 * and the backends include this. */
#ifndef HERALD_STORE_BACKEND_H
#define HERALD_STORE_BACKEND_H

#include "store/jobs.h"
#include "store/store.h"
#include "store/transfer.h"

typedef struct store_backend store_backend;

struct store {
    const store_backend *backend;
    /* what the daemon hands the backend's writer thread (store/jobs.c) */
    job_queue jobs;
};

struct store_reader {
    const store_backend *backend;
};

struct store_backend {
    store *(*open)(const store_location *where, const store_settings *settings, char *err,
                   size_t err_cap);
    int (*start)(store *s, void (*requeued)(void *ctx, notification *n), void *ctx, char *err,
                 size_t err_cap);
    void (*close)(store *s);
    int (*load_targets)(store *s, int64_t sent_since_ms, int64_t paused_at_ms,
                        void (*sent)(void *ctx, const char *target, int64_t at_ms),
                        void (*paused)(void *ctx, const char *target, int64_t until_ms),
                        void *ctx, char *err, size_t err_cap);
    int (*load_pending)(store *s, void (*each)(void *ctx, notification *n), void *ctx,
                        char *err, size_t err_cap);

    store_reader *(*reader_open)(const store_location *where, char *err, size_t err_cap);
    void (*reader_close)(store_reader *r);
    int (*list)(store_reader *r, queue_view view, int limit, queue_rows *rows, char *err,
                size_t err_cap);
    int (*show)(store_reader *r, uint64_t id, notification_detail *out, char *err,
                size_t err_cap);
    int (*requeue)(store_reader *r, uint64_t id, char *err, size_t err_cap);
    int (*drop)(store_reader *r, uint64_t id, char *err, size_t err_cap);
    int (*history)(store_reader *r, const history_filter *f, history_rows *rows, char *err,
                   size_t err_cap);
    int (*alerts)(store_reader *r, const alert_filter *f, int64_t now_ms, alert_state_rows *rows,
                  char *err, size_t err_cap);
    int (*expired_alerts)(store_reader *r, int64_t now_ms, int limit, alert_state_rows *rows,
                          char *err, size_t err_cap);
    int (*history_top)(store_reader *r, const history_top *q, top_rows *rows, char *err,
                       size_t err_cap);
    void (*on_requests)(store *s, void (*requested)(void *ctx, queue_request *q), void *ctx);
    int (*send_now)(store_reader *r, uint64_t id, char *err, size_t err_cap);
    int (*drop_pending)(store_reader *r, uint64_t id, const char *reason, const char *actor,
                        char *err, size_t err_cap);
    int (*unpause)(store_reader *r, const char *receiver, char *err, size_t err_cap);
    int (*silence_add)(store_reader *r, const silence *s, char *err, size_t err_cap);
    int (*silence_expire)(store_reader *r, const char *id, int64_t now_ms, char *err,
                          size_t err_cap);
    int (*silences)(store_reader *r, int all, int64_t now_ms, silence_rows *rows, char *err,
                    size_t err_cap);
    int (*acknowledge)(store_reader *r, const char *fingerprint, const char *by,
                       const char *comment, int64_t now_ms, char *err, size_t err_cap);
    int (*action_keys)(store_reader *r, int64_t now_ms, action_keyring *ring, char *err,
                       size_t err_cap);
    int (*action_key_rotate)(store_reader *r, int64_t now_ms, action_key *out, char *err,
                             size_t err_cap);
    int (*action_use)(store_reader *r, const char *nonce, const char *who, int64_t now_ms,
                      int64_t expires_ms, char **prior_who, int64_t *prior_ms, char *err,
                      size_t err_cap);
    int (*action_used)(store_reader *r, const char *nonce, char **who, int64_t *used_ms,
                       char *err, size_t err_cap);
    int (*action_unuse)(store_reader *r, const char *nonce, char *err, size_t err_cap);
    /* NULL: nothing to say */
    int (*describe)(const store_location *where, strbuf *report, char *err, size_t err_cap);
    /* herald store copy (store/transfer.h); NULL where the backend is not
     * a source, or not a destination. export_rows passes every row of
     * a store no daemon serves to `row`. import_end commits (commit 1) or
     * rolls back, and frees. */
    int (*export_rows)(const store_location *from, store_row_fn row, void *ctx, char *err,
                       size_t err_cap);
    store_import *(*import_begin)(const store_location *to, char *err, size_t err_cap);
    int (*import_row)(store_import *im, const store_row *row, char *err, size_t err_cap);
    int (*import_end)(store_import *im, int commit, char *err, size_t err_cap);
    /* NULL: always healthy */
    int (*healthy)(store *s);
    /* NULL: this process is the one replica */
    int (*replicas)(store_reader *r, replica_rows *rows, char *err, size_t err_cap);
};

/* What every backend's writer does alike, and when. */
/* Requeued notifications and operators' requests are looked for so often. */
#define REQUEUE_POLL_MS 1000
/* Retention and the alert state are swept so often. */
#define RETENTION_SWEEP_MS (10 * 60 * 1000)
/* Longer than any rate window: older sends cannot matter. */
#define TARGET_SENDS_KEPT_MS (60 * 60 * 1000)
/* Alertmanager's resolve_timeout default: a direct-path alert posted
 * without endsAt ends so long after it was last seen. */
#define RESOLVE_TIMEOUT_MS (5 * 60 * 1000)

/* The backend that keeps a store at `where` (store.c). */
const store_backend *store_backend_for(const store_location *where);

/* The backends there are. */
extern const store_backend sqlite_backend;
extern const store_backend postgresql_backend;

/* For a backend's replicas: this process as one (live, self; the caller
 * frees the row's strings), and what its heartbeat saw of them all: the
 * gauges set, and a warning logged when the live ones serve different
 * configurations. */
void replica_self(replica_row *out);
void replica_review(const replica_rows *rows);

#endif
