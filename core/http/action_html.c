/* The action page's HTML and the words it and the confirmations use: one
 * small page that reads on a phone, no script, no outside resource. Every answer forbids caching, framing and
 * the Referer (the link is the authorization: a page opened from it must
 * not hand it to Alertmanager's link or anywhere else). */
#include "http/server_internal.h"

#include <stdio.h>
#include <string.h>

void html_escape(strbuf *out, const char *text)
{
    for (; text && *text; text++) {
        switch (*text) {
        case '<': sb_puts(out, "&lt;"); break;
        case '>': sb_puts(out, "&gt;"); break;
        case '&': sb_puts(out, "&amp;"); break;
        case '"': sb_puts(out, "&quot;"); break;
        case '\'': sb_puts(out, "&#39;"); break;
        default: sb_putc(out, *text);
        }
    }
}

void action_page_begin(strbuf *out, const char *title)
{
    sb_puts(out, "<!doctype html>\n<html lang=\"zh\"><head><meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                 "<title>herald: ");
    html_escape(out, title);
    sb_puts(out, "</title><style>body{font-family:sans-serif;max-width:36em;margin:1em auto;"
                 "padding:0 1em;line-height:1.5}li{margin:.4em 0}label{display:block;"
                 "margin:.8em 0}input{width:100%;box-sizing:border-box;font-size:1.1em;"
                 "padding:.4em}button{font-size:1.2em;padding:.5em 1.5em;margin-top:.5em}"
                 ".refused{color:#a00}.state{color:#555}</style></head><body><h1>");
    html_escape(out, title);
    sb_puts(out, "</h1>\n");
}

enum MHD_Result send_action_page(struct MHD_Connection *conn, unsigned status, strbuf *page)
{
    sb_puts(page, "</body></html>\n");
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        page->len, (void *)sb_str(page), MHD_RESPMEM_MUST_COPY);
    sb_free(page);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                            "frame-ancestors 'none'");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result send_action_refusal(struct MHD_Connection *conn, unsigned status,
                                    const char *title, const char *why)
{
    strbuf page = {0};
    action_page_begin(&page, title);
    sb_puts(&page, "<p class=\"refused\">");
    html_escape(&page, why);
    sb_puts(&page, "</p>\n");
    return send_action_page(conn, status, &page);
}

void action_duration_text(int64_t ms, int english, char *out, size_t cap)
{
    int64_t minutes = ms / 60000;
    if (minutes % (24 * 60) == 0)
        snprintf(out, cap, english ? "%lldd" : "%lld 天", (long long)(minutes / (24 * 60)));
    else if (minutes % 60 == 0)
        snprintf(out, cap, english ? "%lldh" : "%lld 小时", (long long)(minutes / 60));
    else
        snprintf(out, cap, english ? "%lldm" : "%lld 分钟", (long long)minutes);
}

void action_matchers_text(const action_token *t, strbuf *out)
{
    for (size_t i = 0; i < t->matchers.len; i++) {
        sb_printf(out, "%s%s=\"", i ? ", " : "", t->matchers.items[i].name);
        for (const char *v = t->matchers.items[i].value; *v; v++) {
            if (*v == '"' || *v == '\\')
                sb_putc(out, '\\');
            sb_putc(out, *v);
        }
        sb_putc(out, '"');
    }
}
