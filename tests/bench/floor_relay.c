/* floor_relay: the least any durable alert relay must do per request, so
 * that tests/bench/run can say what herald's own features cost on top of
 * it. Per POST it:
 *
 *   1. reads the body (libmicrohttpd, herald's threading model: internal
 *      polling thread, epoll, a pool of 4, suspend/resume);
 *   2. parses it with cJSON and builds one DingTalk markdown message from
 *      the alerts' alertname and instance (400 when it is not a payload);
 *   3. stores that message in SQLite (WAL, synchronous=FULL) and answers
 *      200 only once it is committed: the connection is suspended and a
 *      writer thread commits every request waiting in one transaction
 *      (group commit, as herald does), then resumes them;
 *   4. sends it, signed as a DingTalk robot (timestamp + HMAC-SHA256), with
 *      libcurl multi from a dispatcher thread, and checks errcode 0;
 *   5. marks the row delivered, through the writer's next transaction.
 *
 * No Lua, no routing, no templates, no history, no rate limit, no retries
 * and no splitting of long messages: a failed send is only counted (the
 * benchmark's sink never fails, so retrying would cost nothing there).
 *
 * Usage: FLOOR_DINGTALK_SECRET=SEC... floor_relay --db FILE
 *            --sink 'http://127.0.0.1:P/robot/send?access_token=T'
 *            [--port N] [--max-seconds S]
 *
 * The secret comes from the environment so that it is never on a command
 * line. Binds 127.0.0.1; --port 0 (the default) takes a free port, printed
 * as "port N" once serving. GET /-/ready answers 200; GET /stats answers
 * "committing C\naccepted R\nalerts A\ndelivered D\nfailed F\n" (requests
 * waiting for their commit, requests committed, their alerts, messages the
 * sink took, sends that failed). Stops on SIGTERM or
 * SIGINT, or after --max-seconds (default 300).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>

#include "bench_server.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#define HTTP_THREADS 4
#define MAX_BODY (16u * 1024 * 1024)
#define MAX_IN_FLIGHT 64 /* herald's delivery.max_in_flight default */
#define SEND_TIMEOUT_MS 10000L

static const char *sink_url;
static const char *secret;

static atomic_ullong accepted, accepted_alerts, delivered, failed;

/* ---- small growable string ---------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap;
} buf;

static int buf_append(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int buf_str(buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

/* ---- queues between the threads ----------------------------------------- */

enum { READING, COMMITTING, ANSWERING };

typedef struct request {
    struct MHD_Connection *conn;
    buf body;
    int state;
    int too_large;
    unsigned status; /* set by the writer before it resumes the connection */
    char *message;   /* the DingTalk body; the writer takes it over */
    int alerts;
    long long id;    /* its row, once inserted */
    struct request *next;
} request;

typedef struct job {
    long long id;
    char *message;
    buf answer;
    struct job *next;
} job;

/* The writer's input: requests to commit and rows sent since the last
 * commit. One lock, one condition: both wake the same thread. */
static pthread_mutex_t writer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t writer_wake = PTHREAD_COND_INITIALIZER;
static request *commit_head, **commit_tail = &commit_head;
static long long *sent_ids;
static size_t sent_len, sent_cap;
static int writer_stop;

/* The dispatcher's input: committed messages, oldest first. */
static pthread_mutex_t dispatch_lock = PTHREAD_MUTEX_INITIALIZER;
static job *send_head, **send_tail = &send_head;
static int dispatch_stop;
static CURLM *multi;

/* Requests between "suspended" and "resumed". Incremented before the stop
 * flag is read, so main never stops libmicrohttpd with one suspended. */
static atomic_int suspended;
static atomic_int stopping;

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the message --------------------------------------------------------- */

static const char *label(const cJSON *alert, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(alert, "labels"), name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* One markdown line per alert; NULL when the body is not an Alertmanager
 * payload (or memory ran out, which the caller answers the same way). */
static char *build_message(const char *body, size_t len, int *alerts)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "alerts");
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(root);
        return NULL;
    }
    buf text = {0};
    char title[32];
    *alerts = cJSON_GetArraySize(list);
    snprintf(title, sizeof title, "%d alerts", *alerts);
    int bad = buf_str(&text, "### ") | buf_str(&text, title) | buf_str(&text, "\n\n");
    const cJSON *a;
    cJSON_ArrayForEach(a, list)
    {
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(a, "status");
        bad |= buf_str(&text, "- [") |
               buf_str(&text, cJSON_IsString(status) ? status->valuestring : "") |
               buf_str(&text, "] **") | buf_str(&text, label(a, "alertname")) |
               buf_str(&text, "** ") | buf_str(&text, label(a, "instance")) | buf_str(&text, "\n");
    }
    cJSON_Delete(root);
    char *out = NULL;
    cJSON *msg = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(msg, "markdown");
    if (!bad && cJSON_AddStringToObject(msg, "msgtype", "markdown") &&
        cJSON_AddStringToObject(md, "title", title) && cJSON_AddStringToObject(md, "text", text.data))
        out = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    free(text.data);
    return out;
}

/* ---- HTTP --------------------------------------------------------------- */

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned status, const char *type,
                                   const char *text)
{
    return answer(conn, status, type, text, strlen(text));
}

static enum MHD_Result answer_get(struct MHD_Connection *conn, const char *url)
{
    if (strcmp(url, "/-/ready") == 0)
        return answer_text(conn, MHD_HTTP_OK, "text/plain", "Ready.\n");
    if (strcmp(url, "/stats") == 0) {
        char text[192];
        snprintf(text, sizeof text,
                 "committing %d\naccepted %llu\nalerts %llu\ndelivered %llu\nfailed %llu\n",
                 atomic_load(&suspended), atomic_load(&accepted), atomic_load(&accepted_alerts),
                 atomic_load(&delivered), atomic_load(&failed));
        return answer_text(conn, MHD_HTTP_OK, "text/plain", text);
    }
    return answer_text(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
}

/* Suspended first: the writer may resume it as soon as it is queued. */
static void hand_to_writer(request *r)
{
    r->state = COMMITTING;
    MHD_suspend_connection(r->conn);
    pthread_mutex_lock(&writer_lock);
    *commit_tail = r;
    commit_tail = &r->next;
    pthread_cond_signal(&writer_wake);
    pthread_mutex_unlock(&writer_lock);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)version;
    request *r = *con_cls;
    if (!r) {
        if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
            return answer_get(conn, url);
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "POST only\n");
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        r->conn = conn;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        /* Past the limit the rest is read and dropped, so the answer is a
         * clean 413 instead of a reset connection. */
        if (r->too_large || r->body.len + *upload_data_size > MAX_BODY ||
            buf_append(&r->body, upload_data, *upload_data_size))
            r->too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->state == ANSWERING)
        return answer_text(conn, r->status, "application/json",
                           r->status == MHD_HTTP_OK ? "{\"status\":\"success\"}"
                                                    : "{\"status\":\"error\"}");
    if (r->too_large)
        return answer_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain", "body too large\n");
    r->message = build_message(r->body.data ? r->body.data : "", r->body.len, &r->alerts);
    /* Only the message is kept while the request waits for its commit. */
    free(r->body.data);
    r->body = (buf){0};
    if (!r->message)
        return answer_text(conn, MHD_HTTP_BAD_REQUEST, "text/plain", "not an Alertmanager payload\n");
    atomic_fetch_add(&suspended, 1);
    if (atomic_load(&stopping)) {
        atomic_fetch_sub(&suspended, 1);
        return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "stopping\n");
    }
    hand_to_writer(r);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    request *r = *con_cls;
    if (r) {
        free(r->body.data);
        free(r->message);
        free(r);
        *con_cls = NULL;
    }
}

/* ---- the writer ---------------------------------------------------------- */

static sqlite3 *db;
static sqlite3_stmt *insert_stmt, *sent_stmt;

static int exec(const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "floor_relay: %s: %s\n", sql, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static int open_db(const char *path)
{
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "floor_relay: %s: %s\n", path, sqlite3_errmsg(db));
        return -1;
    }
    /* As herald's store: a commit is on disk before the answer. */
    if (exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;") ||
        exec("CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY,"
             " received_ms INTEGER NOT NULL, alerts INTEGER NOT NULL,"
             " message TEXT NOT NULL, delivered_ms INTEGER)"))
        return -1;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO requests(received_ms, alerts, message) VALUES(?, ?, ?)",
                           -1, &insert_stmt, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "UPDATE requests SET delivered_ms = ? WHERE id = ?", -1,
                           &sent_stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "floor_relay: %s\n", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

static int step(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void queue_jobs(job *head, job **tail)
{
    if (!head)
        return;
    pthread_mutex_lock(&dispatch_lock);
    *send_tail = head;
    send_tail = tail;
    pthread_mutex_unlock(&dispatch_lock);
    curl_multi_wakeup(multi);
}

/* Everything waiting goes in one transaction: one fsync per batch, not per
 * request, which is what lets a durable relay keep up at all. */
static void *writer(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&writer_lock);
        while (!commit_head && !sent_len && !writer_stop)
            pthread_cond_wait(&writer_wake, &writer_lock);
        if (!commit_head && !sent_len) {
            pthread_mutex_unlock(&writer_lock);
            return NULL;
        }
        request *batch = commit_head;
        commit_head = NULL;
        commit_tail = &commit_head;
        long long *ids = sent_ids;
        size_t nids = sent_len;
        sent_ids = NULL;
        sent_len = sent_cap = 0;
        pthread_mutex_unlock(&writer_lock);

        long long now = now_ms();
        int bad = exec("BEGIN IMMEDIATE");
        for (request *r = batch; r && !bad; r = r->next) {
            sqlite3_bind_int64(insert_stmt, 1, now);
            sqlite3_bind_int(insert_stmt, 2, r->alerts);
            sqlite3_bind_text(insert_stmt, 3, r->message, -1, SQLITE_STATIC);
            bad = step(insert_stmt);
            r->id = sqlite3_last_insert_rowid(db);
        }
        for (size_t i = 0; i < nids && !bad; i++) {
            sqlite3_bind_int64(sent_stmt, 1, now);
            sqlite3_bind_int64(sent_stmt, 2, ids[i]);
            bad = step(sent_stmt);
        }
        bad = bad || exec("COMMIT");
        if (bad) {
            fprintf(stderr, "floor_relay: commit failed: %s\n", sqlite3_errmsg(db));
            exec("ROLLBACK");
        }
        free(ids);

        job *jobs = NULL, **jobs_tail = &jobs;
        for (request *r = batch, *next; r; r = next) {
            next = r->next;
            if (!bad) {
                job *j = calloc(1, sizeof *j);
                if (j) {
                    j->id = r->id;
                    j->message = r->message;
                    r->message = NULL;
                    *jobs_tail = j;
                    jobs_tail = &j->next;
                }
                atomic_fetch_add(&accepted, 1);
                atomic_fetch_add(&accepted_alerts, (unsigned long long)r->alerts);
            }
            r->status = bad ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_OK;
            r->state = ANSWERING;
            /* r may be freed by libmicrohttpd from here on. */
            MHD_resume_connection(r->conn);
            atomic_fetch_sub(&suspended, 1);
        }
        queue_jobs(jobs, jobs_tail);
    }
}

static void mark_sent(long long id)
{
    pthread_mutex_lock(&writer_lock);
    if (sent_len == sent_cap) {
        size_t cap = sent_cap ? 2 * sent_cap : 256;
        long long *p = realloc(sent_ids, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&writer_lock);
            return; /* stays undelivered in the store, as after a crash */
        }
        sent_ids = p;
        sent_cap = cap;
    }
    sent_ids[sent_len++] = id;
    pthread_cond_signal(&writer_wake);
    pthread_mutex_unlock(&writer_lock);
}

/* ---- the dispatcher ------------------------------------------------------ */

/* The robot URL with DingTalk's signature: sign = urlencode(base64(
 * HMAC-SHA256(secret, timestamp "\n" secret))), made anew for every send
 * since DingTalk refuses a timestamp an hour old. */
static void signed_url(char *out, size_t cap)
{
    long long ts = now_ms();
    char data[512];
    int n = snprintf(data, sizeof data, "%lld\n%s", ts, secret);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)data, (size_t)n, mac,
         &mac_len);
    unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    EVP_EncodeBlock(b64, mac, (int)mac_len);
    char sign[3 * sizeof b64];
    size_t k = 0;
    for (const unsigned char *c = b64; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9'))
            sign[k++] = (char)*c;
        else
            k += (size_t)sprintf(sign + k, "%%%02X", *c);
    }
    sign[k] = '\0';
    snprintf(out, cap, "%s%ctimestamp=%lld&sign=%s", sink_url, strchr(sink_url, '?') ? '&' : '?',
             ts, sign);
}

static size_t on_answer(char *data, size_t size, size_t n, void *cls)
{
    job *j = cls;
    return buf_append(&j->answer, data, size * n) ? 0 : size * n;
}

static struct curl_slist *headers;
static CURL *idle[MAX_IN_FLIGHT]; /* reused: their buffers and state stay warm */
static int n_idle, in_flight;

static void start_send(job *j)
{
    CURL *e = n_idle ? idle[--n_idle] : curl_easy_init();
    if (!e) {
        atomic_fetch_add(&failed, 1);
        free(j->message);
        free(j);
        return;
    }
    char url[2048];
    signed_url(url, sizeof url);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->message);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, SEND_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_multi_add_handle(multi, e);
    in_flight++;
}

/* DingTalk answers 200 even to a refusal: the verdict is errcode. */
static void finish_send(CURL *e, CURLcode result)
{
    job *j = NULL;
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(multi, e);
    idle[n_idle++] = e;
    in_flight--;
    cJSON *verdict = result == CURLE_OK && status == 200 && j->answer.data
                         ? cJSON_ParseWithLength(j->answer.data, j->answer.len)
                         : NULL;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(verdict, "errcode");
    if (cJSON_IsNumber(code) && code->valueint == 0) {
        atomic_fetch_add(&delivered, 1);
        mark_sent(j->id);
    } else {
        atomic_fetch_add(&failed, 1);
    }
    cJSON_Delete(verdict);
    free(j->answer.data);
    free(j->message);
    free(j);
}

static void *dispatcher(void *arg)
{
    (void)arg;
    job *waiting = NULL, **waiting_tail = &waiting;
    for (;;) {
        pthread_mutex_lock(&dispatch_lock);
        if (send_head) {
            *waiting_tail = send_head;
            waiting_tail = send_tail;
            send_head = NULL;
            send_tail = &send_head;
        }
        int stop = dispatch_stop;
        pthread_mutex_unlock(&dispatch_lock);
        /* Stopping ends the sends in flight and leaves the rest stored,
         * unsent, as a crash would. */
        while (!stop && waiting && in_flight < MAX_IN_FLIGHT) {
            job *j = waiting;
            if (!(waiting = j->next))
                waiting_tail = &waiting;
            start_send(j);
        }
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)))
            if (m->msg == CURLMSG_DONE)
                finish_send(m->easy_handle, m->data.result);
        if (stop && !in_flight)
            break;
        /* Sends just finished may have freed slots for waiting jobs:
         * start those first, since with nothing in flight the poll would
         * sleep its whole timeout. */
        if (stop || !(in_flight < MAX_IN_FLIGHT && waiting))
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    for (job *j = waiting, *next; j; j = next) {
        next = j->next;
        free(j->message);
        free(j);
    }
    return NULL;
}

/* ---- main --------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: FLOOR_DINGTALK_SECRET=SEC... floor_relay --db FILE --sink URL "
                    "[--port N] [--max-seconds S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    unsigned long port = 0, max_seconds = 300;
    const char *db_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            if (parse_number(argv[++i], 65535, &port))
                return usage();
        } else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
            if (parse_number(argv[++i], 86400, &max_seconds) || max_seconds == 0)
                return usage();
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            db_path = argv[++i];
        } else if (strcmp(argv[i], "--sink") == 0 && i + 1 < argc) {
            sink_url = argv[++i];
        } else {
            return usage();
        }
    }
    secret = getenv("FLOOR_DINGTALK_SECRET");
    if (!db_path || !sink_url || !secret || !*secret || strlen(secret) > 256)
        return usage();

    /* Block the stop signals before any thread starts, so only sigtimedwait
     * below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(multi = curl_multi_init()) ||
        !(headers = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8")) ||
        open_db(db_path))
        return 1;
    pthread_t writer_thread, dispatcher_thread;
    if (pthread_create(&writer_thread, NULL, writer, NULL) ||
        pthread_create(&dispatcher_thread, NULL, dispatcher, NULL)) {
        fprintf(stderr, "floor_relay: cannot start threads\n");
        return 1;
    }

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
            MHD_ALLOW_SUSPEND_RESUME,
        (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)1024, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "floor_relay: cannot serve on 127.0.0.1:%lu: %s\n", port,
                strerror(errno));
        return 1;
    }
    announce_port(daemon, port);
    int sig = wait_for_stop(&stop, max_seconds);

    /* libmicrohttpd must not stop with a connection suspended: new requests
     * are refused from here on, and those committing are answered first. */
    atomic_store(&stopping, 1);
    struct timespec pause = {0, 5 * 1000 * 1000};
    while (atomic_load(&suspended) > 0)
        nanosleep(&pause, NULL);
    MHD_stop_daemon(daemon);
    /* The dispatcher first, so that the marks of its last sends are
     * committed before the writer ends. */
    pthread_mutex_lock(&dispatch_lock);
    dispatch_stop = 1;
    pthread_mutex_unlock(&dispatch_lock);
    curl_multi_wakeup(multi);
    pthread_join(dispatcher_thread, NULL);
    pthread_mutex_lock(&writer_lock);
    writer_stop = 1;
    pthread_cond_signal(&writer_wake);
    pthread_mutex_unlock(&writer_lock);
    pthread_join(writer_thread, NULL);

    for (int i = 0; i < n_idle; i++)
        curl_easy_cleanup(idle[i]);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    sqlite3_finalize(insert_stmt);
    sqlite3_finalize(sent_stmt);
    sqlite3_close(db); /* checkpoints the WAL into the database file */
    printf("accepted %llu alerts %llu delivered %llu failed %llu (%s)\n",
           atomic_load(&accepted), atomic_load(&accepted_alerts), atomic_load(&delivered),
           atomic_load(&failed), sig < 0 ? "time limit reached" : "stopped by signal");
    return 0;
}
