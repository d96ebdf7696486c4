#include "dispatch.h"

#include <errno.h>
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

#include "generation.h"
#include "host.h"
#include "log.h"
#include "metrics.h"
#include "strbuf.h"

#define RESPONSE_BODY_CAP (64 * 1024)

typedef struct transfer {
    notification *n;
    generation *gen;
    const receiver *r;
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
    struct transfer *prev, *next; /* the dispatcher's list of active transfers */
} transfer;

struct dispatcher {
    outbox *box;
    CURLM *multi;
    pthread_t thread;
    atomic_int stopping;
    int64_t drain_deadline_ms;
    unsigned in_flight;
    transfer *active;
};

static void track(dispatcher *d, transfer *t)
{
    t->prev = NULL;
    t->next = d->active;
    if (d->active)
        d->active->prev = t;
    d->active = t;
    d->in_flight++;
}

static void untrack(dispatcher *d, transfer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        d->active = t->next;
    if (t->next)
        t->next->prev = t->prev;
    d->in_flight--;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    if (t->gen)
        generation_unref(t->gen);
    free(t);
}

/* ---- verdicts ----------------------------------------------------------- */

static void settle(dispatcher *d, transfer *t, const herald_verdict *v)
{
    notification *n = t->n;
    t->n = NULL;
    int64_t now = wall_ms();
    char *where = request_redacted_url(&t->req);
    if (v->kind == HERALD_OK) {
        log_info(n->receiver, "delivered notification %llu (%s, %zu alert%s) to %s in %lld ms",
                 (unsigned long long)n->id, n->status, n->alert_count,
                 n->alert_count == 1 ? "" : "s", where, (long long)(now - t->started_ms));
        metrics_count(METRIC_DELIVERIES_OK);
        outbox_delivered(d->box, n);
    } else if (v->kind == HERALD_FAIL) {
        metrics_count(METRIC_DEAD_LETTERS);
        outbox_dead_letter(d->box, n, v->reason);
    } else {
        const delivery_settings *ds = &t->gen->conf.delivery;
        int64_t delay = retry_delay_ms(n->attempts, ds->retry_initial_ms, ds->retry_max_delay_ms);
        if (v->retry_after_ms > delay)
            delay = v->retry_after_ms;
        notification_set_error(n, v->reason);
        if (now + delay - n->created_ms > ds->max_age_ms) {
            char reason[512];
            snprintf(reason, sizeof reason, "gave up at the maximum age of %lld s; last error: %s",
                     (long long)(ds->max_age_ms / 1000), v->reason);
            metrics_count(METRIC_DEAD_LETTERS);
            outbox_dead_letter(d->box, n, reason);
        } else {
            log_warn(n->receiver, "notification %llu to %s: attempt %u failed (%s); retrying in %lld ms",
                     (unsigned long long)n->id, where, n->attempts, v->reason, (long long)delay);
            metrics_count(METRIC_DELIVERY_RETRIES);
            n->next_attempt_ms = now + delay;
            outbox_retry(d->box, n);
        }
    }
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
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
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
    /* An explicit proxy, or none: the daemon's environment does not pick one. */
    curl_easy_setopt(e, CURLOPT_PROXY, r->proxy ? r->proxy : "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK)
        return -1;
    track(d, t);
    return 0;
}

static void start(dispatcher *d, notification *n)
{
    transfer *t = xcalloc(1, sizeof *t);
    t->n = n;
    t->started_ms = wall_ms();
    request_init(&t->req);
    n->attempts++;
    t->gen = generation_acquire();
    t->r = config_receiver(&t->gen->conf, n->receiver);
    if (!t->r) {
        settle_now(d, t, HERALD_FAIL, "receiver is no longer in the configuration");
        transfer_free(t);
        return;
    }
    herald_message msg;
    notification_as_message(n, &msg);
    char err[512] = "";
    if (t->r->channel->prepare(t->r->instance, &msg, &t->req, err, sizeof err) || !t->req.url) {
        char reason[600];
        snprintf(reason, sizeof reason, "channel %s cannot prepare the message: %s",
                 t->r->channel_name, err[0] ? err : "no URL");
        settle_now(d, t, HERALD_FAIL, reason);
        transfer_free(t);
        return;
    }
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
    if (result != CURLE_OK && !smtp_refusal) {
        char reason[CURL_ERROR_SIZE + 64];
        snprintf(reason, sizeof reason, "transport: %s",
                 t->curl_error[0] ? t->curl_error : curl_easy_strerror(result));
        settle_now(d, t, HERALD_RETRY, reason);
        transfer_free(t);
        return;
    }
    if (smtp_refusal)
        sb_puts(&t->body, t->curl_error[0] ? t->curl_error : curl_easy_strerror(result));
    host_response resp = {
        .pub = {.abi = HERALD_ABI_HEADER_INIT(herald_response), .status = status,
                .body = sb_str(&t->body), .body_len = t->body.len},
        .headers = t->response_headers,
        .headers_len = t->response_headers_len,
    };
    herald_verdict v = {.abi = HERALD_ABI_HEADER_INIT(herald_verdict)};
    t->r->channel->classify(t->r->instance, &resp.pub, &v);
    settle(d, t, &v);
    transfer_free(t);
}

/* ---- the loop ----------------------------------------------------------- */

/* At the drain deadline: what is still in flight goes back to the outbox,
 * where the caller counts it as undelivered. */
static void abort_in_flight(dispatcher *d)
{
    while (d->active) {
        transfer *t = d->active;
        curl_multi_remove_handle(d->multi, t->easy);
        untrack(d, t);
        outbox_retry(d->box, t->n);
        t->n = NULL;
        transfer_free(t);
    }
}

static void *run(void *arg)
{
    dispatcher *d = arg;
    for (;;) {
        int64_t now = wall_ms();
        int stopping = atomic_load(&d->stopping);
        if (stopping && now >= d->drain_deadline_ms)
            break;
        int64_t next_due = -1;
        unsigned limit = 64;
        generation *g = generation_acquire();
        if (g) {
            limit = g->conf.delivery.max_in_flight;
            generation_unref(g);
        }
        notification *n;
        while (d->in_flight < limit && (n = outbox_take_due(d->box, now, &next_due)))
            start(d, n);
        if (stopping && d->in_flight == 0 && next_due < 0)
            break; /* drained */
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
         * and frees a slot: look at the outbox again before sleeping. */
        int timeout = settled ? 0 : 1000;
        if (next_due >= 0 && timeout > 0) {
            int64_t until = next_due - wall_ms();
            timeout = until < 0 ? 0 : until < timeout ? (int)until : timeout;
        }
        /* Returns early on transfer activity, curl's own timers or a wakeup. */
        curl_multi_poll(d->multi, NULL, 0, timeout, NULL);
    }
    abort_in_flight(d);
    return NULL;
}

dispatcher *dispatcher_start(outbox *box)
{
    dispatcher *d = xcalloc(1, sizeof *d);
    d->box = box;
    d->multi = curl_multi_init();
    if (!d->multi) {
        free(d);
        return NULL;
    }
    outbox_set_wakeup(box, wake, d);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        outbox_set_wakeup(box, NULL, NULL);
        curl_multi_cleanup(d->multi);
        free(d);
        return NULL;
    }
    return d;
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
    free(d);
    return s.queued + s.in_flight;
}
