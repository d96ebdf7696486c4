#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <sqlite3.h>

#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000
#define REQUEUE_POLL_MS 1000
#define RETENTION_SWEEP_MS (10 * 60 * 1000)
/* Longer than any rate window: older sends cannot matter. */
#define TARGET_SENDS_KEPT_MS (60 * 60 * 1000)

/* A notification's content never changes after it is stored; its delivery
 * state changes on every attempt. They live in separate tables, so an
 * attempt rewrites a small row, not the message and its payload, and the
 * history's result is read through the state instead of being rewritten. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS messages ("
    /* never reused: history rows of a dropped or swept notification must
     * not attach to a new one */
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  receiver TEXT NOT NULL, status TEXT NOT NULL, alert_count INTEGER NOT NULL,"
    "  format INTEGER NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,"
    "  mentions TEXT NOT NULL, payload BLOB, group_key TEXT NOT NULL, dedup_key TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS messages_by_dedup ON messages(dedup_key, created_ms);"
    "CREATE TABLE IF NOT EXISTS deliveries ("
    "  id INTEGER PRIMARY KEY,"       /* the message's id */
    "  state TEXT NOT NULL,"          /* pending | requeued | delivered | dead */
    "  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL,"
    "  last_error TEXT, finished_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries(state);"
    "CREATE VIEW IF NOT EXISTS notifications AS"
    "  SELECT m.id, m.receiver, m.status, m.alert_count, m.format, m.title, m.text, m.mentions,"
    "         m.payload, m.group_key, m.dedup_key, m.created_ms, d.state, d.attempts,"
    "         d.next_attempt_ms, d.last_error, d.finished_ms"
    "  FROM messages m JOIN deliveries d ON d.id = m.id;"
    "CREATE TABLE IF NOT EXISTS history ("
    "  id INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL,"
    "  fingerprint TEXT NOT NULL, alertname TEXT NOT NULL, instance TEXT NOT NULL,"
    "  severity TEXT NOT NULL, status TEXT NOT NULL, starts_at REAL, ends_at REAL,"
    "  receiver TEXT NOT NULL, labels TEXT NOT NULL, annotations TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS history_by_time ON history(created_ms);"
    "CREATE INDEX IF NOT EXISTS history_by_notification ON history(notification_id);"
    /* What the rate limiter must remember across a restart: recent sends
     * to rate-limited targets and the pauses services imposed. A target
     * is named by a digest of its key, which holds the robot's token. */
    "CREATE TABLE IF NOT EXISTS target_sends (target TEXT NOT NULL, sent_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS target_sends_by_time ON target_sends(sent_ms);"
    "CREATE TABLE IF NOT EXISTS target_pauses ("
    "  target TEXT PRIMARY KEY, until_ms INTEGER NOT NULL);"
    "CREATE VIEW IF NOT EXISTS history_results AS"
    "  SELECT h.*, CASE d.state WHEN 'delivered' THEN 'delivered' WHEN 'dead' THEN 'dead'"
    "                 ELSE 'pending' END AS result"
    "  FROM history h LEFT JOIN deliveries d ON d.id = h.notification_id;";

/* The writer's statements, prepared once. */
enum {
    STMT_INSERT_MESSAGE,
    STMT_INSERT_DELIVERY,
    STMT_INSERT_HISTORY,
    STMT_DUPLICATE,
    STMT_MARK_DELIVERED,
    STMT_MARK_RETRY,
    STMT_MARK_DEAD,
    STMT_RECORD_SEND,
    STMT_RECORD_PAUSE,
    STMT_COUNT
};

static const char *const statement_sql[STMT_COUNT] = {
    [STMT_INSERT_MESSAGE] =
        "INSERT INTO messages(receiver, status, alert_count, format, title, text, mentions,"
        " payload, group_key, dedup_key, created_ms)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [STMT_INSERT_DELIVERY] =
        "INSERT INTO deliveries(id, state, attempts, next_attempt_ms) VALUES(?1, 'pending', ?2, ?3)",
    [STMT_INSERT_HISTORY] =
        "INSERT INTO history(notification_id, fingerprint, alertname, instance, severity, status,"
        " starts_at, ends_at, receiver, labels, annotations, created_ms)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    /* The last notification of the stream (a key range: the stream is the
     * key's first half) within the window; a dead one is no reason to
     * hold back the next. */
    [STMT_DUPLICATE] = "SELECT m.dedup_key FROM messages m JOIN deliveries d ON d.id = m.id"
                       " WHERE m.dedup_key >= ?1 AND m.dedup_key < ?2 AND m.created_ms >= ?3"
                       " AND d.state != 'dead' ORDER BY m.id DESC LIMIT 1",
    [STMT_MARK_DELIVERED] =
        "UPDATE deliveries SET state = 'delivered', attempts = ?2, finished_ms = ?3 WHERE id = ?1",
    [STMT_MARK_RETRY] =
        "UPDATE deliveries SET attempts = ?2, next_attempt_ms = ?3, last_error = ?4 WHERE id = ?1",
    [STMT_MARK_DEAD] = "UPDATE deliveries SET state = 'dead', attempts = ?2, finished_ms = ?3,"
                       " last_error = ?4 WHERE id = ?1",
    [STMT_RECORD_SEND] = "INSERT INTO target_sends(target, sent_ms) VALUES(?1, ?2)",
    [STMT_RECORD_PAUSE] =
        "INSERT INTO target_pauses(target, until_ms) VALUES(?1, ?2)"
        " ON CONFLICT(target) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms)",
};

typedef enum job_kind {
    JOB_COMMIT,
    JOB_DELIVERED,
    JOB_RETRY,
    JOB_DEAD,
    JOB_SEND,
    JOB_PAUSE
} job_kind;

typedef struct job {
    job_kind kind;
    /* JOB_COMMIT */
    notification **items;
    size_t n;
    store_committed_fn done;
    void *done_ctx;
    int failed;
    char error[256];
    /* marks, sends and pauses */
    uint64_t id;
    unsigned attempts;
    int64_t at_ms;
    char *text;               /* last error, dead-letter reason or target */
    struct job *next;
} job;

struct store {
    char *path;
    sqlite3 *db;              /* the writer's connection */
    store_settings settings;
    pthread_t writer;
    int started;
    int lock_fd;              /* data_dir/herald.lock, held while open; -1: none */
    pthread_mutex_t lock;
    pthread_cond_t work;      /* jobs arrived, or stop */
    job *head, *tail;
    int stopping;
    void (*requeued)(void *ctx, notification *n);
    void *requeued_ctx;
    sqlite3_stmt *stmt[STMT_COUNT];
};

static char *db_path(const char *data_dir)
{
    strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s/herald.db", data_dir);
    return sb_take(&sb);
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t err_cap)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    snprintf(err, err_cap, "%s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

/* A connection for readers and the CLI: never creates the database. */
static sqlite3 *open_existing(const char *data_dir, int writable, char *err, size_t err_cap)
{
    char *path = db_path(data_dir);
    sqlite3 *db = NULL;
    int flags = writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        snprintf(err, err_cap, "%s: no store yet: herald serve has not run with this data_dir",
                 path);
    } else if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, err_cap, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        db = NULL;
    } else {
        sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    }
    free(path);
    return db;
}

/* Two daemons on one store would both resume and deliver everything, each
 * with its own rate windows: the second one is refused. The lock goes with
 * the process, whatever way it ends. */
static int lock_data_dir(const char *data_dir, char *err, size_t err_cap)
{
    strbuf path = STRBUF_INIT;
    sb_printf(&path, "%s/herald.lock", data_dir);
    int fd = open(sb_str(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, err_cap, "data_dir: %s: %s", sb_str(&path), strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        char pid[32] = "";
        ssize_t n = busy ? pread(fd, pid, sizeof pid - 1, 0) : -1;
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (busy)
            snprintf(err, err_cap, "data_dir: %s is in use by another herald serve%s%s%s: two "
                     "would both deliver everything",
                     data_dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
        else
            snprintf(err, err_cap, "data_dir: %s: %s", sb_str(&path), strerror(errno));
        close(fd);
        fd = -1;
    } else {
        char pid[32];
        int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
            log_warn("store", "cannot write the pid into %s", sb_str(&path));
    }
    sb_free(&path);
    return fd;
}

store *store_open(const char *data_dir, const store_settings *settings, char *err,
                  size_t err_cap)
{
    if (mkdir(data_dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, err_cap, "data_dir: %s: %s", data_dir, strerror(errno));
        return NULL;
    }
    int lock_fd = lock_data_dir(data_dir, err, err_cap);
    if (lock_fd < 0)
        return NULL;
    store *s = xcalloc(1, sizeof *s);
    s->lock_fd = lock_fd;
    s->path = db_path(data_dir);
    s->settings = *settings;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    char why[512] = "";
    if (sqlite3_open_v2(s->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(why, sizeof why, "%s", s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* WAL: readers (the API, the CLI) never block the writer. FULL: a
     * commit is on disk before ingest answers 200. */
    if (exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", why, sizeof why) ||
        exec(s->db, schema, why, sizeof why))
        goto fail;
    char version[64];
    snprintf(version, sizeof version,
             "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '%d');", SCHEMA_VERSION);
    if (exec(s->db, version, why, sizeof why))
        goto fail;
    for (int i = 0; i < STMT_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            snprintf(why, sizeof why, "%s", sqlite3_errmsg(s->db));
            goto fail;
        }
    return s;
fail:
    snprintf(err, err_cap, "data_dir: %s: %s", s->path, why);
    store_close(s);
    return NULL;
}

/* ---- writing ------------------------------------------------------------ */

static void mentions_json(const mention_set *m, strbuf *out)
{
    sb_puts(out, "{\"mobiles\":[");
    for (size_t i = 0; i < m->mobiles_len; i++) {
        if (i)
            sb_putc(out, ',');
        sb_json_string(out, m->mobiles[i], strlen(m->mobiles[i]));
    }
    sb_puts(out, "],\"user_ids\":[");
    for (size_t i = 0; i < m->user_ids_len; i++) {
        if (i)
            sb_putc(out, ',');
        sb_json_string(out, m->user_ids[i], strlen(m->user_ids[i]));
    }
    sb_printf(out, "],\"all\":%s}", m->all ? "true" : "false");
}

static int is_duplicate(store *s, const notification *n, int *dup)
{
    *dup = 0;
    if (s->settings.dedup_window_ms <= 0)
        return 0;
    sqlite3_stmt *q = s->stmt[STMT_DUPLICATE];
    char past_stream[DEDUP_STREAM_HEX + 2];
    /* every key of the stream sorts below its hex prefix followed by 'g' */
    snprintf(past_stream, sizeof past_stream, "%.*sg", DEDUP_STREAM_HEX, n->dedup_key);
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, n->dedup_key, DEDUP_STREAM_HEX, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, past_stream, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, n->created_ms - s->settings.dedup_window_ms);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *last = sqlite3_column_text(q, 0);
        *dup = last && strcmp((const char *)last, n->dedup_key) == 0;
    }
    /* Left on its row, the query would keep this connection reading its
     * snapshot past COMMIT, and once another connection (herald queue
     * retry) had written, every later BEGIN here would fail. */
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int insert_one(store *s, notification *n)
{
    int dup;
    if (is_duplicate(s, n, &dup))
        return -1;
    if (dup) {
        n->id = 0;
        return 0;
    }
    sqlite3_stmt *q = s->stmt[STMT_INSERT_MESSAGE];
    strbuf mentions = STRBUF_INIT;
    mentions_json(&n->content.mentions, &mentions);
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, n->receiver, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, n->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)n->alert_count);
    sqlite3_bind_int(q, 4, (int)n->content.format);
    sqlite3_bind_text(q, 5, n->content.title, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, n->content.text, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 7, sb_str(&mentions), -1, SQLITE_TRANSIENT);
    if (n->payload)
        sqlite3_bind_blob(q, 8, n->payload, (int)n->payload_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 8);
    sqlite3_bind_text(q, 9, n->group_key ? n->group_key : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 10, n->dedup_key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 11, n->created_ms);
    int rc = sqlite3_step(q);
    sb_free(&mentions);
    if (rc != SQLITE_DONE)
        return -1;
    n->id = (uint64_t)sqlite3_last_insert_rowid(s->db);
    q = s->stmt[STMT_INSERT_DELIVERY];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)n->id);
    sqlite3_bind_int64(q, 2, n->attempts);
    sqlite3_bind_int64(q, 3, n->next_attempt_ms);
    if (sqlite3_step(q) != SQLITE_DONE)
        return -1;
    sqlite3_stmt *h = s->stmt[STMT_INSERT_HISTORY];
    for (size_t i = 0; i < n->alerts_len; i++) {
        const alert_record *a = &n->alerts[i];
        sqlite3_reset(h);
        sqlite3_bind_int64(h, 1, (sqlite3_int64)n->id);
        sqlite3_bind_text(h, 2, a->fingerprint, -1, SQLITE_STATIC);
        sqlite3_bind_text(h, 3, a->alertname, -1, SQLITE_STATIC);
        sqlite3_bind_text(h, 4, a->instance, -1, SQLITE_STATIC);
        sqlite3_bind_text(h, 5, a->severity, -1, SQLITE_STATIC);
        sqlite3_bind_text(h, 6, alert_status_name(a->status), -1, SQLITE_STATIC);
        sqlite3_bind_double(h, 7, a->starts_at);
        if (a->ends_at)
            sqlite3_bind_double(h, 8, a->ends_at);
        else
            sqlite3_bind_null(h, 8);
        sqlite3_bind_text(h, 9, n->receiver, -1, SQLITE_STATIC);
        sqlite3_bind_text(h, 10, a->labels_json, -1, SQLITE_STATIC);
        sqlite3_bind_text(h, 11, a->annotations_json, -1, SQLITE_STATIC);
        sqlite3_bind_int64(h, 12, n->created_ms);
        if (sqlite3_step(h) != SQLITE_DONE)
            return -1;
    }
    return 0;
}

static int apply_target(store *s, const job *j)
{
    sqlite3_stmt *q = s->stmt[j->kind == JOB_SEND ? STMT_RECORD_SEND : STMT_RECORD_PAUSE];
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, j->text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, j->at_ms);
    return sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
}

static int apply_mark(store *s, const job *j)
{
    sqlite3_stmt *q = s->stmt[j->kind == JOB_DELIVERED ? STMT_MARK_DELIVERED
                              : j->kind == JOB_RETRY   ? STMT_MARK_RETRY
                                                       : STMT_MARK_DEAD];
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)j->id);
    sqlite3_bind_int64(q, 2, j->attempts);
    sqlite3_bind_int64(q, 3, j->at_ms);
    if (j->kind != JOB_DELIVERED)
        sqlite3_bind_text(q, 4, j->text ? j->text : "", -1, SQLITE_STATIC);
    return sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
}

/* One transaction for everything handed over since the last one.
 * Returns 0, or -1 when it was rolled back (every job marked failed). */
static int write_batch(store *s, job *jobs)
{
    char why[256] = "";
    int ok = exec(s->db, "BEGIN IMMEDIATE", why, sizeof why) == 0;
    for (job *j = jobs; j && ok; j = j->next) {
        if (j->kind == JOB_COMMIT) {
            for (size_t i = 0; i < j->n && ok; i++)
                ok = insert_one(s, j->items[i]) == 0;
        } else if (j->kind == JOB_SEND || j->kind == JOB_PAUSE) {
            ok = apply_target(s, j) == 0;
        } else {
            ok = apply_mark(s, j) == 0;
        }
    }
    if (ok && exec(s->db, "COMMIT", why, sizeof why) == 0)
        return 0;
    if (!why[0])
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(s->db));
    char ignored[64];
    exec(s->db, "ROLLBACK", ignored, sizeof ignored);
    log_error("store", "write failed, nothing of it was stored: %s", why);
    for (job *j = jobs; j; j = j->next) {
        j->failed = 1;
        snprintf(j->error, sizeof j->error, "store: %s", why);
    }
    return -1;
}

static notification *row_to_notification(sqlite3_stmt *q);
static const char *const pending_columns =
    "id, receiver, status, alert_count, format, title, text, mentions, payload, group_key,"
    " dedup_key, created_ms, next_attempt_ms, attempts, last_error";

/* Reads the notifications in `states` and turns the requeued ones into
 * pending ones, in one transaction: a `herald queue retry` committed in
 * between cannot be switched to pending without being read. */
static int take_rows(store *s, const char *states, notification ***out, size_t *len, char *err,
                     size_t err_cap)
{
    *out = NULL;
    *len = 0;
    if (exec(s->db, "BEGIN IMMEDIATE", err, err_cap))
        return -1;
    strbuf sql = STRBUF_INIT;
    sb_printf(&sql, "SELECT %s FROM notifications WHERE state IN (%s) ORDER BY id", pending_columns,
              states);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, sb_str(&sql), -1, &q, NULL);
    sb_free(&sql);
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        *out = xrealloc(*out, (*len + 1) * sizeof **out);
        (*out)[(*len)++] = row_to_notification(q);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    char ignored[64];
    if (rc != SQLITE_DONE ||
        exec(s->db, "UPDATE deliveries SET state = 'pending' WHERE state = 'requeued'; COMMIT",
             err, err_cap)) {
        if (rc != SQLITE_DONE)
            snprintf(err, err_cap, "%s", sqlite3_errmsg(s->db));
        exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        for (size_t i = 0; i < *len; i++)
            notification_free((*out)[i]);
        free(*out);
        *out = NULL;
        *len = 0;
        return -1;
    }
    return 0;
}

/* Notifications `herald queue retry` marked: back to the dispatcher. */
static void take_requeued(store *s)
{
    notification **found;
    size_t n;
    char why[256];
    if (take_rows(s, "'requeued'", &found, &n, why, sizeof why)) {
        log_error("store", "cannot take requeued notifications: %s", why);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        log_info(found[i]->receiver, "notification %llu requeued for delivery",
                 (unsigned long long)found[i]->id);
        s->requeued(s->requeued_ctx, found[i]);
    }
    free(found);
}

static void sweep_retention(store *s)
{
    if (s->settings.retention_ms <= 0)
        return;
    char why[256];
    long long cutoff = (long long)(wall_ms() - s->settings.retention_ms);
    strbuf sql = STRBUF_INIT;
    /* One transaction: a `herald queue retry` between the two deletes
     * would requeue a notification whose message is already gone. */
    sb_printf(&sql,
              "BEGIN IMMEDIATE;"
              "DELETE FROM history WHERE created_ms < %lld;"
              "DELETE FROM messages WHERE id IN (SELECT id FROM deliveries"
              "  WHERE state IN ('delivered', 'dead') AND finished_ms < %lld);"
              "DELETE FROM deliveries WHERE state IN ('delivered', 'dead') AND finished_ms < %lld;"
              "COMMIT;",
              cutoff, cutoff, cutoff);
    if (exec(s->db, sb_str(&sql), why, sizeof why)) {
        char ignored[64];
        exec(s->db, "ROLLBACK", ignored, sizeof ignored);
        log_warn("store", "retention sweep failed: %s", why);
    }
    sb_free(&sql);
}

/* Sends and pauses matter for a rate window or a penalty: minutes. */
static void sweep_targets(store *s)
{
    char why[256], sql[256];
    long long now = (long long)wall_ms();
    snprintf(sql, sizeof sql,
             "DELETE FROM target_sends WHERE sent_ms < %lld;"
             "DELETE FROM target_pauses WHERE until_ms < %lld;",
             now - TARGET_SENDS_KEPT_MS, now);
    if (exec(s->db, sql, why, sizeof why))
        log_warn("store", "sweeping old target sends failed: %s", why);
}

static void *writer_main(void *arg)
{
    store *s = arg;
    int64_t next_poll = 0, next_sweep = wall_ms() + RETENTION_SWEEP_MS;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->head && !s->stopping && wall_ms() < next_poll) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 200 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->work, &s->lock, &until);
        }
        job *jobs = s->head;
        s->head = s->tail = NULL;
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);

        if (jobs) {
            int failed = write_batch(s, jobs);
            /* Commits are answered (a refusal makes the sender retry), and
             * so are sends and pauses (the message goes anyway); delivery
             * results are written again until the disk takes them, or a
             * restart would resend or lose track of them, and are
             * answered once written (or given up at stop). */
            job *again = NULL, *last = NULL;
            size_t kept = 0;
            for (job *j = jobs, *next; j; j = next) {
                next = j->next;
                if (!failed || stopping || j->kind == JOB_COMMIT || j->kind == JOB_SEND ||
                    j->kind == JOB_PAUSE) {
                    if (j->done)
                        j->done(j->done_ctx, j->failed, j->error);
                } else {
                    j->failed = 0;
                    j->next = NULL;
                    if (last)
                        last->next = j;
                    else
                        again = j;
                    last = j;
                    kept++;
                    continue;
                }
                free(j->text);
                free(j);
            }
            if (again) {
                log_warn("store", "keeping %zu delivery result%s to write again in a second", kept,
                         kept == 1 ? "" : "s");
                pthread_mutex_lock(&s->lock);
                last->next = s->head; /* first in the next batch */
                s->head = again;
                if (!s->tail)
                    s->tail = last;
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += 1;
                pthread_cond_timedwait(&s->work, &s->lock, &until);
                pthread_mutex_unlock(&s->lock);
            }
        }
        int64_t now = wall_ms();
        if (now >= next_poll && !stopping) {
            take_requeued(s);
            next_poll = now + REQUEUE_POLL_MS;
        }
        if (now >= next_sweep && !stopping) {
            sweep_retention(s);
            sweep_targets(s);
            next_sweep = now + RETENTION_SWEEP_MS;
        }
        if (stopping && !jobs)
            return NULL;
    }
}

int store_start(store *s, void (*requeued)(void *ctx, notification *n), void *ctx)
{
    s->requeued = requeued;
    s->requeued_ctx = ctx;
    sweep_retention(s); /* then every RETENTION_SWEEP_MS on the writer */
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0)
        return -1;
    s->started = 1;
    return 0;
}

static void hand_over(store *s, job *j)
{
    pthread_mutex_lock(&s->lock);
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
}

static job *new_job(job_kind kind, int64_t at_ms, const char *text, store_committed_fn done,
                    void *ctx)
{
    job *j = xcalloc(1, sizeof *j);
    j->kind = kind;
    j->at_ms = at_ms;
    j->text = text ? xstrdup(text) : NULL;
    j->done = done;
    j->done_ctx = ctx;
    return j;
}

void store_commit(store *s, notification **items, size_t n, store_committed_fn done, void *ctx)
{
    job *j = new_job(JOB_COMMIT, 0, NULL, done, ctx);
    j->items = items;
    j->n = n;
    hand_over(s, j);
}

static void mark(store *s, job_kind kind, const notification *n, int64_t at_ms, const char *text,
                 store_committed_fn done, void *ctx)
{
    job *j = new_job(kind, at_ms, text, done, ctx);
    j->id = n->id;
    j->attempts = n->attempts;
    hand_over(s, j);
}

void store_mark_delivered(store *s, const notification *n, store_committed_fn done, void *ctx)
{
    mark(s, JOB_DELIVERED, n, wall_ms(), NULL, done, ctx);
}

void store_mark_retry(store *s, const notification *n, store_committed_fn done, void *ctx)
{
    mark(s, JOB_RETRY, n, n->next_attempt_ms, n->last_error, done, ctx);
}

void store_mark_dead(store *s, const notification *n, const char *reason,
                     store_committed_fn done, void *ctx)
{
    mark(s, JOB_DEAD, n, wall_ms(), reason, done, ctx);
}

void store_record_send(store *s, const char *target, int64_t at_ms, store_committed_fn done,
                       void *ctx)
{
    hand_over(s, new_job(JOB_SEND, at_ms, target, done, ctx));
}

void store_record_pause(store *s, const char *target, int64_t until_ms)
{
    hand_over(s, new_job(JOB_PAUSE, until_ms, target, NULL, NULL));
}

void store_close(store *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = 1;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->writer, NULL);
    }
    /* What no writer will take (it never started, or the job came after
     * it stopped) is answered, so nobody waits for it forever. */
    for (job *j = s->head, *next; j; j = next) {
        next = j->next;
        if (j->done)
            j->done(j->done_ctx, 1, "store: closed");
        free(j->text);
        free(j);
    }
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s);
}

/* ---- recovery ----------------------------------------------------------- */

static char *column_text(sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    return xstrdup(t ? (const char *)t : "");
}

static void mentions_from_json(const char *json, mention_set *m)
{
    cJSON *root = json_parse(json, strlen(json));
    static const char *const keys[] = {"mobiles", "user_ids"};
    void (*const add[])(mention_set *, const char *) = {mention_set_add_mobile,
                                                         mention_set_add_user_id};
    for (int k = 0; k < 2; k++) {
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, keys[k]))
            if (cJSON_IsString(item))
                add[k](m, item->valuestring);
    }
    m->all = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "all"));
    cJSON_Delete(root);
}

/* Builds a notification from a row of pending_columns. */
static notification *row_to_notification(sqlite3_stmt *q)
{
    notification *n = xcalloc(1, sizeof *n);
    n->id = (uint64_t)sqlite3_column_int64(q, 0);
    n->receiver = column_text(q, 1);
    n->status = column_text(q, 2);
    n->alert_count = (size_t)sqlite3_column_int64(q, 3);
    n->content.format = (herald_format)sqlite3_column_int(q, 4);
    n->content.title = column_text(q, 5);
    n->content.text = column_text(q, 6);
    const unsigned char *mentions = sqlite3_column_text(q, 7);
    mentions_from_json(mentions ? (const char *)mentions : "{}", &n->content.mentions);
    if (sqlite3_column_type(q, 8) != SQLITE_NULL) {
        n->payload_len = (size_t)sqlite3_column_bytes(q, 8);
        n->payload = xstrndup(sqlite3_column_blob(q, 8), n->payload_len);
    }
    n->group_key = column_text(q, 9);
    const unsigned char *key = sqlite3_column_text(q, 10);
    snprintf(n->dedup_key, sizeof n->dedup_key, "%s", key ? (const char *)key : "");
    n->created_ms = sqlite3_column_int64(q, 11);
    n->next_attempt_ms = sqlite3_column_int64(q, 12);
    n->attempts = (unsigned)sqlite3_column_int64(q, 13);
    if (sqlite3_column_type(q, 14) != SQLITE_NULL)
        n->last_error = column_text(q, 14);
    return n;
}

int store_load_pending(store *s, void (*each)(void *ctx, notification *n), void *ctx,
                       char *err, size_t err_cap)
{
    notification **found;
    size_t n;
    char why[256];
    if (take_rows(s, "'pending', 'requeued'", &found, &n, why, sizeof why)) {
        snprintf(err, err_cap, "%s: %s", s->path, why);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        each(ctx, found[i]);
    free(found);
    return 0;
}

int store_load_targets(store *s, int64_t sent_since_ms, int64_t paused_at_ms,
                       void (*sent)(void *ctx, const char *target, int64_t at_ms),
                       void (*paused)(void *ctx, const char *target, int64_t until_ms), void *ctx,
                       char *err, size_t err_cap)
{
    static const char *const sql[2] = {
        "SELECT target, sent_ms FROM target_sends WHERE sent_ms >= ?1 ORDER BY sent_ms",
        "SELECT target, until_ms FROM target_pauses WHERE until_ms > ?1",
    };
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *q = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql[i], -1, &q, NULL);
        if (rc == SQLITE_OK)
            sqlite3_bind_int64(q, 1, i == 0 ? sent_since_ms : paused_at_ms);
        while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            const char *target = (const char *)sqlite3_column_text(q, 0);
            int64_t at = sqlite3_column_int64(q, 1);
            if (target)
                (i == 0 ? sent : paused)(ctx, target, at);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE) {
            snprintf(err, err_cap, "%s: %s", s->path, sqlite3_errmsg(s->db));
            return -1;
        }
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

static void json_field_text(strbuf *out, const char *name, sqlite3_stmt *q, int col, int first)
{
    sb_printf(out, "%s\"%s\":", first ? "" : ",", name);
    if (sqlite3_column_type(q, col) == SQLITE_NULL) {
        sb_puts(out, "null");
        return;
    }
    const char *t = (const char *)sqlite3_column_text(q, col);
    sb_json_string(out, t, (size_t)sqlite3_column_bytes(q, col));
}

static void json_field_number(strbuf *out, const char *name, sqlite3_stmt *q, int col)
{
    sb_printf(out, ",\"%s\":", name);
    if (sqlite3_column_type(q, col) == SQLITE_NULL)
        sb_puts(out, "null");
    else if (sqlite3_column_type(q, col) == SQLITE_INTEGER)
        sb_printf(out, "%lld", (long long)sqlite3_column_int64(q, col));
    else
        sb_printf(out, "%.3f", sqlite3_column_double(q, col));
}

/* Already JSON in the row (labels, mentions): embedded as is. */
static void json_field_raw(strbuf *out, const char *name, sqlite3_stmt *q, int col)
{
    const char *t = (const char *)sqlite3_column_text(q, col);
    sb_printf(out, ",\"%s\":%s", name, t && t[0] ? t : "null");
}

static int query_failed(sqlite3 *db, char *err, size_t err_cap)
{
    snprintf(err, err_cap, "store: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return -1;
}

static const char *const summary_columns =
    "id, receiver, status, alert_count, state, attempts, last_error, created_ms,"
    " next_attempt_ms, finished_ms, title";

static void summary_json(strbuf *out, sqlite3_stmt *q)
{
    sb_printf(out, "{\"id\":%lld", (long long)sqlite3_column_int64(q, 0));
    sb_putc(out, ',');
    json_field_text(out, "receiver", q, 1, 1);
    json_field_text(out, "status", q, 2, 0);
    json_field_number(out, "alerts", q, 3);
    json_field_text(out, "state", q, 4, 0);
    json_field_number(out, "attempts", q, 5);
    json_field_text(out, "last_error", q, 6, 0);
    json_field_number(out, "created_ms", q, 7);
    json_field_number(out, "next_attempt_ms", q, 8);
    json_field_number(out, "finished_ms", q, 9);
    json_field_text(out, "title", q, 10, 0);
}

int store_list(const char *data_dir, queue_view view, int limit, strbuf *json, char *err,
               size_t err_cap)
{
    sqlite3 *db = open_existing(data_dir, 0, err, err_cap);
    if (!db)
        return -1;
    strbuf sql = STRBUF_INIT;
    sb_printf(&sql, "SELECT %s FROM notifications WHERE state IN (%s) ORDER BY id DESC LIMIT ?1",
              summary_columns, view == QUEUE_DEAD ? "'dead'" : "'pending', 'requeued'");
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sb_str(&sql), -1, &q, NULL);
    sb_free(&sql);
    if (rc != SQLITE_OK)
        return query_failed(db, err, err_cap);
    sqlite3_bind_int(q, 1, limit > 0 ? limit : 100);
    sb_putc(json, '[');
    int first = 1;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!first)
            sb_putc(json, ',');
        first = 0;
        summary_json(json, q);
        sb_putc(json, '}');
    }
    sb_putc(json, ']');
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return query_failed(db, err, err_cap);
    sqlite3_close(db);
    return 0;
}

int store_show(const char *data_dir, uint64_t id, strbuf *json, char *err, size_t err_cap)
{
    sqlite3 *db = open_existing(data_dir, 0, err, err_cap);
    if (!db)
        return -1;
    strbuf sql = STRBUF_INIT;
    sb_printf(&sql, "SELECT %s, text, mentions FROM notifications WHERE id = ?1", summary_columns);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sb_str(&sql), -1, &q, NULL);
    sb_free(&sql);
    if (rc != SQLITE_OK)
        return query_failed(db, err, err_cap);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)id);
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            return query_failed(db, err, err_cap);
        sqlite3_close(db);
        return 1;
    }
    summary_json(json, q);
    json_field_text(json, "text", q, 11, 0);
    json_field_raw(json, "mentions", q, 12);
    sqlite3_finalize(q);
    sb_puts(json, ",\"alerts\":[");
    rc = sqlite3_prepare_v2(db,
                            "SELECT fingerprint, alertname, status, labels FROM history"
                            " WHERE notification_id = ?1 ORDER BY id",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        return query_failed(db, err, err_cap);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)id);
    for (int first = 1; (rc = sqlite3_step(q)) == SQLITE_ROW; first = 0) {
        sb_puts(json, first ? "{" : ",{");
        json_field_text(json, "fingerprint", q, 0, 1);
        json_field_text(json, "alertname", q, 1, 0);
        json_field_text(json, "status", q, 2, 0);
        json_field_raw(json, "labels", q, 3);
        sb_putc(json, '}');
    }
    sqlite3_finalize(q);
    sb_puts(json, "]}");
    sqlite3_close(db);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Runs the statements (each with ?1 = id, ?2 = now) in one transaction if
 * the first changes a row: 0, 1 when it changed none, -1 on error. */
static int change_dead_letter(const char *data_dir, uint64_t id, const char *const *sql, size_t n,
                              char *err, size_t err_cap)
{
    sqlite3 *db = open_existing(data_dir, 1, err, err_cap);
    if (!db)
        return -1;
    char why[256];
    if (exec(db, "BEGIN IMMEDIATE", why, sizeof why))
        return query_failed(db, err, err_cap);
    int changed = 1;
    for (size_t i = 0; i < n && changed; i++) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(db, sql[i], -1, &q, NULL) != SQLITE_OK)
            return query_failed(db, err, err_cap);
        sqlite3_bind_int64(q, 1, (sqlite3_int64)id);
        if (sqlite3_bind_parameter_count(q) >= 2)
            sqlite3_bind_int64(q, 2, wall_ms());
        int rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            return query_failed(db, err, err_cap);
        if (i == 0)
            changed = sqlite3_changes(db) > 0;
    }
    if (exec(db, "COMMIT", why, sizeof why))
        return query_failed(db, err, err_cap);
    sqlite3_close(db);
    return changed ? 0 : 1;
}

int store_requeue(const char *data_dir, uint64_t id, char *err, size_t err_cap)
{
    /* A fresh start: attempts and age count again from now, so the
     * maximum age does not dead-letter it at once. */
    static const char *const sql[] = {
        "UPDATE deliveries SET state = 'requeued', attempts = 0, next_attempt_ms = ?2,"
        " finished_ms = NULL WHERE id = ?1 AND state = 'dead'",
        "UPDATE messages SET created_ms = ?2 WHERE id = ?1",
    };
    return change_dead_letter(data_dir, id, sql, 2, err, err_cap);
}

int store_drop(const char *data_dir, uint64_t id, char *err, size_t err_cap)
{
    static const char *const sql[] = {
        "DELETE FROM deliveries WHERE id = ?1 AND state = 'dead'",
        "DELETE FROM messages WHERE id = ?1",
    };
    return change_dead_letter(data_dir, id, sql, 2, err, err_cap);
}

int store_history(const char *data_dir, const history_filter *f, strbuf *json, char *err,
                  size_t err_cap)
{
    sqlite3 *db = open_existing(data_dir, 0, err, err_cap);
    if (!db)
        return -1;
    sqlite3_stmt *q = NULL;
    /* Absent filters bind NULL and match everything. */
    const char *sql =
        "SELECT h.id, h.notification_id, h.fingerprint, h.alertname, h.instance, h.severity,"
        " h.status, h.starts_at, h.ends_at, h.receiver, h.labels, h.annotations, h.result,"
        " h.created_ms FROM history_results h"
        " WHERE (?1 IS NULL OR h.alertname = ?1) AND (?2 IS NULL OR h.receiver = ?2)"
        " AND (?3 IS NULL OR h.status = ?3) AND (?4 IS NULL OR h.created_ms >= ?4)"
        " AND (?5 IS NULL OR h.created_ms <= ?5) ORDER BY h.id DESC LIMIT ?6";
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return query_failed(db, err, err_cap);
    if (f->alertname)
        sqlite3_bind_text(q, 1, f->alertname, -1, SQLITE_STATIC);
    if (f->receiver)
        sqlite3_bind_text(q, 2, f->receiver, -1, SQLITE_STATIC);
    if (f->status)
        sqlite3_bind_text(q, 3, f->status, -1, SQLITE_STATIC);
    if (f->since_ms)
        sqlite3_bind_int64(q, 4, f->since_ms);
    if (f->until_ms)
        sqlite3_bind_int64(q, 5, f->until_ms);
    sqlite3_bind_int(q, 6, f->limit > 0 ? f->limit : 100);
    sb_putc(json, '[');
    int rc;
    for (int first = 1; (rc = sqlite3_step(q)) == SQLITE_ROW; first = 0) {
        sb_printf(json, "%s{\"id\":%lld,\"notification\":%lld,", first ? "" : ",",
                  (long long)sqlite3_column_int64(q, 0), (long long)sqlite3_column_int64(q, 1));
        json_field_text(json, "fingerprint", q, 2, 1);
        json_field_text(json, "alertname", q, 3, 0);
        json_field_text(json, "instance", q, 4, 0);
        json_field_text(json, "severity", q, 5, 0);
        json_field_text(json, "status", q, 6, 0);
        json_field_number(json, "startsAt", q, 7);
        json_field_number(json, "endsAt", q, 8);
        json_field_text(json, "receiver", q, 9, 0);
        json_field_raw(json, "labels", q, 10);
        json_field_raw(json, "annotations", q, 11);
        json_field_text(json, "result", q, 12, 0);
        json_field_number(json, "created_ms", q, 13);
        sb_putc(json, '}');
    }
    sb_putc(json, ']');
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return query_failed(db, err, err_cap);
    sqlite3_close(db);
    return 0;
}

int store_history_top(const char *data_dir, const char *by, int64_t since_ms, int limit,
                      strbuf *json, char *err, size_t err_cap)
{
    static const char *const columns[] = {"alertname", "instance", "severity", "receiver"};
    const char *column = NULL;
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++)
        if (strcmp(by, columns[i]) == 0)
            column = columns[i];
    if (!column) {
        snprintf(err, err_cap, "by: expected alertname, instance, severity or receiver");
        return 1;
    }
    sqlite3 *db = open_existing(data_dir, 0, err, err_cap);
    if (!db)
        return -1;
    char sql[256];
    /* Firing rows only: the TOP of what alerted, not of what recovered. */
    snprintf(sql, sizeof sql,
             "SELECT %s, COUNT(*) FROM history WHERE created_ms >= ?1 AND status = 'firing'"
             " GROUP BY %s ORDER BY COUNT(*) DESC, %s LIMIT ?2",
             column, column, column);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return query_failed(db, err, err_cap);
    sqlite3_bind_int64(q, 1, since_ms);
    sqlite3_bind_int(q, 2, limit > 0 ? limit : 10);
    sb_putc(json, '[');
    int rc;
    for (int first = 1; (rc = sqlite3_step(q)) == SQLITE_ROW; first = 0) {
        sb_puts(json, first ? "{" : ",{");
        json_field_text(json, column, q, 0, 1);
        json_field_number(json, "count", q, 1);
        sb_putc(json, '}');
    }
    sb_putc(json, ']');
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return query_failed(db, err, err_cap);
    sqlite3_close(db);
    return 0;
}
