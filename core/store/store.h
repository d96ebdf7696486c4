/* The durable store (SQLite in WAL mode under data_dir): the outbox of
 * notifications with their delivery state, dead letters, and the alert
 * history.
 *
 * One writer thread owns the write connection. Ingest threads hand it
 * batches and wait; it commits everything waiting in one transaction (one
 * fsync for many requests: group commit) and wakes them. Delivery results
 * are handed over without waiting and ride along in the next transaction.
 * Everything herald needs from storage goes through this header, so a
 * shared backend (PostgreSQL, for several replicas) can be added beside it
 * without touching the pipeline or the dispatcher. */
#ifndef HERALD_STORE_H
#define HERALD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "delivery/notification.h"
#include "util/strbuf.h"

typedef struct store store;

typedef struct store_settings {
    int64_t dedup_window_ms;   /* 0: no deduplication */
    int64_t retention_ms;      /* history, delivered and dead rows older than this go */
} store_settings;

/* Opens (creating if needed) data_dir/herald.db. Returns NULL with err. */
store *store_open(const char *data_dir, const store_settings *settings, char *err,
                  size_t err_cap);
/* Finishes what was handed over, stops the writer and closes. */
void store_close(store *s);

/* Starts the writer thread; requeued notifications (herald queue retry)
 * are passed to `requeued` from that thread. */
int store_start(store *s, void (*requeued)(void *ctx, notification *n), void *ctx);

/* Called on the writer thread once a commit is on disk (failed = 0) or was
 * refused by the disk (failed = 1, with the reason). */
typedef void (*store_committed_fn)(void *ctx, int failed, const char *error);

/* Hands the notifications and their history rows to the writer, which
 * makes them durable with whatever else is waiting and then calls `done`.
 * A notification that duplicates one stored within the dedup window is not
 * stored: its id stays 0. The items must stay alive until `done`. */
void store_commit(store *s, notification **items, size_t n, store_committed_fn done, void *ctx);

/* Delivery results, recorded in the background: `done` runs on the writer
 * thread once the result is on disk (a failed write is tried again until
 * it is), or with failed = 1 if the store closes first. Until then a
 * crash would send the notification again. */
void store_mark_delivered(store *s, const notification *n, store_committed_fn done, void *ctx);
void store_mark_retry(store *s, const notification *n, store_committed_fn done, void *ctx);
void store_mark_dead(store *s, const notification *n, const char *reason,
                     store_committed_fn done, void *ctx);

/* What the rate limiter must know after a restart. A target is named by
 * a digest, never by its URL. store_record_send calls `done` (on the
 * writer thread) once the send is on disk, or failed = 1 if the disk
 * refused it: a message to a rate-limited target goes out only after
 * that, so a restart cannot forget a send and overrun the window. A
 * pause (the service's penalty) is recorded in the background. */
void store_record_send(store *s, const char *target, int64_t at_ms, store_committed_fn done,
                       void *ctx);
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

/* ---- reading, for the API and the CLI (own connections; safe while the
 * daemon runs) ---------------------------------------------------------- */

typedef enum queue_view { QUEUE_PENDING, QUEUE_DEAD } queue_view;

/* Appends a JSON array of notifications in that state, newest first. */
int store_list(const char *data_dir, queue_view view, int limit, strbuf *json, char *err,
               size_t err_cap);
/* Appends one notification as JSON (with its text and alerts); 1 when
 * there is no such id. */
int store_show(const char *data_dir, uint64_t id, strbuf *json, char *err, size_t err_cap);
/* Dead letter -> delivered again by the running daemon (or at its next
 * start). Returns 0, 1 when id is not a dead letter, -1 on error. */
int store_requeue(const char *data_dir, uint64_t id, char *err, size_t err_cap);
/* Removes a dead letter. Same returns as store_requeue. */
int store_drop(const char *data_dir, uint64_t id, char *err, size_t err_cap);

typedef struct history_filter {
    const char *alertname;
    const char *receiver;
    const char *status;
    int64_t since_ms;          /* 0: no bound */
    int64_t until_ms;          /* 0: no bound */
    int limit;
} history_filter;

/* Appends a JSON array of history rows, newest first. */
int store_history(const char *data_dir, const history_filter *f, strbuf *json, char *err,
                  size_t err_cap);
/* Appends a JSON array [{"<by>": value, "count": n}] of the most frequent
 * values of `by` (alertname, instance, severity or receiver) since then. */
int store_history_top(const char *data_dir, const char *by, int64_t since_ms, int limit,
                      strbuf *json, char *err, size_t err_cap);

#endif
