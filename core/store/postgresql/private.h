/* The PostgreSQL backend's own parts, shared by its files and nothing
 * else (the same split as the SQLite backend's):
 *
 *   connect.c     connections (and the writer's, kept), parameters, cells, errors
 *                 (redacted)
 *   schema.c      the versioned migrations, applied under a lock
 *   open.c        opening and closing
 *   claims.c      replicas sharing the outbox: claims, leases, the writer's locks
 *   admission.c   replicas sharing robots' rate windows and pauses
 *   writer.c      the writer thread and its job queue
 *   write.c       one transaction of inserts (with dedup), marks and sends
 *   message.c     a notification's message and delivery rows
 *   state.c       the alert state: what was seen, what each receiver was told
 *   sweep.c       retention and old target sends
 *   rows.c        a notification read back from its row
 *   recovery.c    pending and requeued notifications, rate-limit targets
 *   read.c        the readers' queries, as rows
 *   alerts.c      the alert state as readers see it
 *   deadletter.c  requeue and drop; the dead letters counted for the gauge
 *   requests.c    send-now, drop and unpause of pending notifications
 *   silences.c    silences added, expired and listed
 *   acks.c        acknowledgements
 *   escalations.c escalations stored, then sent or cancelled when due, by one replica
 *   replicas.c    this replica's heartbeat, the replicas as read, health
 *   backend.c     the table store.c calls through
 *
 * Times are what SQLite keeps: epoch milliseconds as BIGINT, alert times
 * as epoch seconds in double precision. Every value goes to the server
 * as a parameter, never inside the SQL text. */
#ifndef HERALD_STORE_PG_PRIVATE_H
#define HERALD_STORE_PG_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/backend.h"
#include "util/strbuf.h"

/* Advisory lock keys: herald's, whatever else shares the database. */
#define PG_LOCK_MIGRATE 7234017150001LL /* held by the transaction that migrates */

/* alert_content_id (notification/notification.h) in SQL, of two json values: the
 * first 8 bytes of SHA-256 of labels, a NUL and annotations, big-endian,
 * the top bit cleared. */
#define PG_CONTENT_ID(labels, annotations)                                                     \
    "(('x' || encode(substring(sha256(convert_to(" labels "::text, 'UTF8') || '\\x00'::bytea"   \
    " || convert_to(" annotations "::text, 'UTF8')) from 1 for 8), 'hex'))::bit(64)::bigint"  \
    " & 9223372036854775807)"

typedef struct pg_store {
    store base;
    char *dsn;
    char *where;              /* the DSN described: no user, no password */
    PGconn *db;               /* the writer's connection */
    char replica[160];        /* this process among the replicas: host:pid:random */
    int64_t next_renew_ms;    /* when the writer renews its leases next */
    store_settings settings;
    pthread_t writer;
    int started;
    void (*requeued)(void *ctx, notification *n);
    void *requeued_ctx;
    void (*requested)(void *ctx, queue_request *q); /* NULL: requests stay in the store */
    void *requested_ctx;
    int64_t last_unpause_id;  /* the newest operator's unpause this replica applied */
    atomic_int unreachable;   /* the connection is lost: logged once until it is back */
    /* replicas.c: the heartbeat, on a connection of its own */
    pthread_t heartbeat;
    int heartbeat_started;
    PGconn *heartbeat_db;
    atomic_int heartbeat_ok;  /* its last beat reached the database */
    pthread_mutex_t heartbeat_lock;
    pthread_cond_t heartbeat_wake; /* stop */
    int heartbeat_stopping;
} pg_store;

typedef struct pg_reader {
    store_reader base;
    char *dsn;
    PGconn *db;
} pg_reader;

/* ---- connect.c ---- */

/* A statement's parameters, all as text but bytea; at most PG_MAX_PARAMS
 * (the most is store copy's row of a table, STORE_TABLE_MAX_COLUMNS). */
#define PG_MAX_PARAMS 24
typedef struct pg_params {
    int n;
    const char *values[PG_MAX_PARAMS];
    int lengths[PG_MAX_PARAMS];
    int formats[PG_MAX_PARAMS];
    Oid types[PG_MAX_PARAMS]; /* numbers and bytes typed; text left to the server */
    char numbers[PG_MAX_PARAMS][32];
} pg_params;

#define PG_PARAMS_INIT {0}
void pp_text(pg_params *p, const char *text); /* NULL: SQL NULL */
void pp_int(pg_params *p, int64_t v);
void pp_double(pg_params *p, double v);
void pp_double_or_null(pg_params *p, double v); /* 0 or less: NULL */
void pp_bytes(pg_params *p, const char *data, size_t len);

/* A connection to dsn (checked first), or NULL with err saying why,
 * redacted. */
PGconn *pg_connect(const char *dsn, char *err, size_t err_cap);
/* Runs sql with the parameters (NULL: none); the result, which the
 * caller clears, is never NULL. */
PGresult *pg_run(PGconn *db, const char *sql, const pg_params *p);
/* Whether the result is a success. */
int pg_ok(const PGresult *r);
/* Runs sql (several statements allowed, no parameters): 0, or -1 with
 * why. */
int pg_exec(PGconn *db, const char *sql, char *why, size_t why_cap);
/* Runs sql with the parameters for its success alone: 0, or -1 with why. */
int pg_command(PGconn *db, const char *sql, const pg_params *p, char *why, size_t why_cap);
/* The result's error (or the connection's), redacted, in why; returns -1.
 * Clears r. */
int pg_failed(PGconn *db, PGresult *r, char *why, size_t why_cap);
/* The SQLSTATE of the last failure pg_failed reported on this thread. */
const char *pg_last_failure_state(void);
/* The SQLSTATE of a failed result, "" if none. */
const char *pg_sqlstate(const PGresult *r);
/* Cells: "" or NULL for NULL as said; numbers read 0 for NULL. */
char *pg_text(const PGresult *r, int row, int col);
char *pg_text_or_null(const PGresult *r, int row, int col);
int64_t pg_int(const PGresult *r, int row, int col);
double pg_double(const PGresult *r, int row, int col);
/* A lost connection is made again (and err says so if it cannot be):
 * 0 when the connection is usable. */
int pg_reconnect_if_lost(PGconn *db, char *err, size_t err_cap);

/* ---- schema.c ---- */

/* The schema's version this herald makes. */
int pg_schema_latest(void);
/* Brings the schema to the latest version, one herald at a time: 0, or -1
 * with why. */
int pg_migrate(PGconn *db, char *why, size_t why_cap);
/* The schema's version: 0 when none was made, -1 on error with why. */
int pg_schema_version(PGconn *db, char *why, size_t why_cap);

/* ---- open.c ---- */
store *pg_open(const store_location *where, const store_settings *settings, char *err,
               size_t err_cap);
void pg_close(store *s);
int pg_describe(const store_location *where, strbuf *out, char *err, size_t err_cap);

/* ---- writer.c ---- */
int pg_start(store *s, void (*requeued)(void *ctx, notification *n), void *ctx, char *err,
             size_t err_cap);
/* The writer's connection usable again after a loss, logged once per
 * outage: 0, or -1 with why. */
int pg_writer_connection(pg_store *s, char *why, size_t why_cap);

/* ---- write.c: one transaction for the jobs; 0, or -1 when it was
 * rolled back (every job marked failed, with the reason). ---- */
int pg_write_batch(pg_store *s, job *jobs);
/* message.c: n's message and its delivery: pending and claimed by this replica, or
 * (pending 0) waiting as an escalation; n->id set. */
int pg_insert_message(pg_store *s, notification *n, int pending, char *why, size_t why_cap);

/* ---- state.c, on the writer's connection inside its transaction (0, or
 * -1 with why), and its sweep ---- */
/* Every alert of the report, as now seen. */
int pg_state_seen(pg_store *s, const alert_report *seen, char *why, size_t why_cap);
/* Whether each alert of n went to its receiver in the same state (status
 * and start) within n's repeat interval. */
int pg_state_is_repeat(pg_store *s, const notification *n, int *repeat, char *why,
                       size_t why_cap);
/* n's receiver was told of its alerts now. */
int pg_state_notified(pg_store *s, const notification *n, char *why, size_t why_cap);
/* Resolved alerts past the resolved retention, and firing ones not seen
 * within the history's retention, leave the state. */
void pg_state_sweep(pg_store *s);

/* ---- sweep.c ---- */
void pg_sweep_retention(pg_store *s);
void pg_sweep_targets(pg_store *s);

/* ---- recovery.c ---- */
int pg_load_pending(store *s, void (*each)(void *ctx, notification *n), void *ctx, char *err,
                    size_t err_cap);
int pg_load_targets(store *s, int64_t sent_since_ms, int64_t paused_at_ms,
                    void (*sent)(void *ctx, const char *target, int64_t at_ms),
                    void (*paused)(void *ctx, const char *target, int64_t until_ms), void *ctx,
                    char *err, size_t err_cap);

/* ---- claims.c ---- */
/* Claims free pending notifications (unclaimed, a dead replica's whose
 * lease expired, or requeued dead letters), at most `limit`, oldest
 * first, and passes each to `each`: how many, or -1 with why. */
int pg_claim_free(pg_store *s, int limit, void (*each)(void *ctx, notification *n), void *ctx,
                  char *why, size_t why_cap);
/* Renews the leases of what this replica holds, when due. */
void pg_renew_leases(pg_store *s);
/* Gives back what this replica holds (at a stop), for the others to claim
 * at once. */
void pg_release_claims(pg_store *s);
/* In the writer's transaction, before anything else: the locks
 * serializing the repeat and dedup checks with other replicas' commits of
 * the same alerts, and admissions to the same targets. */
int pg_lock_checks(pg_store *s, const job *jobs, char *why, size_t why_cap);

/* ---- admission.c ---- */
/* In the writer's transaction, the target locked: admits j's send (and
 * records it) or refuses it, answering j->admission: 0, or -1 with why. */
int pg_admit_send(pg_store *s, const job *j, char *why, size_t why_cap);

/* recovery.c's row of a notification, columns PG_PENDING_COLUMNS (m
 * being messages, t the delivery state). */
#define PG_PENDING_COLUMNS                                                                       \
    "m.id, m.receiver, m.status, m.alert_count, m.format, m.title, m.text, m.mentions,"         \
    " m.payload, m.group_key, m.dedup_key, m.created_ms, t.next_attempt_ms, t.attempts,"       \
    " t.last_error, m.entries"
notification *pg_row_to_notification(const PGresult *r, int row);

/* ---- read.c ---- */
store_reader *pg_reader_open(const store_location *where, char *err, size_t err_cap);
void pg_reader_close(store_reader *r);
int pg_list(store_reader *r, queue_view view, int limit, queue_rows *rows, char *err,
            size_t err_cap);
int pg_show(store_reader *r, uint64_t id, notification_detail *out, char *err, size_t err_cap);
int pg_history(store_reader *r, const history_filter *f, history_rows *rows, char *err,
               size_t err_cap);
int pg_history_top(store_reader *r, const history_top *q, top_rows *rows, char *err,
                   size_t err_cap);
/* "store: <why>" in err from a failed result; returns -1. */
int pg_read_failed(pg_reader *r, PGresult *res, char *err, size_t err_cap);
/* The array of rows with one more, zeroed, at its end. */
void *pg_add_row(void *items, size_t *len, size_t size);

/* ---- alerts.c ---- */
int pg_alerts(store_reader *r, const alert_filter *f, int64_t now_ms, alert_state_rows *rows,
              char *err, size_t err_cap);
int pg_expired_alerts(store_reader *r, int64_t now_ms, int limit, alert_state_rows *rows,
                      char *err, size_t err_cap);

/* ---- deadletter.c ---- */
void pg_count_dead_letters(pg_store *s);
/* Runs the statements (each with $1 = id, $2 = now, $3 and $4 the texts,
 * as many as it uses) on the reader's connection, in one transaction if
 * the first changes a row: 0, 1 when it changed none, -1 on error. */
int pg_change_queue(store_reader *r, uint64_t id, const char *text3, const char *text4,
                    const char *const *sql, size_t n, char *err, size_t err_cap);
int pg_requeue(store_reader *r, uint64_t id, char *err, size_t err_cap);
int pg_drop(store_reader *r, uint64_t id, char *err, size_t err_cap);

/* ---- requests.c ---- */
void pg_on_requests(store *s, void (*requested)(void *ctx, queue_request *q), void *ctx);
int pg_send_now(store_reader *r, uint64_t id, char *err, size_t err_cap);
int pg_drop_pending(store_reader *r, uint64_t id, const char *reason, const char *actor,
                    char *err, size_t err_cap);
int pg_unpause(store_reader *r, const char *receiver, char *err, size_t err_cap);
/* What operators asked since the last call: to the daemon, oldest first. */
void pg_take_requests(pg_store *s);

/* ---- escalations.c ---- */
/* As SQLite's (sqlite/private.h), on the writer's connection. */
int pg_escalation_insert(pg_store *s, notification *n, char *why, size_t why_cap);
void pg_release_escalations(pg_store *s);
int pg_alert_escalated(pg_reader *r, alert_state_row *a, char *err, size_t err_cap);

/* ---- acks.c ---- */
int pg_acknowledge(store_reader *r, const char *fingerprint, const char *by,
                   const char *comment, int64_t now_ms, char *err, size_t err_cap);

/* ---- silences.c ---- */
int pg_silence_add(store_reader *r, const silence *s, char *err, size_t err_cap);
int pg_silence_expire(store_reader *r, const char *id, int64_t now_ms, char *err,
                      size_t err_cap);
int pg_silences(store_reader *r, int all, int64_t now_ms, silence_rows *rows, char *err,
                size_t err_cap);
/* actions.c */
int pg_action_keys(store_reader *r, int64_t now_ms, action_keyring *ring, char *err,
                     size_t err_cap);
int pg_action_key_rotate(store_reader *r, int64_t now_ms, action_key *out, char *err,
                           size_t err_cap);
int pg_action_use(store_reader *r, const char *nonce, const char *who, int64_t now_ms,
                    int64_t expires_ms, char **prior_who, int64_t *prior_ms, char *err,
                    size_t err_cap);
int pg_action_used(store_reader *r, const char *nonce, char **who, int64_t *used_ms,
                     char *err, size_t err_cap);
int pg_action_unuse(store_reader *r, const char *nonce, char *err, size_t err_cap);

/* ---- import.c: herald store copy's destination ---- */
store_import *pg_import_begin(const store_location *to, char *err, size_t err_cap);
int pg_import_row(store_import *im, const store_row *row, char *err, size_t err_cap);
int pg_import_end(store_import *im, int commit, char *err, size_t err_cap);
/* ---- replicas.c ---- */
/* Starts the thread that writes this replica's heartbeat every
 * STORE_HEARTBEAT_MS: 0, or -1 with err. */
int pg_heartbeat_start(pg_store *s, char *err, size_t err_cap);
/* Stops it and removes this replica's row (a clean stop is not "gone"). */
void pg_heartbeat_stop(pg_store *s);
int pg_healthy(store *s);
int pg_replicas(store_reader *r, replica_rows *rows, char *err, size_t err_cap);

#endif
