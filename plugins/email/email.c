/* The email channel: builds the SMTP envelope and an RFC 5322 message
 * (multipart/alternative, text/plain + text/html, UTF-8, base64) that the
 * core's dispatcher sends through libcurl. Wire facts: CHANNELS.md, Email.
 * Receivers and their options: mailer.c; the message: message.c, with its
 * header fields in header.c and its two alternatives in html_text.c. */
#include <herald/plugin.h>

#include <stdio.h>
#include <string.h>

#include "mailer.h"
#include "message.h"

/* How much of curl's error text a verdict quotes. */
#define REPLY_QUOTE_BYTES 200

static int mailer_prepare(void *instance, const herald_message *msg, herald_request *req,
                          char *err, size_t err_cap)
{
    const mailer *m = instance;
    const herald_host *host = m->host;
    if (!msg->text) {
        snprintf(err, err_cap, "message has no text");
        return -1;
    }
    if (msg->format != HERALD_FORMAT_TEXT && msg->format != HERALD_FORMAT_MARKDOWN &&
        msg->format != HERALD_FORMAT_HTML) {
        snprintf(err, err_cap, "email takes text, markdown or html messages, not format %u",
                 (unsigned)msg->format);
        return -1;
    }
    herald_buf *message = build_message(m, msg, err, err_cap);
    if (!message)
        return -1;
    host->request_set_url(req, m->url);
    host->request_set_log_url(req, m->url);
    host->request_set_tls(req, m->tls);
    host->request_set_mail_from(req, m->from.addr);
    for (size_t i = 0; i < m->to.len; i++)
        host->request_add_mail_recipient(req, m->to.items[i].addr);
    for (size_t i = 0; i < m->cc.len; i++)
        host->request_add_mail_recipient(req, m->cc.items[i].addr);
    if (m->username)
        host->request_set_auth(req, m->username, m->password);
    host->request_set_body(req, host->buf_data(message), host->buf_len(message));
    host->buf_free(message);
    return 0;
}

/* ---- verdicts ---------------------------------------------------------- */

/* SMTP reply classes (RFC 5321 4.2.1): 2xx done, 4xx transient (greylisting,
 * a full mailbox, 421 closing), 5xx permanent (unknown user, 530/535 auth,
 * 552 too big). The core reaches classify for refusals with curl's error
 * text as the body ("RCPT failed: 550"), or the server's reply line when it
 * has one, and for completed sends with the last reply code. */
static void mailer_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    const mailer *m = instance;
    const char *text = resp->body ? resp->body : "";
    size_t text_len = resp->body_len;
    /* A server reply line ("550 5.1.1 no such user") repeats the code the
     * reason starts with anyway. */
    char code[8];
    int code_len = snprintf(code, sizeof code, "%ld", resp->status);
    if (code_len == 3 && text_len > 4 && memcmp(text, code, 3) == 0 &&
        (text[3] == ' ' || text[3] == '-')) {
        text += 4;
        text_len -= 4;
    }
    size_t quote = m->host->utf8_prefix(text, text_len,
                                        text_len < REPLY_QUOTE_BYTES ? text_len : REPLY_QUOTE_BYTES);
    herald_verdict_kind kind = HERALD_OK;
    if (resp->status >= 400 && resp->status <= 499)
        kind = HERALD_RETRY;
    else if (resp->status >= 500)
        kind = HERALD_FAIL;
    char head[32];
    snprintf(head, sizeof head, "SMTP %ld%s", resp->status, quote ? ": " : "");
    m->host->verdict(out, kind, 0, head, text, quote);
}

/* ---- descriptor -------------------------------------------------------- */

static const herald_channel email_channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "email",
    .description = "e-mail through an SMTP server (HTML with a plain-text alternative)",
    .max_body_bytes = MAX_MESSAGE_BYTES,
    .rate_per_minute = 0,
    .formats = HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_HTML,
    .default_template = "email",
    .options = mailer_options,
    .options_len = OPT_COUNT,
    .configure = mailer_configure,
    .prepare = mailer_prepare,
    .classify = mailer_classify,
    .destroy = mailer_destroy,
};

static const herald_channel *const channels[] = {&email_channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "email",
    .version = "0.1.0",
    .channels = channels,
    .channels_len = sizeof channels / sizeof channels[0],
};

HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
