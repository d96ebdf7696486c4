/* The durable store: the outbox of notifications with their delivery
 * state, dead letters, and the alert history. Everything herald keeps
 * goes through this header; nothing outside core/store/ knows which
 * database holds it.
 *
 * Backends. A backend is a table of the operations below (store_backend
 * in store/backend.h). store.c picks the backend for a store_location in
 * one function, store_backend_for(), and forwards every call to it. Today
 * that is SQLite (core/store/sqlite/: data_dir/herald.db in WAL mode)
 * unless the location names a PostgreSQL database (core/store/postgresql/,
 * shared by several replicas). What is the same whatever the database is
 * written once: the writer's job queue (store/jobs.c, which also holds
 * the operations that only hand the writer a job) and whether a
 * notification repeats what its receiver was told (store/repeat.c).
 *
 * Two sides. The daemon opens a `store` and writes through it: one
 * writer thread owns the write connection; ingest threads hand it
 * batches and wait; it commits everything waiting in one transaction (one
 * fsync for many requests: group commit) and wakes them. Delivery results
 * are handed over without waiting and ride along in the next transaction.
 * The API and the CLI open a `store_reader`, a connection of their own,
 * safe while the daemon runs; reads return rows, which the caller frees.
 * What a reader asks for is checked once, by store/query.h: the read
 * functions take only checked queries.
 *
 * Returns: 0 success, -1 failure with err set, 1 "no such id" where a
 * function says so. */
#ifndef HERALD_STORE_H
#define HERALD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "alert/matcher.h"
#include "action/token.h"
#include "alert/silence.h"
#include "notification/notification.h"
#include "util/strbuf.h"

/* Where a store is. */
typedef struct store_location {
    const char *data_dir;      /* SQLite: data_dir/herald.db, locked by data_dir/herald.lock */
    const char *dsn;           /* PostgreSQL: libpq's connection string (a secret); NULL: SQLite */
} store_location;

/* ---- the daemon's side ---------------------------------------------------- */

typedef struct store store;

typedef struct store_settings {
    int64_t dedup_window_ms;   /* 0: no deduplication */
    int64_t retention_ms;      /* history, delivered and dead rows older than this go */
    int64_t resolved_retention_ms; /* a resolved alert stays in the alert state so long */
    int64_t lease_ms;          /* PostgreSQL: a replica's claim outlives its renewal so long */
} store_settings;

/* Opens (creating if needed) the store and holds it: a second daemon on
 * the same store is refused. Returns NULL with err. */
store *store_open(const store_location *where, const store_settings *settings, char *err,
                  size_t err_cap);
/* Finishes what was handed over, stops the writer and closes. */
void store_close(store *s);

/* Starts the writer thread; requeued notifications (herald queue retry)
 * are passed to `requeued` from that thread. */
int store_start(store *s, void (*requeued)(void *ctx, notification *n), void *ctx, char *err,
                size_t err_cap);

/* Called on the writer thread once a commit is on disk (failed = 0) or was
 * refused by the disk (failed = 1, with the reason). */
typedef void (*store_committed_fn)(void *ctx, int failed, const char *error);

/* Hands the notifications and their history rows to the writer, which
 * makes them durable with whatever else is waiting and then calls `done`.
 * In the same transaction the alert state takes every alert of `seen`
 * (NULL: none) and the receivers each notification goes to. A
 * notification is not stored (its id stays 0) when it duplicates one
 * stored within the dedup window, or when every alert it carries went to
 * its receiver in the same state within the receiver's repeat interval.
 * The items and `seen` must stay alive until `done`. */
void store_commit(store *s, notification **items, size_t n, const alert_report *seen,
                  store_committed_fn done, void *ctx);

/* Delivery results, recorded in the background: `done` runs on the writer
 * thread once the result is on disk (a failed write is tried again until
 * it is), or with failed = 1 if the store closes first. Until then a
 * crash would send the notification again. */
void store_mark_delivered(store *s, const notification *n, store_committed_fn done, void *ctx);
void store_mark_retry(store *s, const notification *n, store_committed_fn done, void *ctx);
void store_mark_dead(store *s, const notification *n, const char *reason,
                     store_committed_fn done, void *ctx);
/* Herald itself does not deliver it (quiet hours, muted = "drop"): kept
 * as dropped, with the reason, and an attempt row by the actor below. */
void store_mark_dropped(store *s, const notification *n, const char *reason,
                        store_committed_fn done, void *ctx);
#define STORE_QUIET_HOURS_ACTOR "quiet hours"

/* What the rate limiter must know after a restart, and what replicas
 * sharing a robot must agree on. A target is named by a digest, never by
 * its URL. A message to a rate-limited target goes out only after
 * store_admit_send has answered (`done`, on the writer thread): the send
 * is on disk, so a restart cannot forget it and overrun the window. Where
 * replicas share the store, the admission is also the decision: made under
 * a lock on the target, against every replica's sends and the target's
 * pause, it refuses a send the window has no room for (and records
 * nothing), and answers the window as all replicas filled it, for the
 * dispatcher's limiter to follow. A failed write admits: the message goes
 * (a store that refuses the record refuses the delivery results too). A
 * pause (the service's penalty) is recorded in the background. */
typedef struct send_admission {
    /* asked: the target's limits, and the windows they are judged over */
    unsigned per_minute, per_second;  /* 0: none */
    int64_t minute_window_ms, second_window_ms;
    int past_pause;                   /* an operator's send-now: the pause does not refuse */
    /* answered */
    int refused;
    int64_t paused_until_ms;          /* 0: not paused */
    int64_t *window;                  /* the target's sends within the minute window, oldest
                                       * first, this one included if admitted; NULL: nothing
                                       * shared (one process: its limiter is the truth).
                                       * The caller frees it. */
    size_t window_len;
} send_admission;

void store_admit_send(store *s, const char *target, int64_t at_ms, send_admission *admission,
                      store_committed_fn done, void *ctx);
void store_record_pause(store *s, const char *target, int64_t until_ms);
/* The sends since sent_since_ms, oldest first, and the pauses that last
 * past paused_at_ms. Before store_start, like store_load_pending. */
int store_load_targets(store *s, int64_t sent_since_ms, int64_t paused_at_ms,
                       void (*sent)(void *ctx, const char *target, int64_t at_ms),
                       void (*paused)(void *ctx, const char *target, int64_t until_ms), void *ctx,
                       char *err, size_t err_cap);

/* Every notification still to deliver (after a restart), oldest first.
 * Before store_start: it uses the connection the writer then owns. */
int store_load_pending(store *s, void (*each)(void *ctx, notification *n), void *ctx,
                       char *err, size_t err_cap);

/* What an operator asked of the running daemon about its queue (herald
 * queue send-now, drop, unpause, or the API): the store has recorded it,
 * and the daemon's memory must follow. */
typedef enum queue_request_kind {
    QUEUE_SEND_NOW,   /* attempt notification `id` at once */
    QUEUE_DROP,       /* stop delivering notification `id`: the store has it dropped */
    QUEUE_UNPAUSE     /* clear the pauses of `receiver`'s targets */
} queue_request_kind;

typedef struct queue_request {
    queue_request_kind kind;
    uint64_t id;
    char *receiver;
    struct queue_request *next; /* for whoever queues it */
} queue_request;

void queue_request_free(queue_request *q);

/* Before store_start: requests are passed to `requested` (which owns
 * them) from the writer thread, within a second of being made, and those
 * made while no daemon ran right after the start. */
void store_on_requests(store *s, void (*requested)(void *ctx, queue_request *q), void *ctx);
/* An operator cleared a target's pause: a restart must not restore it. */
void store_clear_pause(store *s, const char *target);

/* ---- the readers' side: the API and the CLI -------------------------------- */

typedef struct store_reader store_reader;

/* Never creates a store: one that does not exist yet is an error that
 * says so. Returns NULL with err. */
store_reader *store_reader_open(const store_location *where, char *err, size_t err_cap);
void store_reader_close(store_reader *r);

typedef enum queue_view { QUEUE_PENDING, QUEUE_DEAD } queue_view;

/* A notification as the queue shows it. */
typedef struct queue_row {
    uint64_t id;
    char *receiver;
    char *status;              /* firing | resolved */
    int64_t alert_count;
    char *state;               /* pending | requeued | delivered | dead | dropped */
    int64_t attempts;
    char *last_error;          /* NULL: none; dead and dropped: the reason */
    int64_t created_ms;
    int64_t next_attempt_ms;
    int64_t finished_ms;       /* 0: not finished */
    char *title;
} queue_row;

typedef struct queue_rows {
    queue_row *items;
    size_t len;
} queue_rows;

/* The notifications in that state, newest first, at most limit (checked
 * by query_queue). */
int store_list(store_reader *r, queue_view view, int limit, queue_rows *rows, char *err,
               size_t err_cap);
void queue_rows_free(queue_rows *rows);

/* One alert of a notification, as its history row keeps it. */
typedef struct alert_row {
    char *fingerprint;
    char *alertname;
    char *status;
    char *labels_json;         /* a JSON object */
} alert_row;

/* One attempt's outcome, or an operator's drop. */
typedef struct attempt_row {
    int64_t at_ms;
    char *outcome;             /* delivered | retry | dead | dropped */
    char *detail;              /* the error, or the reason; NULL: none */
    char *actor;               /* who dropped it; NULL for an attempt */
} attempt_row;

typedef struct notification_detail {
    queue_row summary;
    char *text;
    char *mentions_json;       /* {"mobiles":[...],"user_ids":[...],"all":false} */
    alert_row *alerts;
    size_t alerts_len;
    attempt_row *attempts;     /* oldest first */
    size_t attempts_len;
} notification_detail;

/* One notification with its text and alerts; 1 when there is no such id. */
int store_show(store_reader *r, uint64_t id, notification_detail *out, char *err, size_t err_cap);
void notification_detail_free(notification_detail *d);

/* Dead letter -> delivered again by the running daemon (or at its next
 * start). Returns 0, 1 when id is not a dead letter, -1 on error. */
int store_requeue(store_reader *r, uint64_t id, char *err, size_t err_cap);
/* Removes a dead letter. Same returns as store_requeue. */
int store_drop(store_reader *r, uint64_t id, char *err, size_t err_cap);

/* A pending notification is attempted at once by the running daemon (or
 * at its next start), past its backoff and its targets' pauses, within
 * their rate windows. Returns 0, 1 when id is not pending, -1 on error. */
int store_send_now(store_reader *r, uint64_t id, char *err, size_t err_cap);
/* A pending notification is never delivered: kept as dropped, with the
 * reason (NULL: "dropped by operator") and who asked (actor). Same
 * returns as store_send_now. */
int store_drop_pending(store_reader *r, uint64_t id, const char *reason, const char *actor,
                       char *err, size_t err_cap);
/* The running daemon (or the next to start) clears the pauses of the
 * receiver's targets and sends to them at once. Returns 0 or -1. */
int store_unpause(store_reader *r, const char *receiver, char *err, size_t err_cap);

/* Built by query_history: every field checked. */
typedef struct history_filter {
    const char *alertname;     /* NULL: any */
    const char *receiver;      /* NULL: any */
    const char *status;        /* NULL, "firing" or "resolved" */
    int64_t since_ms;          /* 0: no bound */
    int64_t until_ms;          /* 0: no bound */
    int limit;                 /* 1 to 10000 */
} history_filter;

typedef struct history_row {
    int64_t id;
    int64_t notification_id;
    char *fingerprint;
    char *alertname;
    char *instance;
    char *severity;
    char *status;
    double starts_at;          /* epoch seconds */
    double ends_at;            /* 0: not ended */
    char *receiver;
    char *labels_json;
    char *annotations_json;
    char *result;              /* pending | delivered | dead | dropped: the notification's;
                                * silenced: not routed (no notification, receiver "") */
    char *silenced_by;         /* the silence's id; NULL: not silenced */
    int64_t created_ms;
} history_row;

typedef struct history_rows {
    history_row *items;
    size_t len;
} history_rows;

/* One row per alert per notification, newest first. */
int store_history(store_reader *r, const history_filter *f, history_rows *rows, char *err,
                  size_t err_cap);
void history_rows_free(history_rows *rows);

/* Built by query_top: every field checked. */
typedef struct history_top {
    const char *by;            /* a label name, or "receiver": herald's receiver */
    int64_t since_ms;
    int limit;                 /* 1 to 10000 */
} history_top;

typedef struct top_row {
    char *value;
    int64_t count;
} top_row;

typedef struct top_rows {
    top_row *items;
    size_t len;
} top_rows;

/* The most frequent values of `by` among the alerts that fired since
 * then, most frequent first. It counts firings: an alert (its
 * fingerprint) once for each time it started firing (its startsAt),
 * however many receivers it went to and however often it was sent
 * again; by receiver, each receiver's firings. Alerts without the label
 * (or with it empty, which Prometheus takes as the same) are left out. */
int store_history_top(store_reader *r, const history_top *q, top_rows *rows, char *err,
                      size_t err_cap);
void top_rows_free(top_rows *rows);

/* ---- the alert state ---------------------------------------------------- */

/* What a receiver was last told of an alert. */
typedef struct alert_notice {
    char *receiver;
    char *status;
    int64_t notified_ms;
} alert_notice;

typedef struct alert_state_row {
    char *fingerprint;
    char *alertname;
    char *labels_json;
    char *annotations_json;
    char *status;              /* firing | resolved */
    double starts_at;          /* epoch seconds */
    double ends_at;            /* 0: none given */
    char *source;              /* the endpoint it came in on last: alerts, webhook, dingtalk */
    int64_t first_seen_ms;
    int64_t last_seen_ms;
    int64_t resolved_ms;       /* 0: firing */
    char *silenced_by;         /* the silence that held its last post back; NULL: none */
    char *acknowledged_by;     /* who acknowledged this firing; NULL: nobody */
    int64_t acknowledged_ms;
    char *ack_comment;         /* NULL: none given */
    char *escalated_to;        /* the last receiver this firing was escalated to; NULL: none */
    int64_t escalated_ms;
    alert_notice *receivers;   /* by name */
    size_t receivers_len;
} alert_state_row;

typedef struct alert_state_rows {
    alert_state_row *items;
    size_t len;
} alert_state_rows;

/* Built by query_alerts: every field checked. */
typedef struct alert_filter {
    matcher_set matchers;      /* on the labels; none: every alert */
    const char *receiver;      /* NULL: any; else alerts that receiver was told of */
    const char *status;        /* NULL: both; "firing" or "resolved" */
    int limit;                 /* 1 to 10000 */
} alert_filter;

/* The alerts in the current view (firing, and resolved ones until their
 * resolved_retention passes), oldest start first. */
int store_alerts(store_reader *r, const alert_filter *f, int64_t now_ms, alert_state_rows *rows,
                 char *err, size_t err_cap);
/* Firing alerts from Prometheus's direct path whose endsAt has passed
 * at now_ms without a newer one: they are resolved. One posted without
 * endsAt ends 5 minutes (Alertmanager's resolve_timeout) after it was
 * last seen, which ends_at then gives. At most limit. */
int store_expired_alerts(store_reader *r, int64_t now_ms, int limit, alert_state_rows *rows,
                         char *err, size_t err_cap);
void alert_state_rows_free(alert_state_rows *rows);

/* ---- acknowledgements ------------------------------------------------------ */

/* What store_acknowledge found. */
typedef enum ack_outcome {
    ACK_DONE = 0,              /* acknowledged now */
    ACK_UNKNOWN = 1,           /* no alert with that fingerprint in the state */
    ACK_NOT_FIRING = 2,        /* it has resolved */
    ACK_ALREADY = 3            /* this firing was acknowledged before */
} ack_outcome;

/* Acknowledges the firing alert `fingerprint` as `by` (comment may be
 * NULL) at now_ms, on a connection of its own like the queue's changes:
 * its repeats and its escalations stop until it resolves or fires anew
 * (an escalation still waiting is cancelled when its time comes).
 * Only one of several callers racing on one firing gets ACK_DONE, so a
 * reused acknowledgement (a link followed twice) is refused. Returns an
 * ack_outcome, or -1 with err. */
int store_acknowledge(store_reader *r, const char *fingerprint, const char *by,
                      const char *comment, int64_t now_ms, char *err, size_t err_cap);

/* ---- silences (alert/silence.h) ------------------------------------------ */

/* Like the queue's changes, made by the CLI or the API on a connection
 * of their own; every daemon on the store reads the active ones again
 * every second (SILENCE_REFRESH_MS). */
#define SILENCE_REFRESH_MS 1000

/* Stores a new silence: 0, or -1 with err. */
int store_silence_add(store_reader *r, const silence *s, char *err, size_t err_cap);
/* Ends silence `id` at now_ms: 0, 1 when there is no such silence, 2
 * when it had already ended; -1 with err. */
int store_silence_expire(store_reader *r, const char *id, int64_t now_ms, char *err,
                         size_t err_cap);
/* The silences active at now_ms, or (all) also those that ended within
 * the history's retention; newest first. */
int store_silences(store_reader *r, int all, int64_t now_ms, silence_rows *rows, char *err,
                   size_t err_cap);

/* ---- action links (action/token.h) ------------------------------------------ */

/* The keys that sign and verify action links, oldest first; when the
 * store has none, one is made first (replicas that start together agree
 * on it: the first stored wins). 0, or -1 with err. */
int store_action_keys(store_reader *r, int64_t now_ms, action_keyring *ring, char *err,
                      size_t err_cap);
/* A new key signs from now on; those replaced more than
 * ACTION_MAX_TTL_MS ago are deleted. The new key in *out. */
int store_action_key_rotate(store_reader *r, int64_t now_ms, action_key *out, char *err,
                            size_t err_cap);
/* Records that link `nonce` was used by `who` at now_ms (kept until
 * expires_ms): 0; 1 when it had been used, with who and when in
 * *prior_who (the caller frees it) and *prior_ms; -1 with err. */
int store_action_use(store_reader *r, const char *nonce, const char *who, int64_t now_ms,
                     int64_t expires_ms, char **prior_who, int64_t *prior_ms, char *err,
                     size_t err_cap);
/* Whether link `nonce` was used: 0 no; 1 yes, with who and when as
 * store_action_use gives them; -1 with err. */
int store_action_used(store_reader *r, const char *nonce, char **who, int64_t *used_ms,
                      char *err, size_t err_cap);
/* Forgets a use whose action then failed: the link may be tried again. */
int store_action_unuse(store_reader *r, const char *nonce, char *err, size_t err_cap);

/* ---- herald check ----------------------------------------------------------- */

/* For a store on a server, connects and appends a line for `herald
 * check`: where it is, the server's version and the schema's. A store in
 * data_dir adds nothing. */
int store_describe(const store_location *where, strbuf *report, char *err, size_t err_cap);

/* ---- replicas: the heralds serving from one store ------------------------ */

/* A replica writes its heartbeat so often; one silent for
 * STORE_REPLICA_GONE_MS is gone (shown so, no longer counted), and its
 * row is swept after STORE_REPLICA_SWEEP_MS. */
#define STORE_HEARTBEAT_MS 2000
#define STORE_REPLICA_GONE_MS (3 * STORE_HEARTBEAT_MS)
#define STORE_REPLICA_SWEEP_MS (10 * 60 * 1000)

typedef struct replica_row {
    char *id;                  /* store_replica_id() of that process */
    char *version;
    char *config_digest;       /* generation_digest() of what it serves */
    int64_t started_ms;
    int64_t heartbeat_ms;
    int live;                  /* its heartbeat is recent */
    int self;                  /* the process asking */
} replica_row;

typedef struct replica_rows {
    replica_row *items;        /* live ones first, then by id */
    size_t len;
} replica_rows;

/* This process as a replica: "hostname:pid:random", the name its claims
 * and its heartbeat go by. */
const char *store_replica_id(void);
/* The configuration this process serves now (at start and after each
 * reload): its heartbeats carry the digest. */
void store_replica_serving(const char *config_digest);
/* Whether the daemon's store can write now: a store on a server that is
 * unreachable is not (the daemon answers 503 until it is back). */
int store_healthy(store *s);
/* How many live replicas the last heartbeat saw, this one included (1
 * before the first, and for a store in data_dir). */
unsigned store_live_replicas(void);
/* The replicas that serve from this store, gone ones included; a store
 * in data_dir has one, this process. */
int store_replicas(store_reader *r, replica_rows *rows, char *err, size_t err_cap);
/* Whether the live replicas serve different configurations. */
int replica_configs_differ(const replica_rows *rows);
void replica_rows_free(replica_rows *rows);

#endif
