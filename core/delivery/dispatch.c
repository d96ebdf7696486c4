#include "delivery/dispatch.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config/generation.h"
#include "delivery/digest.h"
#include "delivery/ratelimit.h"
#include "plugin/host.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"

#define RESPONSE_BODY_CAP (64 * 1024)

/* A target that fails keeps its messages in order: the first is retried
 * when the target's pause ends, the rest wait behind it. After this many
 * attempts a message steps aside to its own backoff, so one message a
 * service keeps refusing cannot hold up the others until max_age. */
#define HEAD_OF_LINE_ATTEMPTS 8

/* How long messages waiting for a nearly spent window gather before they
 * go out as digests: a storm arrives over a moment, not all at once. */
#define DIGEST_GATHER_MS 2000

#define NO_VERDICT ((herald_verdict_kind)0x7f)

typedef struct transfer {
    struct dispatcher *d;
    notification **items;          /* one notification, or the several of a digest */
    size_t len;
    generation *gen;
    const receiver *r;
    char target_key[512];
    int sent;                      /* recorded with the rate limiter */
    herald_request req;
    struct curl_slist *headers;
    struct curl_slist *recipients; /* SMTP RCPT TO, alive until the transfer ends */
    size_t upload_offset;          /* SMTP: how much of the body curl has read */
    int is_mail;
    CURL *easy;
    strbuf body;
    char **response_headers;
    size_t response_headers_len;
    int64_t started_ms;
    char curl_error[CURL_ERROR_SIZE];
    struct transfer *prev, *next; /* the dispatcher's list of active (or recorded) transfers */
} transfer;

/* Notifications taken from the outbox, waiting for a free target of their
 * receiver: in arrival order, retried ones first. */
typedef struct held_queue {
    char *receiver;
    notification **items;
    size_t len;
    int64_t next_age_check;
    struct held_queue *next;
} held_queue;

struct dispatcher {
    outbox *box;
    CURLM *multi;
    pthread_t thread;
    atomic_int stopping;
    int64_t drain_deadline_ms;
    unsigned open_requests;        /* active transfers */
    unsigned in_flight;            /* the notifications they carry */
    transfer *active;
    held_queue *held;
    rate_limits *limits;
    /* Sends to rate-limited targets go once they are on disk: the store's
     * writer hands their transfers back through `recorded`. */
    unsigned recording;            /* handed to the store, not back yet */
    pthread_mutex_t recorded_lock;
    transfer *recorded;
};

static void track(dispatcher *d, transfer *t)
{
    t->prev = NULL;
    t->next = d->active;
    if (d->active)
        d->active->prev = t;
    d->active = t;
    d->open_requests++;
    d->in_flight += t->len;
}

static void untrack(dispatcher *d, transfer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        d->active = t->next;
    if (t->next)
        t->next->prev = t->prev;
    d->open_requests--;
    d->in_flight -= t->len;
}

static held_queue *held_for(dispatcher *d, const char *receiver)
{
    for (held_queue *q = d->held; q; q = q->next)
        if (strcmp(q->receiver, receiver) == 0)
            return q;
    held_queue *q = xcalloc(1, sizeof *q);
    q->receiver = xstrdup(receiver);
    q->next = d->held;
    d->held = q;
    return q;
}

/* Inserts n notifications at position `at` (0: front), keeping their order. */
static void held_insert(held_queue *q, size_t at, notification *const *items, size_t n)
{
    if (!n)
        return;
    q->items = xrealloc(q->items, (q->len + n) * sizeof *q->items);
    memmove(q->items + at + n, q->items + at, (q->len - at) * sizeof *q->items);
    memcpy(q->items + at, items, n * sizeof *items);
    q->len += n;
}

/* Where n goes back in: before the first held notification that arrived
 * after it, so a target that failed keeps its messages in arrival order
 * whatever order its failed transfers finished in. */
static size_t held_position(const held_queue *q, const notification *n)
{
    size_t at = 0;
    while (at < q->len && q->items[at]->id < n->id)
        at++;
    return at;
}

static void hold(dispatcher *d, notification *n)
{
    held_queue *q = held_for(d, n->receiver);
    held_insert(q, q->len, &n, 1);
}

static void held_remove_front(held_queue *q, size_t n)
{
    memmove(q->items, q->items + n, (q->len - n) * sizeof *q->items);
    q->len -= n;
}

int64_t retry_delay_ms(unsigned attempt, int64_t initial_ms, int64_t max_delay_ms)
{
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)wall_ms() ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)&seed;
    int64_t delay = initial_ms;
    for (unsigned i = 1; i < attempt && delay < max_delay_ms; i++)
        delay *= 2;
    if (delay > max_delay_ms)
        delay = max_delay_ms;
    /* Jitter spreads retries of many notifications that failed together. */
    int64_t half = delay / 2;
    return half + (half > 0 ? (int64_t)(rand_r(&seed) % (half + 1)) : 0);
}

static void wake(void *ctx)
{
    dispatcher *d = ctx;
    curl_multi_wakeup(d->multi);
}

static void transfer_free(transfer *t)
{
    request_free(&t->req);
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->recipients);
    if (t->easy)
        curl_easy_cleanup(t->easy);
    sb_free(&t->body);
    for (size_t i = 0; i < t->response_headers_len; i++)
        free(t->response_headers[i]);
    free(t->response_headers);
    free(t->items);
    if (t->gen)
        generation_unref(t->gen);
    free(t);
}

/* ---- verdicts ----------------------------------------------------------- */

/* A dead letter, counted for its receiver. */
static void give_up(dispatcher *d, notification *n, const char *reason)
{
    metrics_count_receiver(METRIC_DEAD_LETTERS, n->receiver);
    outbox_dead_letter(d->box, n, reason);
}

static size_t alert_total(notification *const *items, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += items[i]->alert_count;
    return total;
}

static void settle_retry(dispatcher *d, transfer *t, const herald_verdict *v, const char *where,
                         int64_t now)
{
    const delivery_settings *ds = &t->gen->conf.delivery;
    unsigned failures = rate_record_failure(d->limits, t->target_key, now);
    int64_t delay = retry_delay_ms(failures, ds->retry_initial_ms, ds->retry_max_delay_ms);
    if (v->retry_after_ms > delay)
        delay = v->retry_after_ms;
    rate_pause(d->limits, t->target_key, now + delay);
    /* A penalty the service imposed (DingTalk's 10-minute block) outlives
     * a restart; a backoff of our own does not: a restart often follows a
     * fix, and then the target is tried at once. */
    if (v->retry_after_ms > 0)
        outbox_record_pause(d->box, rate_target_id(d->limits, t->target_key), now + delay);
    notification **again = xcalloc(t->len, sizeof *again);
    size_t kept = 0;
    for (size_t i = 0; i < t->len; i++) {
        notification *n = t->items[i];
        notification_set_error(n, v->reason);
        if (now + delay - n->created_ms > ds->max_age_ms) {
            char reason[512];
            snprintf(reason, sizeof reason, "gave up at the maximum age of %lld s; last error: %s",
                     (long long)(ds->max_age_ms / 1000), v->reason);
            give_up(d, n, reason);
            continue;
        }
        log_warn(n->receiver, "notification %llu to %s: attempt %u failed (%s); retrying in %lld ms",
                 (unsigned long long)n->id, where, n->attempts, v->reason, (long long)delay);
        metrics_count_receiver(METRIC_DELIVERY_RETRIES, n->receiver);
        n->next_attempt_ms = now + delay;
        if (n->attempts < HEAD_OF_LINE_ATTEMPTS) {
            outbox_note_retry(d->box, n);
            again[kept++] = n;
        } else {
            int64_t own = retry_delay_ms(n->attempts, ds->retry_initial_ms, ds->retry_max_delay_ms);
            n->next_attempt_ms = now + (own > delay ? own : delay);
            outbox_retry(d->box, n);
        }
    }
    /* The items may all be freed by now: the receiver's name is the config's. */
    held_queue *q = held_for(d, t->r->name);
    for (size_t i = 0; i < kept; i++)
        held_insert(q, held_position(q, again[i]), &again[i], 1);
    free(again);
}

static void settle(dispatcher *d, transfer *t, const herald_verdict *v)
{
    int64_t now = wall_ms();
    if (t->sent)
        rate_record_done(d->limits, t->target_key);
    char *where = request_redacted_url(&t->req);
    const notification *first = t->items[0];
    if (v->kind == HERALD_OK) {
        rate_record_success(d->limits, t->target_key);
        if (t->len == 1)
            log_info(first->receiver, "delivered notification %llu (%s, %zu alert%s) to %s in %lld ms",
                     (unsigned long long)first->id, first->status, first->alert_count,
                     first->alert_count == 1 ? "" : "s", where, (long long)(now - t->started_ms));
        else
            log_info(first->receiver, "delivered a digest of %zu notifications (%zu alerts) to %s in %lld ms",
                     t->len, alert_total(t->items, t->len), where, (long long)(now - t->started_ms));
        for (size_t i = 0; i < t->len; i++) {
            metrics_count_receiver(METRIC_DELIVERIES_OK, t->items[i]->receiver);
            outbox_delivered(d->box, t->items[i]);
        }
    } else if (v->kind == HERALD_FAIL && t->len > 1) {
        /* The digest was refused (too long, say), not its notifications:
         * each goes again by itself and meets its own verdict. */
        log_warn(first->receiver, "a digest of %zu notifications was refused (%s); "
                 "sending them one by one", t->len, v->reason);
        held_queue *q = held_for(d, t->r->name);
        for (size_t i = 0; i < t->len; i++) {
            notification *n = t->items[i];
            n->send_alone = 1;
            notification_set_error(n, v->reason);
            outbox_note_retry(d->box, n);
            held_insert(q, held_position(q, n), &n, 1);
        }
    } else if (v->kind == HERALD_FAIL) {
        for (size_t i = 0; i < t->len; i++) {
            give_up(d, t->items[i], v->reason);
        }
    } else {
        settle_retry(d, t, v, where, now);
    }
    t->len = 0;
    free(where);
}

static void settle_now(dispatcher *d, transfer *t, herald_verdict_kind kind, const char *reason)
{
    herald_verdict v = {.abi = HERALD_ABI_HEADER_INIT(herald_verdict), .kind = kind};
    /* Long reasons are cut to what a verdict holds. */
    snprintf(v.reason, sizeof v.reason, "%.*s", (int)sizeof v.reason - 1, reason);
    settle(d, t, &v);
}

/* ---- transports --------------------------------------------------------- */

/* file:// targets: the dispatcher appends the body as one line. */
static void deliver_to_file(dispatcher *d, transfer *t)
{
    const char *path = t->req.url + strlen("file://");
    /* stdout is written as it is: under systemd it is a socket to the
     * journal, which open("/dev/stdout") refuses. Anything else opens
     * without blocking, so a FIFO nobody reads cannot stop delivery. */
    int to_stdout = strcmp(path, "/dev/stdout") == 0;
    int fd = to_stdout ? STDOUT_FILENO
                       : open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
    if (fd < 0) {
        char reason[512];
        snprintf(reason, sizeof reason, "cannot open %s: %s", path, strerror(errno));
        settle_now(d, t, HERALD_RETRY, reason);
        return;
    }
    /* One writev per line keeps lines whole when several writers append. */
    struct iovec iov[2] = {{t->req.body.data, t->req.body.len}, {(void *)"\n", 1}};
    ssize_t want = (ssize_t)t->req.body.len + 1;
    ssize_t wrote = writev(fd, iov, 2);
    int saved = errno;
    if (!to_stdout)
        close(fd);
    if (wrote != want) {
        char reason[512];
        snprintf(reason, sizeof reason, "cannot write %s: %s", path,
                 wrote < 0 ? strerror(saved) : "short write");
        settle_now(d, t, HERALD_RETRY, reason);
        return;
    }
    settle_now(d, t, HERALD_OK, "");
}

static size_t on_body(char *data, size_t size, size_t count, void *ctx)
{
    transfer *t = ctx;
    size_t len = size * count;
    if (t->body.len < RESPONSE_BODY_CAP)
        sb_append(&t->body, data, len < RESPONSE_BODY_CAP - t->body.len ? len : RESPONSE_BODY_CAP - t->body.len);
    return len;
}

static size_t on_header(char *data, size_t size, size_t count, void *ctx)
{
    transfer *t = ctx;
    size_t len = size * count;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue): forget earlier headers. */
        for (size_t i = 0; i < t->response_headers_len; i++)
            free(t->response_headers[i]);
        t->response_headers_len = 0;
        return len;
    }
    size_t end = len;
    while (end > 0 && (data[end - 1] == '\r' || data[end - 1] == '\n'))
        end--;
    if (end == 0)
        return len;
    t->response_headers = xrealloc(t->response_headers,
                                   (t->response_headers_len + 1) * sizeof(char *));
    t->response_headers[t->response_headers_len++] = xstrndup(data, end);
    return len;
}

static size_t on_upload(char *buffer, size_t size, size_t count, void *ctx)
{
    transfer *t = ctx;
    size_t left = t->req.body.len - t->upload_offset, room = size * count;
    size_t n = left < room ? left : room;
    memcpy(buffer, t->req.body.data + t->upload_offset, n);
    t->upload_offset += n;
    return n;
}

static int has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

/* SMTP: envelope from the request, the body uploaded as the message. */
static void setup_mail(transfer *t, CURL *e)
{
    const herald_request *req = &t->req;
    for (size_t i = 0; i < req->recipients_len; i++)
        t->recipients = curl_slist_append(t->recipients, req->recipients[i]);
    if (req->mail_from)
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, req->mail_from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->recipients);
    /* Every server reply line comes through here: a refusal's own words. */
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(e, CURLOPT_READDATA, t);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body.len);
    long use_ssl = req->tls == HERALD_TLS_REQUIRED ? (long)CURLUSESSL_ALL
                   : req->tls == HERALD_TLS_NONE   ? (long)CURLUSESSL_NONE
                                                   : (long)CURLUSESSL_TRY;
    curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl);
}

static void setup_http(transfer *t, CURL *e)
{
    const herald_request *req = &t->req;
    for (size_t i = 0; i < req->headers_len; i++)
        t->headers = curl_slist_append(t->headers, req->headers[i]);
    /* Without this curl may wait for 100 Continue before large bodies. */
    t->headers = curl_slist_append(t->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, sb_str(&req->body));
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
    if (req->method && strcmp(req->method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->user)
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "herald/" HERALD_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
}

static int start_transfer(dispatcher *d, transfer *t)
{
    const delivery_settings *ds = &t->gen->conf.delivery;
    const receiver *r = t->r;
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
    t->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, t->req.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
    t->is_mail = has_scheme(t->req.url, "smtp") || has_scheme(t->req.url, "smtps");
    if (t->is_mail)
        setup_mail(t, e);
    else
        setup_http(t, e);
    if (t->req.user) {
        curl_easy_setopt(e, CURLOPT_USERNAME, t->req.user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, t->req.password ? t->req.password : "");
    }
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ds->request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)ds->request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, r->tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, r->tls_verify ? 2L : 0L);
    if (r->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, r->ca_file);
    /* The configured proxy or none: the daemon's environment (http_proxy,
     * NO_PROXY) does not decide where alerts go. */
    curl_easy_setopt(e, CURLOPT_PROXY, r->proxy ? r->proxy : "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK)
        return -1;
    track(d, t);
    return 0;
}

static void launch(dispatcher *d, transfer *t)
{
    if (strncmp(t->req.url, "file://", 7) == 0) {
        deliver_to_file(d, t);
        transfer_free(t);
        return;
    }
    if (start_transfer(d, t)) {
        settle_now(d, t, HERALD_RETRY, "cannot start a transfer");
        transfer_free(t);
    }
}

/* On the store's writer thread. Written or refused, the message goes: a
 * disk that refuses the record refuses the delivery results too, and the
 * store has logged why. */
static void send_recorded(void *ctx, int failed, const char *error)
{
    (void)failed;
    (void)error;
    transfer *t = ctx;
    dispatcher *d = t->d;
    pthread_mutex_lock(&d->recorded_lock);
    t->next = d->recorded;
    d->recorded = t;
    pthread_mutex_unlock(&d->recorded_lock);
    curl_multi_wakeup(d->multi);
}

/* What was taken but not sent goes back to the outbox (and stays in the
 * store for the next start). */
static void put_back(dispatcher *d, transfer *t)
{
    for (size_t i = 0; i < t->len; i++)
        outbox_retry(d->box, t->items[i]);
    t->len = 0;
    transfer_free(t);
}

/* Transfers whose sends are on disk start; past the drain deadline they
 * are put back instead. */
static void launch_recorded(dispatcher *d, int past_deadline)
{
    pthread_mutex_lock(&d->recorded_lock);
    transfer *list = d->recorded;
    d->recorded = NULL;
    pthread_mutex_unlock(&d->recorded_lock);
    while (list) {
        transfer *t = list;
        list = t->next;
        d->recording--;
        if (past_deadline)
            put_back(d, t);
        else
            launch(d, t);
    }
}

/* Sends the first k held notifications of q (k > 1: as one digest)
 * through the receiver's target number `target`. */
static void start_batch(dispatcher *d, held_queue *q, generation *g, const receiver *r, size_t k,
                        size_t target, size_t item_cap)
{
    transfer *t = xcalloc(1, sizeof *t);
    t->d = d;
    t->items = xcalloc(k, sizeof *t->items);
    memcpy(t->items, q->items, k * sizeof *t->items);
    t->len = k;
    held_remove_front(q, k);
    t->gen = generation_ref(g);
    t->r = r;
    t->started_ms = wall_ms();
    request_init(&t->req);
    channel_target_key(r->channel, r->instance, r->name, target, t->target_key, sizeof t->target_key);
    for (size_t i = 0; i < k; i++)
        t->items[i]->attempts++;

    herald_message msg;
    rendered merged = {0};
    if (k == 1) {
        notification_as_message(t->items[0], &msg);
    } else {
        digest_build(t->items, k, q->len, item_cap, &merged);
        const char *status = "resolved";
        for (size_t i = 0; i < k; i++)
            if (strcmp(t->items[i]->status, "firing") == 0)
                status = "firing";
        rendered_as_message(&merged, r->name, status, alert_total(t->items, k), &msg);
    }
    msg.target = target;
    char err[512] = "";
    int prepared = r->channel->prepare(r->instance, &msg, &t->req, err, sizeof err) == 0 && t->req.url;
    rendered_free(&merged);
    if (!prepared) {
        char reason[600];
        snprintf(reason, sizeof reason, "channel %s cannot prepare the message: %s", r->channel_name,
                 err[0] ? err : "no URL");
        settle_now(d, t, HERALD_FAIL, reason);
        transfer_free(t);
        return;
    }
    rate_record_send(d->limits, t->target_key, &r->rate, t->started_ms);
    t->sent = 1;
    /* Recorded first, a send is still counted after a crash or restart,
     * so the restarted limiter cannot overrun the window (or send into a
     * penalty) with what it forgot. */
    if (rate_is_limited(&r->rate) &&
        outbox_record_send(d->box, rate_target_id(d->limits, t->target_key), t->started_ms,
                           send_recorded, t)) {
        d->recording++;
        return;
    }
    launch(d, t);
}

/* How many notifications may go now: open requests stay under
 * max_in_flight, and sent notifications whose outcome is not on disk yet
 * (those of open requests included) under max_unrecorded, so that a crash
 * sends at most that many twice. */
static size_t room_to_send(dispatcher *d, const delivery_settings *ds, int wake_when_one_settles)
{
    if (d->open_requests >= ds->max_in_flight)
        return 0;
    size_t unrecorded = d->in_flight + outbox_unsettled(d->box, wake_when_one_settles);
    return unrecorded < ds->max_unrecorded ? ds->max_unrecorded - unrecorded : 0;
}

/* Notifications waiting behind a failing target reach max_age too: they
 * are given up here, not one per failed attempt of the one in front. */
static void expire_held(dispatcher *d, held_queue *q, const delivery_settings *ds, int64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < q->len; i++) {
        notification *n = q->items[i];
        if (now - n->created_ms <= ds->max_age_ms) {
            q->items[kept++] = n;
            continue;
        }
        char reason[512];
        snprintf(reason, sizeof reason,
                 "gave up at the maximum age of %lld s, waiting for its target; last error: %s",
                 (long long)(ds->max_age_ms / 1000), n->last_error ? n->last_error : "none");
        give_up(d, n, reason);
    }
    q->len = kept;
}

/* Sends what held notifications their targets' limits allow now: one by
 * one while the free slots suffice, as digests once more wait than the
 * slots left in the window (less a reserve). Returns when to look again
 * (-1: no need). */
static int64_t dispatch_held(dispatcher *d, int64_t now)
{
    int64_t next_wake = -1;
    generation *g = generation_acquire();
    for (held_queue *q = d->held; q; q = q->next) {
        const receiver *r = g ? config_receiver(&g->conf, q->receiver) : NULL;
        if (q->len && !r) {
            for (size_t i = 0; i < q->len; i++) {
                give_up(d, q->items[i], "receiver is no longer in the configuration");
            }
            q->len = 0;
        }
        if (q->len && now >= q->next_age_check) {
            expire_held(d, q, &g->conf.delivery, now);
            q->next_age_check = now + 1000;
        }
        size_t targets = r ? channel_targets(r->channel, r->instance) : 0;
        while (q->len) {
            size_t room = room_to_send(d, &g->conf.delivery, 0);
            if (!room) {
                /* Woken when an outcome reaches the disk; at once if one
                 * did meanwhile. */
                if (room_to_send(d, &g->conf.delivery, 1))
                    next_wake = now;
                break;
            }
            size_t best = 0;
            int64_t best_slot = INT64_MAX;
            unsigned free_slots = 0;
            for (size_t i = 0; i < targets; i++) {
                char key[512];
                channel_target_key(r->channel, r->instance, r->name, i, key, sizeof key);
                int64_t slot = rate_next_slot(d->limits, key, &r->rate, now);
                if (slot < best_slot) {
                    best_slot = slot;
                    best = i;
                }
                unsigned f = rate_free_slots(d->limits, key, &r->rate, now);
                free_slots = f > UINT_MAX - free_slots ? UINT_MAX : free_slots + f;
            }
            if (best_slot > now) {
                /* RATE_AFTER_ANSWER: the probe's answer wakes the loop */
                if (best_slot != RATE_AFTER_ANSWER && (next_wake < 0 || best_slot < next_wake))
                    next_wake = best_slot;
                break;
            }
            /* Half of each window stays for digests, so a trickle sent one
             * by one cannot use up the slots a storm will need. */
            size_t reserve = (size_t)(r->rate.per_minute / 2) * targets;
            size_t k = 1, item_cap = 0;
            /* A digest carries no request body of its own: a channel that
             * forwards each notification's body sends them one by one. */
            if (free_slots != UINT_MAX && q->len + reserve > free_slots &&
                !channel_needs_payload(r->channel, r->instance)) {
                /* A storm: gather for a moment, then share the window's
                 * remaining slots among everything waiting, each message
                 * cut to its share, so every alert goes out now rather
                 * than a minute later. */
                int64_t gathered_at = q->items[0]->next_attempt_ms + DIGEST_GATHER_MS;
                if (now < gathered_at) {
                    if (next_wake < 0 || gathered_at < next_wake)
                        next_wake = gathered_at;
                    break;
                }
                size_t budget = channel_text_budget(r->channel, r->instance);
                item_cap = digest_item_cap(budget, q->len, free_slots);
                if (item_cap >= budget)
                    item_cap = 0;
                else if (item_cap && item_cap < DIGEST_MIN_ITEM_BYTES)
                    item_cap = DIGEST_MIN_ITEM_BYTES;
                k = digest_fit(q->items, q->len, budget, item_cap);
                if (k > room && room < g->conf.delivery.max_unrecorded &&
                    now < gathered_at + DIGEST_GATHER_MS) {
                    /* Outcomes are on their way to disk: wait a moment for
                     * them rather than spend a slot of the window on a
                     * smaller digest (not longer: under steady load from
                     * other receivers the room may never open wide). */
                    if (room_to_send(d, &g->conf.delivery, 1) > room)
                        next_wake = now;
                    else if (next_wake < 0 || gathered_at + DIGEST_GATHER_MS < next_wake)
                        next_wake = gathered_at + DIGEST_GATHER_MS;
                    break;
                }
                if (k > room)
                    k = room;
                for (size_t i = 0; i < k; i++)
                    if (q->items[i]->send_alone) {
                        k = i ? i : 1;
                        break;
                    }
            }
            start_batch(d, q, g, r, k, best, item_cap);
        }
    }
    if (g)
        generation_unref(g);
    return next_wake;
}

/* The server's last reply of 400 or more ("550 5.1.1 no such user"), which
 * says more than curl's error ("RCPT failed: 550"); QUIT's "221 Bye"
 * comes after it and is skipped by the code check. */
static const char *smtp_refusal_text(const transfer *t, CURLcode result)
{
    for (size_t i = t->response_headers_len; i-- > 0;) {
        const char *line = t->response_headers[i];
        if (line[0] >= '4' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
            line[2] >= '0' && line[2] <= '9')
            return line;
    }
    return t->curl_error[0] ? t->curl_error : curl_easy_strerror(result);
}

static void finish(dispatcher *d, CURL *e, CURLcode result)
{
    transfer *t = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
    curl_multi_remove_handle(d->multi, e);
    untrack(d, t);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    /* A refusing SMTP server ends the transfer with an error but has said
     * why: that reply is the channel's to judge, like an HTTP status. */
    int smtp_refusal = t->is_mail && status >= 400;
    if (result == CURLE_COULDNT_CONNECT || result == CURLE_COULDNT_RESOLVE_HOST ||
        result == CURLE_COULDNT_RESOLVE_PROXY)
        rate_forget_send(d->limits, t->target_key, t->started_ms); /* never reached it */
    if (!smtp_refusal && (result == CURLE_URL_MALFORMAT || result == CURLE_UNSUPPORTED_PROTOCOL ||
                          result == CURLE_LOGIN_DENIED)) {
        /* The URL or the credentials are wrong: no retry can help. */
        char reason[CURL_ERROR_SIZE + 64];
        snprintf(reason, sizeof reason, "transport: %s",
                 t->curl_error[0] ? t->curl_error : curl_easy_strerror(result));
        settle_now(d, t, HERALD_FAIL, reason);
        transfer_free(t);
        return;
    }
    if (result != CURLE_OK && !smtp_refusal) {
        char reason[CURL_ERROR_SIZE + 64];
        snprintf(reason, sizeof reason, "transport: %s",
                 t->curl_error[0] ? t->curl_error : curl_easy_strerror(result));
        settle_now(d, t, HERALD_RETRY, reason);
        transfer_free(t);
        return;
    }
    if (smtp_refusal)
        sb_puts(&t->body, smtp_refusal_text(t, result));
    host_response resp = {
        .pub = {.abi = HERALD_ABI_HEADER_INIT(herald_response), .status = status,
                .body = sb_str(&t->body), .body_len = t->body.len},
        .headers = t->response_headers,
        .headers_len = t->response_headers_len,
    };
    /* Not HERALD_OK (0) until the plugin says so: a classify that sets no
     * verdict must not count as delivered. */
    herald_verdict v = {.abi = HERALD_ABI_HEADER_INIT(herald_verdict), .kind = NO_VERDICT};
    t->r->channel->classify(t->r->instance, &resp.pub, &v);
    if (v.kind != HERALD_OK && v.kind != HERALD_RETRY && v.kind != HERALD_FAIL) {
        v.kind = HERALD_RETRY;
        snprintf(v.reason, sizeof v.reason, "channel %s gave no verdict (HTTP %ld)",
                 t->r->channel_name, status);
    }
    settle(d, t, &v);
    transfer_free(t);
}

/* ---- the loop ----------------------------------------------------------- */

/* At the drain deadline: what is in flight or held goes back to the
 * outbox (and stays in the store for the next start). */
static void return_unfinished(dispatcher *d)
{
    while (d->active) {
        transfer *t = d->active;
        curl_multi_remove_handle(d->multi, t->easy);
        untrack(d, t);
        put_back(d, t);
    }
    for (held_queue *q = d->held; q; q = q->next) {
        for (size_t i = 0; i < q->len; i++)
            outbox_retry(d->box, q->items[i]);
        q->len = 0;
    }
}

static void *run(void *arg)
{
    dispatcher *d = arg;
    for (;;) {
        int64_t now = wall_ms();
        int stopping = atomic_load(&d->stopping);
        int past_deadline = stopping && now >= d->drain_deadline_ms;
        launch_recorded(d, past_deadline);
        /* Not while the store holds a transfer: it is handed back soon. */
        if (past_deadline && !d->recording)
            break;
        int64_t next_due = -1;
        notification *n;
        while ((n = outbox_take_due(d->box, now, &next_due)))
            hold(d, n);
        int64_t next_wake = dispatch_held(d, now);
        /* Stopping: what is in flight finishes and what can go now goes;
         * what would have to wait (a backoff, a paused or full target)
         * stays in the store for the next start. */
        if (stopping && d->open_requests == 0 && !d->recording &&
            (next_due < 0 || next_due > now))
            break;
        int running;
        curl_multi_perform(d->multi, &running);
        CURLMsg *msg;
        int left, settled = 0;
        while ((msg = curl_multi_info_read(d->multi, &left)))
            if (msg->msg == CURLMSG_DONE) {
                finish(d, msg->easy_handle, msg->data.result);
                settled++;
            }
        /* A settled transfer may have been rescheduled sooner than next_due,
         * and frees a slot: look again before sleeping. */
        int timeout = settled ? 0 : 1000;
        int64_t wake_at = next_due < 0 ? next_wake
                          : next_wake < 0 ? next_due
                          : next_due < next_wake ? next_due : next_wake;
        if (wake_at >= 0 && timeout > 0) {
            int64_t until = wake_at - wall_ms();
            timeout = until < 0 ? 0 : until < timeout ? (int)until : timeout;
        }
        /* Returns early on transfer activity, curl's own timers or a wakeup. */
        curl_multi_poll(d->multi, NULL, 0, timeout, NULL);
    }
    return_unfinished(d);
    return NULL;
}

dispatcher *dispatcher_start(outbox *box, rate_limits *limits)
{
    dispatcher *d = xcalloc(1, sizeof *d);
    d->box = box;
    d->limits = limits;
    pthread_mutex_init(&d->recorded_lock, NULL);
    d->multi = curl_multi_init();
    if (!d->multi)
        goto fail;
    outbox_set_wakeup(box, wake, d);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        outbox_set_wakeup(box, NULL, NULL);
        curl_multi_cleanup(d->multi);
        goto fail;
    }
    return d;
fail:
    rate_limits_free(d->limits);
    pthread_mutex_destroy(&d->recorded_lock);
    free(d);
    return NULL;
}

size_t dispatcher_stop(dispatcher *d, int64_t drain_ms)
{
    d->drain_deadline_ms = wall_ms() + drain_ms;
    atomic_store(&d->stopping, 1);
    curl_multi_wakeup(d->multi);
    pthread_join(d->thread, NULL);
    outbox_set_wakeup(d->box, NULL, NULL);
    outbox_stats s = outbox_get_stats(d->box);
    curl_multi_cleanup(d->multi);
    rate_limits_free(d->limits);
    pthread_mutex_destroy(&d->recorded_lock);
    while (d->held) {
        held_queue *q = d->held;
        d->held = q->next;
        free(q->receiver);
        free(q->items);
        free(q);
    }
    free(d);
    return s.queued + s.in_flight;
}
