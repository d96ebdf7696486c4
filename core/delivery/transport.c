#include "delivery/dispatch_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

#include "delivery/ratelimit.h"
#include "util/clock.h"
#include "util/error.h"

#define NO_VERDICT ((herald_verdict_kind)0x7f)

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

void transfer_abandon(dispatcher *d, transfer *t)
{
    curl_multi_remove_handle(d->multi, t->easy);
    untrack(d, t);
}

/* ---- file:// ------------------------------------------------------------ */

/* file:// targets: the dispatcher appends the body as one line. Returns 0,
 * or -1 with err set. */
static int append_to_file(const transfer *t, char *err, size_t err_cap)
{
    const char *path = t->req.url + strlen("file://");
    /* stdout is written as it is: under systemd it is a socket to the
     * journal, which open("/dev/stdout") refuses. Anything else opens
     * without blocking, so a FIFO nobody reads cannot stop delivery. */
    int to_stdout = strcmp(path, "/dev/stdout") == 0;
    int fd = to_stdout ? STDOUT_FILENO
                       : open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
    if (fd < 0)
        return fail_errno(err, err_cap, errno, "cannot open %s", path);
    /* One writev per line keeps lines whole when several writers append. */
    struct iovec iov[2] = {{t->req.body.data, t->req.body.len}, {(void *)"\n", 1}};
    ssize_t want = (ssize_t)t->req.body.len + 1;
    ssize_t wrote = writev(fd, iov, 2);
    int saved = errno;
    if (!to_stdout)
        close(fd);
    if (wrote < 0)
        return fail_errno(err, err_cap, saved, "cannot write %s", path);
    if (wrote != want)
        return fail(err, err_cap, "cannot write %s: short write", path);
    return 0;
}

/* ---- libcurl ------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t count, void *ctx)
{
    transfer *t = ctx;
    size_t len = size * count;
    sb_append(&t->body, data, len); /* past the cap, dropped */
    return len;
}

static size_t on_header(char *data, size_t size, size_t count, void *ctx)
{
    transfer *t = ctx;
    size_t len = size * count;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue): forget earlier headers. */
        sb_reset(&t->response_headers);
        return len;
    }
    /* A NUL inside a line ends it, as it ends the C string classify reads. */
    size_t end = strnlen(data, len);
    while (end > 0 && (data[end - 1] == '\r' || data[end - 1] == '\n'))
        end--;
    if (end == 0)
        return len;
    sb_append(&t->response_headers, data, end);
    sb_putc(&t->response_headers, '\0');
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

/* Returns 0, or -1 with err set. */
static int start_transfer(dispatcher *d, transfer *t, char *err, size_t err_cap)
{
    const delivery_settings *ds = &t->gen->conf.delivery;
    const receiver *r = t->r;
    CURL *e = easy_pool_take(&d->easy);
    if (!e)
        return fail(err, err_cap, "cannot start a transfer");
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
        return fail(err, err_cap, "cannot start a transfer");
    track(d, t);
    return 0;
}

void transfer_launch(dispatcher *d, transfer *t)
{
    char err[512];
    if (strncmp(t->req.url, "file://", 7) == 0) {
        if (append_to_file(t, err, sizeof err))
            settle_now(d, t, HERALD_RETRY, err);
        else
            settle_now(d, t, HERALD_OK, "");
        transfer_free(t);
        return;
    }
    if (start_transfer(d, t, err, sizeof err)) {
        settle_now(d, t, HERALD_RETRY, err);
        transfer_free(t);
    }
}

/* ---- the answer --------------------------------------------------------- */

/* The header lines as host_response has them: pointers into the buffer,
 * each line ended by its NUL. A line the cap cut has none and is left
 * out: half a header would mislead classify. Returns the count; *lines is
 * freed by the caller. */
static size_t header_lines(const strbuf *sb, char ***lines)
{
    size_t n = 0;
    *lines = NULL;
    for (size_t at = 0; at < sb->len;) {
        const char *end = memchr(sb->data + at, '\0', sb->len - at);
        if (!end)
            break;
        *lines = xrealloc(*lines, (n + 1) * sizeof **lines);
        (*lines)[n++] = sb->data + at;
        at = (size_t)(end - sb->data) + 1;
    }
    return n;
}

/* The server's last reply of 400 or more ("550 5.1.1 no such user"), which
 * says more than curl's error ("RCPT failed: 550"); QUIT's "221 Bye"
 * comes after it and is skipped by the code check. */
static const char *smtp_refusal_text(const transfer *t, char *const *lines, size_t n,
                                     CURLcode result)
{
    for (size_t i = n; i-- > 0;) {
        const char *line = lines[i];
        if (line[0] >= '4' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
            line[2] >= '0' && line[2] <= '9')
            return line;
    }
    return t->curl_error[0] ? t->curl_error : curl_easy_strerror(result);
}

void transfer_finish(dispatcher *d, CURL *e, CURLcode result)
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
    if (result != CURLE_OK && !smtp_refusal) {
        /* A wrong URL or wrong credentials: no retry can help. */
        int hopeless = result == CURLE_URL_MALFORMAT || result == CURLE_UNSUPPORTED_PROTOCOL ||
                       result == CURLE_LOGIN_DENIED;
        char reason[CURL_ERROR_SIZE + 64];
        snprintf(reason, sizeof reason, "transport: %s",
                 t->curl_error[0] ? t->curl_error : curl_easy_strerror(result));
        settle_now(d, t, hopeless ? HERALD_FAIL : HERALD_RETRY, reason);
        transfer_free(t);
        return;
    }
    char **lines;
    size_t lines_len = header_lines(&t->response_headers, &lines);
    if (smtp_refusal)
        sb_puts(&t->body, smtp_refusal_text(t, lines, lines_len, result));
    host_response resp = {
        .pub = {.abi = HERALD_ABI_HEADER_INIT(herald_response), .status = status,
                .body = sb_str(&t->body), .body_len = t->body.len},
        .headers = lines,
        .headers_len = lines_len,
    };
    /* Not HERALD_OK (0) until the plugin says so: a classify that sets no
     * verdict must not count as delivered. */
    herald_verdict v = {.abi = HERALD_ABI_HEADER_INIT(herald_verdict), .kind = NO_VERDICT};
    t->r->channel->classify(t->r->instance, &resp.pub, &v);
    free(lines);
    if (v.kind != HERALD_OK && v.kind != HERALD_RETRY && v.kind != HERALD_FAIL) {
        v.kind = HERALD_RETRY;
        snprintf(v.reason, sizeof v.reason, "channel %s gave no verdict (HTTP %ld)",
                 t->r->channel_name, status);
    }
    settle(d, t, &v);
    transfer_free(t);
}
