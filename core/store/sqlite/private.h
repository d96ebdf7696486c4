/* The SQLite backend's own parts, shared by its files and nothing else:
 *
 *   schema.c      the schema, connections and the data_dir lock; opening
 *   writer.c      the writer thread and its job queue; closing
 *   checkpoint.c  keeping the WAL small; a full disk's episodes
 *   gather.c      the writer's VFS: its writes gathered into few large ones
 *   write.c       one transaction of inserts (with dedup), marks and sends
 *   message.c     a notification's message and delivery rows
 *   state.c       the alert state: what was seen, what each receiver was told
 *   sweep.c       retention and old target sends
 *   recovery.c    pending and requeued notifications, rate-limit targets
 *   read.c        the readers' queries, as rows
 *   deadletter.c  requeue and drop; the dead letters counted for the gauge
 *   requests.c    send-now, drop and unpause of pending notifications
 *   silences.c    silences added, expired and listed
 *   acks.c        acknowledgements
 *   escalations.c escalations stored, then sent or cancelled when due
 *   backend.c     the table store.c calls through */
#ifndef HERALD_STORE_SQLITE_PRIVATE_H
#define HERALD_STORE_SQLITE_PRIVATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/backend.h"

/* The writer's statements, prepared once. */
enum {
    STMT_INSERT_MESSAGE,
    STMT_INSERT_DELIVERY,
    STMT_INSERT_CONTENT,
    STMT_DUPLICATE,
    STMT_MARK_DELIVERED,
    STMT_MARK_RETRY,
    STMT_MARK_DEAD,
    STMT_RECORD_SEND,
    STMT_RECORD_PAUSE,
    STMT_LAST_NOTIFIED,
    STMT_INSERT_ATTEMPT,
    STMT_CLEAR_PAUSE,
    STMT_MARK_DROPPED,
    STMT_RECORD_DROP,
    STMT_SILENCED_HISTORY,
    STMT_ESCALATION_KNOWN,
    STMT_ESCALATION_INSERT,
    STMT_ESCALATION_WAIT,
    STMT_ESCALATIONS_DUE,
    STMT_COUNT
};

/* The rows a request or a notification writes to one table (its alerts'
 * states, what its receiver was told, its history) go in statements of up
 * to ROWS_PER_STATEMENT rows: a statement per row cost the writer about
 * 1.5 µs more per 5-alert request for each of the three. rows[n - 1]
 * takes n rows of the table's parameters (*_COLUMNS, bound in the order
 * their writer binds them). */
#define ROWS_PER_STATEMENT 8
typedef struct row_statements {
    sqlite3_stmt *rows[ROWS_PER_STATEMENT];
} row_statements;
#define HISTORY_COLUMNS 11
#define STATE_COLUMNS 10
#define NOTIFIED_COLUMNS 5

/* An alert's content under its day (store/content.h). */
typedef struct content_key {
    int64_t day, id;
} content_key;
#define CONTENT_KNOWN_SLOTS 1024

typedef struct sqlite_store {
    store base;
    char *data_dir;
    char *path;
    sqlite3 *db;              /* the writer's connection */
    store_settings settings;
    pthread_t writer;
    int started;
    int lock_fd;              /* data_dir/herald.lock, held while open; -1: none */
    void (*requeued)(void *ctx, notification *n);
    void *requeued_ctx;
    void (*requested)(void *ctx, queue_request *q); /* NULL: requests stay in the store */
    void *requested_ctx;
    sqlite3_stmt *stmt[STMT_COUNT];
    row_statements state_seen, notified, insert_history;
    /* the writer's alone (and the daemon's before the writer starts) */
    int page_size;
    int wal_pages;            /* in the WAL after the last commit */
    long long wal_passive_bytes; /* checkpoint.c: follows the volume's free space */
    int disk_full;            /* writes fail for want of space: 503 until one succeeds */
    int checkpoint_failing;   /* logged once until a checkpoint succeeds */
    long long data_version;   /* PRAGMA data_version at the last dead-letter count */
    char told_status[16];     /* the last status read by the repeat check */
    /* content.c: contents known to be stored, by id modulo the slots, and
     * those the open transaction stored, forgotten should it roll back */
    content_key content_known[CONTENT_KNOWN_SLOTS];
    content_key *content_pending;
    size_t content_pending_len, content_pending_cap;
} sqlite_store;

typedef struct sqlite_reader {
    store_reader base;
    char *data_dir;
    sqlite3 *db;              /* read-only */
} sqlite_reader;

/* schema.c: the schema, connections and column reads */
char *sqlite_db_path(const char *data_dir);
int sqlite_exec(sqlite3 *db, const char *sql, char *err, size_t err_cap);
/* Whether table (or view) has column: a store an older herald made may
 * lack it. */
int sqlite_has_column(sqlite3 *db, const char *table, const char *column);
/* The writer's connection, the schema made sure of, its statements
 * prepared: 0, or -1 with why. */
int sqlite_open_writer(sqlite_store *s, char *why, size_t why_cap);
/* Binds row `index` of ctx's rows to q's parameters after the first
 * `at`; whatever else the row needs written first (its content) is
 * written here. 0, or -1. */
typedef int (*row_binder)(sqlite_store *s, sqlite3_stmt *q, int at, size_t index,
                          const void *ctx);
/* len rows, ROWS_PER_STATEMENT to a statement: 0, or -1. */
int sqlite_write_rows(sqlite_store *s, row_statements *statements, int columns, size_t len,
                      row_binder bind, const void *ctx);
/* A text column copied: "" for NULL, or NULL for NULL. */
char *sqlite_column_text(sqlite3_stmt *q, int col);
char *sqlite_column_text_or_null(sqlite3_stmt *q, int col);
/* A connection for readers and the CLI: never creates the database. */
sqlite3 *sqlite_open_existing(const char *data_dir, int writable, char *err, size_t err_cap);

/* open.c */
store *sqlite_open(const store_location *where, const store_settings *settings, char *err,
                   size_t err_cap);
void sqlite_close(store *s);

/* writer.c */
int sqlite_start(store *s, void (*requeued)(void *ctx, notification *n), void *ctx, char *err,
                 size_t err_cap);

/* write.c: one transaction for the jobs; 0, or -1 when it was rolled
 * back (every job marked failed, with the reason). */
int sqlite_write_batch(sqlite_store *s, job *jobs);
/* content.c: a's labels and annotations under its content_id and the day
 * of day_ms (store/content.h), unless stored already */
int sqlite_insert_content(sqlite_store *s, int64_t day_ms, const alert_record *a);
/* What the writer's transaction became: the contents it stored stay
 * known after a COMMIT, and are forgotten by a ROLLBACK. */
void sqlite_content_committed(sqlite_store *s);
void sqlite_content_rolled_back(sqlite_store *s);
/* Nothing is known stored any more: at open, and after the retention
 * sweep deleted days of content. */
void sqlite_content_forget(sqlite_store *s);
/* message.c: n's message and its pending delivery; n->id set. */
int sqlite_insert_message(sqlite_store *s, notification *n);

/* state.c, on the writer's connection inside its transaction */
/* Every alert of the report, as now seen. */
int sqlite_state_seen(sqlite_store *s, const alert_report *seen);
/* Whether each alert of n went to its receiver in the same state (status
 * and start) within n's repeat interval (or is a resolution from
 * Prometheus's direct path it was never told of firing). */
int sqlite_state_is_repeat(sqlite_store *s, const notification *n, int *repeat);
/* n's receiver was told of its alerts now. */
int sqlite_state_notified(sqlite_store *s, const notification *n);
/* Resolved alerts past the resolved retention, and firing ones not seen
 * within the history's retention, leave the state. */
void sqlite_state_sweep(sqlite_store *s);

/* checkpoint.c */
typedef enum checkpoint_mode {
    CHECKPOINT_NONE,
    CHECKPOINT_PASSIVE,
    CHECKPOINT_TRUNCATE
} checkpoint_mode;
/* The WAL's size that starts a passive checkpoint, on a volume with
 * free_bytes left. */
long long sqlite_wal_passive_bytes(unsigned long long free_bytes);
/* What to do after a write, from the WAL's size, that threshold and
 * whether the disk is full. */
checkpoint_mode sqlite_checkpoint_policy(long long wal_bytes, long long passive_bytes,
                                         int disk_full);
/* Every connection keeps the WAL's files when it closes, the WAL cut to
 * nothing: 0, or -1 with why. */
int sqlite_keep_wal_files(sqlite3 *db, char *why, size_t why_cap);
/* The writer's connection takes its checkpoints from here: 0, or -1 with
 * why. */
int sqlite_manage_wal(sqlite_store *s, char *why, size_t why_cap);
void sqlite_checkpoint(sqlite_store *s, checkpoint_mode mode);
void sqlite_checkpoint_after_write(sqlite_store *s);
/* gather.c: the VFS the writer's connection opens with; registered
 * once, whoever calls first. */
#define SQLITE_GATHER_VFS "herald-gather"
void sqlite_register_gather_vfs(void);
/* The last statement on db failed for want of space. */
int sqlite_is_disk_full(sqlite3 *db);
/* A full disk's episode: logged once as it begins and once as it ends. */
void sqlite_disk_full_begins(sqlite_store *s);
void sqlite_disk_full_ends(sqlite_store *s);

/* sweep.c */
void sqlite_sweep_retention(sqlite_store *s);
void sqlite_sweep_targets(sqlite_store *s);

/* recovery.c */
int sqlite_load_pending(store *s, void (*each)(void *ctx, notification *n), void *ctx,
                        char *err, size_t err_cap);
int sqlite_load_targets(store *s, int64_t sent_since_ms, int64_t paused_at_ms,
                        void (*sent)(void *ctx, const char *target, int64_t at_ms),
                        void (*paused)(void *ctx, const char *target, int64_t until_ms),
                        void *ctx, char *err, size_t err_cap);
/* Notifications `herald queue retry` marked: back to the daemon. */
void sqlite_take_requeued(sqlite_store *s);

/* read.c */
store_reader *sqlite_reader_open(const store_location *where, char *err, size_t err_cap);
void sqlite_reader_close(store_reader *r);
int sqlite_list(store_reader *r, queue_view view, int limit, queue_rows *rows, char *err,
                size_t err_cap);
int sqlite_show(store_reader *r, uint64_t id, notification_detail *out, char *err,
                size_t err_cap);
int sqlite_history(store_reader *r, const history_filter *f, history_rows *rows, char *err,
                   size_t err_cap);
int sqlite_history_top(store_reader *r, const history_top *q, top_rows *rows, char *err,
                       size_t err_cap);
/* The statement failed: its message in err, the statement finalized.
 * Returns -1. */
int read_failed(sqlite_reader *r, sqlite3_stmt *q, char *err, size_t err_cap);
/* The array of rows with one more, zeroed, at its end. */
void *add_row(void *items, size_t *len, size_t size);

/* alerts.c: the alert state as readers see it */
int sqlite_alerts(store_reader *r, const alert_filter *f, int64_t now_ms, alert_state_rows *rows,
                  char *err, size_t err_cap);
int sqlite_expired_alerts(store_reader *r, int64_t now_ms, int limit, alert_state_rows *rows,
                          char *err, size_t err_cap);

/* deadletter.c */
/* Counts the dead letters into the herald_dead_letters gauge: always with
 * `changed` (the writer added or took some), else only when another
 * connection (a requeue or drop by the API or the CLI) wrote since the
 * last count. On the writer's connection. */
void sqlite_count_dead_letters(sqlite_store *s, int changed);
/* Runs the statements (each with ?1 = id, ?2 = now, ?3 and ?4 the
 * texts) on a connection of their own, in one transaction if the first
 * changes a row: 0, 1 when it changed none, -1 on error. */
int sqlite_change_queue(store_reader *r, uint64_t id, const char *text3, const char *text4,
                        const char *const *sql, size_t n, char *err, size_t err_cap);
int sqlite_requeue(store_reader *r, uint64_t id, char *err, size_t err_cap);
int sqlite_drop(store_reader *r, uint64_t id, char *err, size_t err_cap);

/* requests.c */
void sqlite_on_requests(store *s, void (*requested)(void *ctx, queue_request *q), void *ctx);
int sqlite_send_now(store_reader *r, uint64_t id, char *err, size_t err_cap);
int sqlite_drop_pending(store_reader *r, uint64_t id, const char *reason, const char *actor,
                        char *err, size_t err_cap);
int sqlite_unpause(store_reader *r, const char *receiver, char *err, size_t err_cap);
/* What operators asked since the last call: to the daemon, oldest first. */
void sqlite_take_requests(sqlite_store *s);

/* escalations.c, on the writer's connection */
/* An escalation notification (n->escalate_at_ms), stored waiting unless
 * its receiver has one for this firing already; either way held back
 * from the dispatcher (HELD_ESCALATION). Inside the writer's transaction. */
int sqlite_escalation_insert(sqlite_store *s, notification *n);
/* The due ones sent (requeued for the daemon, with their history rows)
 * or cancelled (their notification dropped with the reason), in one
 * transaction of their own. */
void sqlite_release_escalations(sqlite_store *s);
/* The last escalation sent of a's firing, into a (readers). */
int sqlite_alert_escalated(sqlite3 *db, alert_state_row *a);

/* acks.c */
int sqlite_acknowledge(store_reader *r, const char *fingerprint, const char *by,
                       const char *comment, int64_t now_ms, char *err, size_t err_cap);

/* silences.c */
int sqlite_silence_add(store_reader *r, const silence *s, char *err, size_t err_cap);
int sqlite_silence_expire(store_reader *r, const char *id, int64_t now_ms, char *err,
                          size_t err_cap);
int sqlite_silences(store_reader *r, int all, int64_t now_ms, silence_rows *rows, char *err,
                    size_t err_cap);
/* actions.c */
int sqlite_action_keys(store_reader *r, int64_t now_ms, action_keyring *ring, char *err,
                         size_t err_cap);
int sqlite_action_key_rotate(store_reader *r, int64_t now_ms, action_key *out, char *err,
                               size_t err_cap);
int sqlite_action_use(store_reader *r, const char *nonce, const char *who, int64_t now_ms,
                        int64_t expires_ms, char **prior_who, int64_t *prior_ms, char *err,
                        size_t err_cap);
int sqlite_action_used(store_reader *r, const char *nonce, char **who, int64_t *used_ms,
                         char *err, size_t err_cap);
int sqlite_action_unuse(store_reader *r, const char *nonce, char *err, size_t err_cap);

/* ---- open.c and export.c ---- */

/* Takes data_dir/herald.lock, held by a serving herald: its descriptor,
 * or -1 with err (ending in busy_reason when a herald holds it). */
int sqlite_lock_data_dir(const char *data_dir, const char *busy_reason, char *err,
                         size_t err_cap);
/* herald store copy's source: every row of a store no herald serves. */
int sqlite_export_rows(const store_location *from, store_row_fn row, void *ctx, char *err,
                       size_t err_cap);

#endif
