/* Header fields of the email channel's messages: folded, with RFC 2047
 * encoded words for anything beyond plain ASCII. */
#include "header.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

/* RFC 5322 2.1.1 asks for lines within 78 characters; 76, the RFC 2047
 * limit for lines holding encoded words, suits both kinds of line. */
#define HEADER_FOLD_AT 76
/* RFC 2047 2: a line holding encoded words is at most 76 characters, an
 * encoded word at most 75. */
#define ENCODED_LINE_MAX 76
#define ENCODED_WORD_MAX 75
#define ENCODED_WORD_OVERHEAD 12 /* "=?UTF-8?B?" + "?=" */

void header_start(header_writer *w, const char *name)
{
    w->host->buf_printf(w->buf, "%s:", name);
    w->line_len = strlen(name) + 1;
    w->fresh = 1;
}

/* Appends " token", on a new continuation line when the current one would
 * grow past `limit`. */
static void header_token(header_writer *w, const char *token, size_t len, size_t limit)
{
    if (!w->fresh && w->line_len + 1 + len > limit) {
        w->host->buf_append(w->buf, "\r\n", 2);
        w->line_len = 0;
    }
    w->host->buf_append(w->buf, " ", 1);
    w->host->buf_append(w->buf, token, len);
    w->line_len += 1 + len;
    w->fresh = 0;
}

void header_end(header_writer *w) { w->host->buf_append(w->buf, "\r\n", 2); }

/* Writes `text` as RFC 2047 encoded words, cut at character boundaries.
 * Each word is sized to what is left of its line, so that no line holding
 * encoded words exceeds 76 characters. */
static void header_encoded_words(header_writer *w, const char *text, size_t len)
{
    const herald_host *host = w->host;
    size_t done = 0;
    while (done < len) {
        /* The widest word the current line still takes; a new line when that
         * cannot hold one 4-byte character (8 base64 characters). */
        size_t room = w->fresh || w->line_len + 1 < ENCODED_LINE_MAX
                          ? ENCODED_LINE_MAX - w->line_len - 1
                          : 0;
        if (room > ENCODED_WORD_MAX)
            room = ENCODED_WORD_MAX;
        if (room < ENCODED_WORD_OVERHEAD + 8 && !w->fresh) {
            host->buf_append(w->buf, "\r\n", 2);
            w->line_len = 0;
            room = ENCODED_WORD_MAX;
        }
        size_t raw_max = (room - ENCODED_WORD_OVERHEAD) / 4 * 3;
        size_t take = host->utf8_prefix(text + done, len - done, raw_max);
        if (take == 0) /* not UTF-8 at all: carry the byte rather than stall */
            take = 1;
        char word[ENCODED_WORD_MAX + 1];
        memcpy(word, "=?UTF-8?B?", 10);
        size_t b64 = host->base64_encode(text + done, take, word + 10, sizeof word - 10);
        memcpy(word + 10 + b64, "?=", 3);
        header_token(w, word, 10 + b64 + 2, SIZE_MAX);
        done += take;
    }
}

static int is_plain_ascii(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c >= 0x7f)
            return 0;
    }
    return 1;
}

/* Unstructured text (the subject): words as they are when they are plain
 * ASCII and short enough to fold between, else encoded words. "=?" would be
 * read as an encoded word, so it forces encoding too. */
void header_text(header_writer *w, const char *text, size_t len)
{
    int encode = !is_plain_ascii(text, len);
    for (size_t i = 0; i + 1 < len && !encode; i++)
        if (text[i] == '=' && text[i + 1] == '?')
            encode = 1;
    size_t word_start = 0;
    for (size_t i = 0; i <= len && !encode; i++)
        if (i == len || text[i] == ' ') {
            if (i - word_start > HEADER_FOLD_AT - 10)
                encode = 1;
            word_start = i + 1;
        }
    if (encode) {
        header_encoded_words(w, text, len);
        return;
    }
    word_start = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || text[i] == ' ') {
            header_token(w, text + word_start, i - word_start, HEADER_FOLD_AT);
            word_start = i + 1;
        }
}

/* atext of RFC 5322 3.2.3, the characters a display name may use unquoted. */
static int is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static void header_address(header_writer *w, const address *a, int comma)
{
    const herald_host *host = w->host;
    herald_buf *token = host->buf_new();
    if (a->display) {
        size_t len = strlen(a->display);
        if (!is_plain_ascii(a->display, len) || strstr(a->display, "=?")) {
            header_encoded_words(w, a->display, len);
        } else {
            int atoms = 1;
            for (size_t i = 0; i < len; i++)
                if (!is_atext((unsigned char)a->display[i]) && a->display[i] != ' ')
                    atoms = 0;
            if (atoms && len && a->display[0] != ' ' && a->display[len - 1] != ' ') {
                host->buf_append(token, a->display, len);
            } else {
                host->buf_append(token, "\"", 1);
                for (size_t i = 0; i < len; i++) {
                    if (a->display[i] == '"' || a->display[i] == '\\')
                        host->buf_append(token, "\\", 1);
                    host->buf_append(token, a->display + i, 1);
                }
                host->buf_append(token, "\"", 1);
            }
            header_token(w, host->buf_data(token), host->buf_len(token), HEADER_FOLD_AT);
            host->buf_free(token);
            token = host->buf_new();
        }
        host->buf_printf(token, "<%s>", a->addr);
    } else {
        host->buf_printf(token, "%s", a->addr);
    }
    if (comma)
        host->buf_append(token, ",", 1);
    header_token(w, host->buf_data(token), host->buf_len(token), HEADER_FOLD_AT);
    host->buf_free(token);
}

void header_addresses(header_writer *w, const char *name, const address *list,
                             size_t len)
{
    header_start(w, name);
    for (size_t i = 0; i < len; i++)
        header_address(w, &list[i], i + 1 < len);
    header_end(w);
}

/* "Tue, 14 Nov 2023 22:13:20 +0000" (RFC 5322 3.3), in UTC and without
 * strftime, whose names follow the locale. */
void append_date(const herald_host *host, herald_buf *buf, int64_t now_ms)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t seconds = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&seconds, &tm)) {
        seconds = 0;
        gmtime_r(&seconds, &tm);
    }
    host->buf_printf(buf, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                     tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
}
