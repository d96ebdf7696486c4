/* The email channel's message: RFC 5322 headers and a multipart/alternative
 * body (text/plain and text/html, UTF-8, base64), within MAX_MESSAGE_BYTES. */
#include "message.h"

#include <stdio.h>
#include <string.h>

#include "header.h"
#include "html_text.h"

#define TRUNCATION_MARKER_TEXT "\n\n…（内容过长，已截断）"
#define TRUNCATION_MARKER_HTML "\n<p>…（内容过长，已截断）</p>\n"
/* RFC 2045 6.8: base64 lines carry at most 76 characters. */
#define BASE64_LINE 76
#define SUBJECT_FALLBACK "herald notification"

/* Text in canonical form (RFC 2045 6.8): every line break CRLF before it is
 * base64-encoded. */
static herald_buf *canonical_lines(const herald_host *host, const char *text, size_t len)
{
    herald_buf *out = host->buf_new();
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            host->buf_append(out, "\r", 1);
        host->buf_append(out, text + i, 1);
    }
    return out;
}

static void append_base64_lines(const herald_host *host, herald_buf *out, const char *data,
                                size_t len)
{
    /* 57 input bytes make exactly one 76-character line. */
    const size_t chunk = BASE64_LINE / 4 * 3;
    char line[BASE64_LINE + 1];
    for (size_t done = 0; done < len; done += chunk) {
        size_t take = len - done < chunk ? len - done : chunk;
        size_t n = host->base64_encode(data + done, take, line, sizeof line);
        host->buf_append(out, line, n);
        host->buf_append(out, "\r\n", 2);
    }
}

static void append_part(const herald_host *host, herald_buf *out, const char *boundary,
                        const char *subtype, const char *data, size_t len)
{
    host->buf_printf(out,
                     "--%s\r\nContent-Type: text/%s; charset=UTF-8\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n",
                     boundary, subtype);
    herald_buf *canonical = canonical_lines(host, data, len);
    append_base64_lines(host, out, host->buf_data(canonical), host->buf_len(canonical));
    host->buf_free(canonical);
}

typedef struct content {
    int64_t now_ms; /* read once, so every trial serialization has one size */
    const char *text;
    size_t text_len; /* how much of the text is kept */
    int truncated;
} content;

static void to_hex(const unsigned char *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

/* A digest of the message and the time: distinct messages get distinct
 * Message-IDs and boundaries, and the same input gives the same bytes,
 * which keeps prepare free of global state and testable. */
static void message_digest(const mailer *m, const herald_message *msg, int64_t now_ms,
                           unsigned char digest[32])
{
    const herald_host *host = m->host;
    herald_buf *data = host->buf_new();
    host->buf_printf(data, "%lld\n%s\n%s\n%s\n", (long long)now_ms,
                     msg->receiver ? msg->receiver : "", msg->status ? msg->status : "",
                     msg->title ? msg->title : "");
    host->buf_append(data, msg->text, strlen(msg->text));
    static const char key[] = "herald message id";
    host->hmac_sha256(key, sizeof key - 1, host->buf_data(data), host->buf_len(data), digest);
    host->buf_free(data);
}

/* The subject: prefix and title with every run of whitespace (line breaks
 * included) made one space. */
static herald_buf *subject_of(const mailer *m, const herald_message *msg)
{
    const herald_host *host = m->host;
    herald_buf *joined = host->buf_new();
    host->buf_printf(joined, "%s%s", m->subject_prefix,
                     msg->title && *msg->title ? msg->title : SUBJECT_FALLBACK);
    herald_buf *subject = host->buf_new();
    const char *s = host->buf_data(joined);
    int space = 0;
    for (; *s; s++) {
        if (*s == ' ' || (unsigned char)*s < 0x20 || *s == 0x7f) {
            space = 1;
            continue;
        }
        if (space && host->buf_len(subject))
            host->buf_append(subject, " ", 1);
        space = 0;
        host->buf_append(subject, s, 1);
    }
    host->buf_free(joined);
    return subject;
}

static void append_headers(const mailer *m, const herald_message *msg, herald_buf *out,
                           int64_t now_ms, const char *digest_hex, const char *boundary)
{
    const herald_host *host = m->host;
    header_writer w = {host, out, 0, 1};
    append_date(host, out, now_ms);
    header_addresses(&w, "From", &m->from, 1);
    header_addresses(&w, "To", m->to.items, m->to.len);
    if (m->cc.len)
        header_addresses(&w, "Cc", m->cc.items, m->cc.len);
    herald_buf *subject = subject_of(m, msg);
    header_start(&w, "Subject");
    header_text(&w, host->buf_data(subject), host->buf_len(subject));
    header_end(&w);
    host->buf_free(subject);
    host->buf_printf(out, "Message-ID: <%lld.%.32s@%s>\r\n", (long long)now_ms, digest_hex,
                     m->from_domain);
    /* RFC 3834: vacation responders must not answer alert mail. */
    host->buf_printf(out, "Auto-Submitted: auto-generated\r\n");
    host->buf_printf(out,
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
                     boundary);
}

static herald_buf *serialize(const mailer *m, const herald_message *msg, const content *c)
{
    const herald_host *host = m->host;
    int64_t now_ms = c->now_ms;
    unsigned char digest[32];
    message_digest(m, msg, now_ms, digest);
    char digest_hex[65];
    to_hex(digest, sizeof digest, digest_hex);
    /* "=_" never occurs in base64 text, so the boundary cannot either. */
    char boundary[48];
    snprintf(boundary, sizeof boundary, "=_herald_%.24s", digest_hex + 32);

    herald_buf *text = host->buf_new();
    host->buf_append(text, c->text, c->text_len);
    if (c->truncated) {
        const char *marker =
            msg->format == HERALD_FORMAT_HTML ? TRUNCATION_MARKER_HTML : TRUNCATION_MARKER_TEXT;
        host->buf_append(text, marker, strlen(marker));
    }
    herald_buf *plain = host->buf_new();
    plain_alternative(host, plain, host->buf_data(text), host->buf_len(text), msg->format);
    herald_buf *html = host->buf_new();
    html_alternative(host, html, host->buf_data(text), host->buf_len(text), msg->format);

    herald_buf *out = host->buf_new();
    append_headers(m, msg, out, now_ms, digest_hex, boundary);
    append_part(host, out, boundary, "plain", host->buf_data(plain), host->buf_len(plain));
    append_part(host, out, boundary, "html", host->buf_data(html), host->buf_len(html));
    host->buf_printf(out, "--%s--\r\n", boundary);
    host->buf_free(text);
    host->buf_free(plain);
    host->buf_free(html);
    return out;
}

static size_t cut_text(const mailer *m, const herald_message *msg, size_t max)
{
    size_t len = strlen(msg->text);
    return msg->format == HERALD_FORMAT_HTML ? html_prefix(m->host, msg->text, len, max)
                                             : m->host->text_prefix(msg->text, len, max);
}

static size_t message_size(const mailer *m, const herald_message *msg, const content *c)
{
    herald_buf *body = serialize(m, msg, c);
    size_t size = m->host->buf_len(body);
    m->host->buf_free(body);
    return size;
}

/* The search for the longest cut that fits: `fitting` always fits,
 * `too_long` never does; sizes are those of the message at each. */
typedef struct bracket {
    size_t fitting, fitting_size;
    size_t too_long, too_long_size;
} bracket;

static void probe(const mailer *m, const herald_message *msg, content *c, bracket *b,
                  size_t at)
{
    if (at <= b->fitting || at >= b->too_long)
        return;
    c->text_len = cut_text(m, msg, at);
    size_t size = message_size(m, msg, c);
    if (size <= MAX_MESSAGE_BYTES) {
        b->fitting = at;
        b->fitting_size = size;
    } else {
        b->too_long = at;
        b->too_long_size = size;
    }
}

/* The whole message at most MAX_MESSAGE_BYTES, cutting the text as little
 * as needed; measured on real serializations, since both alternatives and
 * their base64 grow with the text. Each trial serializes megabytes, so the
 * search interpolates (the size grows almost linearly with the cut) and
 * probes both sides of the estimate, falling back to halving when that
 * does not narrow the bracket enough. */
herald_buf *build_message(const mailer *m, const herald_message *msg, char *err, size_t err_cap)
{
    const herald_host *host = m->host;
    size_t text_len = strlen(msg->text);
    content c = {host->now_ms(), msg->text, text_len, 0};
    herald_buf *body = serialize(m, msg, &c);
    if (host->buf_len(body) <= MAX_MESSAGE_BYTES)
        return body;
    bracket b = {0, 0, text_len, host->buf_len(body)};
    host->buf_free(body);
    c.truncated = 1;
    c.text_len = 0;
    b.fitting_size = message_size(m, msg, &c);
    if (b.fitting_size > MAX_MESSAGE_BYTES) {
        snprintf(err, err_cap, "message does not fit in %d bytes even with its text cut to nothing",
                 MAX_MESSAGE_BYTES);
        return NULL;
    }
    while (b.too_long - b.fitting > 1) {
        size_t span = b.too_long - b.fitting;
        double share = (double)(MAX_MESSAGE_BYTES - b.fitting_size) /
                       (double)(b.too_long_size - b.fitting_size);
        size_t estimate = b.fitting + (size_t)(share * (double)span);
        size_t margin = span / 64 + 1;
        probe(m, msg, &c, &b, estimate);
        if (b.fitting == estimate)
            probe(m, msg, &c, &b, estimate + margin);
        else
            probe(m, msg, &c, &b, estimate > margin ? estimate - margin : 0);
        if (b.too_long - b.fitting > span / 2)
            probe(m, msg, &c, &b, b.fitting + (b.too_long - b.fitting) / 2);
    }
    c.text_len = cut_text(m, msg, b.fitting);
    return serialize(m, msg, &c);
}
