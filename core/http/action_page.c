/* GET /action/<token>: what the link would do, to which alerts, and a
 * form asking who; POST to the same path: do it. The signed token is
 * the authorization (herald's API credentials are not asked for: a
 * phone follows the link), checked on both. The POST is a plain form
 * carrying no more than a name and a comment: a page of another site
 * that knew the token could do no more than the token's holder. */
#include "http/server_internal.h"

#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/utf8.h"

#define ACTION_PREFIX "/action/"
#define NAME_MAX_BYTES 64
#define COMMENT_MAX_BYTES 256

static void title_of(const action_token *t, char *out, size_t cap)
{
    if (t->kind == ACTION_ACK) {
        snprintf(out, cap, "认领 · Acknowledge");
        return;
    }
    char zh[32], en[32];
    action_duration_text(t->duration_ms, 0, zh, sizeof zh);
    action_duration_text(t->duration_ms, 1, en, sizeof en);
    snprintf(out, cap, "静默 %s · Silence for %s", zh, en);
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The value of `name` in an application/x-www-form-urlencoded body,
 * decoded; NULL when absent. */
static char *form_value(const char *body, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    for (size_t at = 0; at < len;) {
        size_t end = at;
        while (end < len && body[end] != '&')
            end++;
        if (end - at > name_len && strncmp(body + at, name, name_len) == 0 &&
            body[at + name_len] == '=') {
            strbuf v = {0};
            for (size_t i = at + name_len + 1; i < end; i++) {
                int hi, lo;
                if (body[i] == '+')
                    sb_putc(&v, ' ');
                else if (body[i] == '%' && i + 2 < end &&
                         (hi = hex_value(body[i + 1])) >= 0 && (lo = hex_value(body[i + 2])) >= 0) {
                    sb_putc(&v, (char)(hi * 16 + lo));
                    i += 2;
                } else
                    sb_putc(&v, body[i]);
            }
            return sb_take(&v);
        }
        at = end + 1;
    }
    return NULL;
}

/* Trimmed of surrounding blanks; NULL when empty, not UTF-8, holding a
 * control character or longer than max bytes. */
static char *clean_text(char *text, size_t max)
{
    if (!text)
        return NULL;
    char *start = text;
    while (*start == ' ' || *start == '\t')
        start++;
    size_t n = strlen(start);
    while (n && (start[n - 1] == ' ' || start[n - 1] == '\t'))
        n--;
    start[n] = '\0';
    int bad = !n || n > max || utf8_valid_length(start, n) != n;
    for (size_t i = 0; i < n && !bad; i++)
        bad = (unsigned char)start[i] < 0x20 || start[i] == 0x7f;
    char *out = bad ? NULL : xstrdup(start);
    free(text);
    return out;
}

static int names_fingerprint(const action_token *t, const char *fingerprint)
{
    for (size_t i = 0; i < t->fingerprints_len; i++)
        if (strcmp(t->fingerprints[i], fingerprint) == 0)
            return 1;
    return 0;
}

/* The alerts the link names as the alert state has them now. */
static void list_alerts(action_request *a, strbuf *page)
{
    matcher_set set = {0};
    strbuf text = {0};
    action_matchers_text(&a->token, &text);
    char err[256];
    alert_state_rows rows = {0};
    alert_filter f = {.limit = 1000};
    if (matchers_parse(sb_str(&text), &set, err, sizeof err) == 0) {
        f.matchers = set;
        if (store_alerts(a->reader, &f, a->now_ms, &rows, err, sizeof err))
            log_warn("action", "the page cannot read the alert state: %s", err);
    }
    sb_free(&text);
    sb_puts(page, "<ul>\n");
    size_t shown = 0;
    for (size_t i = 0; i < rows.len; i++) {
        const alert_state_row *row = &rows.items[i];
        if (a->token.fingerprints_len && !names_fingerprint(&a->token, row->fingerprint))
            continue;
        shown++;
        char since[64];
        tz_format(a->conf->zone, (int64_t)row->starts_at, "%Y-%m-%d %H:%M", since, sizeof since);
        sb_puts(page, "<li><b>");
        html_escape(page, row->alertname);
        sb_puts(page, "</b> <code>");
        html_escape(page, row->labels_json);
        sb_printf(page, "</code><br><span class=\"state\">%s · %s %s",
                  strcmp(row->status, "firing") == 0 ? "告警中 firing" : "已恢复 resolved",
                  "since", since);
        if (row->acknowledged_by) {
            sb_puts(page, " · 已认领 acknowledged by ");
            html_escape(page, row->acknowledged_by);
        }
        sb_puts(page, "</span></li>\n");
    }
    if (!shown)
        sb_puts(page, "<li>herald 不再记得这些告警 · herald no longer knows these alerts</li>\n");
    sb_puts(page, "</ul>\n");
    alert_state_rows_free(&rows);
    matchers_free(&set);
}

static enum MHD_Result show_form(action_request *a, unsigned status, const char *problem)
{
    char title[96];
    title_of(&a->token, title, sizeof title);
    strbuf page = {0};
    action_page_begin(&page, title);
    list_alerts(a, &page);
    if (problem) {
        sb_puts(&page, "<p class=\"refused\">");
        html_escape(&page, problem);
        sb_puts(&page, "</p>\n");
    }
    char until[64];
    tz_format(a->conf->zone, a->token.expires_ms / 1000, "%Y-%m-%d %H:%M", until, sizeof until);
    sb_printf(&page, "<form method=\"post\"><label>你的名字 · Your name<input name=\"name\" "
                     "maxlength=\"%d\" required></label><label>备注 · Comment (optional)"
                     "<input name=\"comment\" maxlength=\"%d\"></label><button type=\"submit\">"
                     "确认 · Confirm</button></form>\n<p class=\"state\">链接有效至 · link valid "
                     "until %s</p>\n",
              NAME_MAX_BYTES, COMMENT_MAX_BYTES, until);
    return send_action_page(a->conn, status, &page);
}

static enum MHD_Result refuse(action_request *a, const char *title, const char *why,
                              const char *log_reason)
{
    log_warn("action", "refused a link from %s: %s", a->client, log_reason);
    metrics_count(METRIC_REQUESTS_REJECTED);
    return send_action_refusal(a->conn, MHD_HTTP_FORBIDDEN, title, why);
}

static enum MHD_Result refuse_used(action_request *a, const char *who, int64_t used_ms)
{
    char when[64], why[256], logged[128];
    tz_format(a->conf->zone, used_ms / 1000, "%Y-%m-%d %H:%M", when, sizeof when);
    snprintf(why, sizeof why, "此链接已被 %s 于 %s 使用 · This link was already used by %s at %s",
             who ? who : "?", when, who ? who : "?", when);
    snprintf(logged, sizeof logged, "already used (nonce %.8s…)", a->token.nonce);
    return refuse(a, "链接已使用 · Link already used", why, logged);
}

/* GET: the form, or the refusal of a link used already. */
static enum MHD_Result show(action_request *a)
{
    char err[512], *who = NULL;
    int64_t used_ms = 0;
    int used = store_action_used(a->reader, a->token.nonce, &who, &used_ms, err, sizeof err);
    if (used < 0)
        log_warn("action", "cannot tell whether a link was used: %s", err);
    enum MHD_Result rc = used == 1 ? refuse_used(a, who, used_ms)
                                   : show_form(a, MHD_HTTP_OK, NULL);
    free(who);
    return rc;
}

static enum MHD_Result confirm(action_request *a, const char *body, size_t len)
{
    char *who = clean_text(form_value(body, len, "name"), NAME_MAX_BYTES);
    char *comment_raw = form_value(body, len, "comment");
    char *comment = comment_raw && *comment_raw ? clean_text(comment_raw, COMMENT_MAX_BYTES)
                                                : (free(comment_raw), NULL);
    if (!who) {
        free(comment);
        return show_form(a, MHD_HTTP_BAD_REQUEST,
                         "请填写名字（最多 64 字节） · Please give your name (at most 64 bytes)");
    }
    a->who = who;
    a->comment = comment;
    char err[512] = "", *prior = NULL;
    int64_t prior_ms = 0;
    int used = store_action_use(a->reader, a->token.nonce, who, a->now_ms, a->token.expires_ms,
                                &prior, &prior_ms, err, sizeof err);
    enum MHD_Result rc;
    if (used < 0) {
        log_error("action", "cannot record the use of a link: %s", err);
        rc = send_action_refusal(a->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "暂时无法处理 · Try again",
                                 "herald 的存储不可用 · herald's store is unavailable");
    } else if (used == 1) {
        rc = refuse_used(a, prior, prior_ms);
    } else {
        strbuf outcome = {0};
        int failed = a->token.kind == ACTION_SILENCE ? action_silence(a, &outcome, err, sizeof err)
                                                     : action_acknowledge(a, &outcome, err,
                                                                          sizeof err);
        if (failed) {
            char ignored[256];
            store_action_unuse(a->reader, a->token.nonce, ignored, sizeof ignored);
            log_warn("action", "%s by %s failed: %s", action_kind_name(a->token.kind), who, err);
            sb_free(&outcome);
            rc = send_action_refusal(a->conn, failed > 0 ? MHD_HTTP_CONFLICT
                                              : a->token.kind == ACTION_SILENCE
                                                  ? MHD_HTTP_BAD_GATEWAY
                                                  : MHD_HTTP_SERVICE_UNAVAILABLE,
                                     "没有完成 · Not done", err);
        } else {
            char title[96];
            title_of(&a->token, title, sizeof title);
            strbuf page = {0};
            action_page_begin(&page, title);
            sb_append(&page, outcome.data, outcome.len);
            sb_free(&outcome);
            rc = send_action_page(a->conn, MHD_HTTP_OK, &page);
        }
    }
    free(prior);
    free(who);
    free(comment);
    return rc;
}

enum MHD_Result answer_action(http_server *srv, struct MHD_Connection *conn, request_ctx *ctx,
                              const char *url, const char *method)
{
    action_request a = {.srv = srv, .conn = conn, .now_ms = wall_ms()};
    client_address(conn, "unknown", a.client);
    char err[512];
    a.reader = store_reader_open(&srv->store, err, sizeof err);
    action_keyring ring = {0};
    if (!a.reader || store_action_keys(a.reader, a.now_ms, &ring, err, sizeof err)) {
        log_error("action", "the action page cannot read the store: %s", err);
        if (a.reader)
            store_reader_close(a.reader);
        return send_action_refusal(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "暂时无法处理 · Try again",
                                   "herald 的存储不可用 · herald's store is unavailable");
    }
    action_verdict verdict =
        action_token_verify(url + strlen(ACTION_PREFIX), &ring, a.now_ms, &a.token);
    action_keyring_free(&ring);
    generation *g = generation_acquire();
    a.conf = &g->conf;
    enum MHD_Result rc;
    if (verdict == ACTION_TAMPERED) {
        rc = refuse(&a, "链接无效 · Invalid link",
                    "此链接已被改动或不是 herald 签发的 · This link was altered or not made by "
                    "herald",
                    "tampered (the signature does not match)");
    } else if (verdict == ACTION_EXPIRED) {
        char when[64], why[256], logged[128];
        tz_format(a.conf->zone, a.token.expires_ms / 1000, "%Y-%m-%d %H:%M", when, sizeof when);
        snprintf(why, sizeof why, "此链接已于 %s 过期 · This link expired at %s", when, when);
        snprintf(logged, sizeof logged, "expired (nonce %.8s…)", a.token.nonce);
        rc = refuse(&a, "链接已过期 · Link expired", why, logged);
    } else if (strcmp(method, MHD_HTTP_METHOD_POST) == 0 && ctx->body.truncated) {
        rc = send_action_refusal(conn, MHD_HTTP_CONTENT_TOO_LARGE, "太长 · Too long",
                                 "表单太长 · The form is too long");
    } else if (strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
        rc = confirm(&a, sb_str(&ctx->body), ctx->body.len);
    } else {
        rc = show(&a);
    }
    action_token_free(&a.token);
    generation_unref(g);
    store_reader_close(a.reader);
    return rc;
}
