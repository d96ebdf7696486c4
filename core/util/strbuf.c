#include "util/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(void)
{
    fputs("herald: out of memory\n", stderr);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

char *xstrndup(const char *text, size_t len)
{
    char *p = xmalloc(len + 1);
    memcpy(p, text, len);
    p[len] = '\0';
    return p;
}

char *xstrdup(const char *text) { return xstrndup(text, strlen(text)); }

size_t xstrdups_in_block(const char *const *texts, size_t n, char **copies)
{
    size_t size = 0;
    for (size_t i = 0; i < n; i++)
        size += strlen(texts[i]) + 1;
    char *at = xmalloc(size);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(texts[i]) + 1;
        copies[i] = memcpy(at, texts[i], len);
        at += len;
    }
    return size;
}

/* How many of `want` more bytes max lets in; fewer marks sb truncated. */
static size_t sb_room(strbuf *sb, size_t want)
{
    if (!sb->max || want <= sb->max - sb->len)
        return want;
    sb->truncated = 1;
    return sb->max - sb->len;
}

void sb_reserve(strbuf *sb, size_t extra)
{
    if (sb->max && extra > sb->max - sb->len)
        extra = sb->max - sb->len;
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap *= 2;
    if (sb->max && cap > sb->max + 1)
        cap = sb->max + 1;
    sb->data = xrealloc(sb->data, cap);
    sb->cap = cap;
}

void sb_append(strbuf *sb, const void *data, size_t len)
{
    /* Most appends fit the room there is, in a buffer without a limit:
     * JSON and messages are built of many short pieces. */
    if (!sb->max && len < sb->cap - sb->len) {
        memcpy(sb->data + sb->len, data, len);
        sb->len += len;
        sb->data[sb->len] = '\0';
        return;
    }
    len = sb_room(sb, len);
    sb_reserve(sb, len);
    if (len)
        memcpy(sb->data + sb->len, data, len);
    sb->len += len;
    sb->data[sb->len] = '\0';
}

void sb_puts(strbuf *sb, const char *text) { sb_append(sb, text, strlen(text)); }

void sb_putc(strbuf *sb, char c)
{
    /* sb_append's own fast path, without the call and the copy of one
     * byte: JSON puts a byte between most of its pieces, and going
     * through sb_append cost the ingest about 1 µs per request */
    if (!sb->max && sb->len + 1 < sb->cap) {
        sb->data[sb->len++] = c;
        sb->data[sb->len] = '\0';
        return;
    }
    sb_append(sb, &c, 1);
}

void sb_vprintf(strbuf *sb, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    /* Written straight into the room there is, formatting once when it
     * fits, as it mostly does; measured first only in a buffer with a
     * limit, where a text too long must not touch what is there. */
    size_t room = sb->max ? 0 : sb->cap - sb->len;
    int n = vsnprintf(room ? sb->data + sb->len : NULL, room, fmt, copy);
    va_end(copy);
    if (n <= 0) {
        if (room)
            sb->data[sb->len] = '\0'; /* whatever a failed format left */
        return;
    }
    if ((size_t)n < room) {
        sb->len += (size_t)n;
        return;
    }
    size_t fits = sb_room(sb, (size_t)n);
    sb_reserve(sb, fits);
    /* vsnprintf cuts at fits and still ends the text with a NUL. */
    vsnprintf(sb->data + sb->len, fits + 1, fmt, ap);
    sb->len += fits;
}

void sb_printf(strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

/* What each byte becomes in a JSON string: 0 copies it, 'u' gives \u00XX,
 * any other letter gives a backslash and that letter. */
static const char json_escape[256] = {
    ['\0'] = 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    ['"'] = '"', ['\\'] = '\\',
};

void sb_json_string(strbuf *sb, const char *text, size_t len)
{
    /* Most bytes are copied verbatim: reserve once, copy runs. */
    sb_reserve(sb, len + 2);
    sb_putc(sb, '"');
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    for (size_t i = 0; i < len; i++) {
        char esc = json_escape[(unsigned char)text[i]];
        if (!esc)
            continue;
        sb_append(sb, text + run, i - run);
        if (esc == 'u')
            sb_printf(sb, "\\u%04x", (unsigned char)text[i]);
        else
            sb_append(sb, (const char[]){'\\', esc}, 2);
        run = i + 1;
    }
    sb_append(sb, text + run, len - run);
    sb_putc(sb, '"');
}

int sb_read_file(strbuf *sb, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sb_append(sb, chunk, n);
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        errno = saved ? saved : EIO;
        return -1;
    }
    return 0;
}

const char *sb_str(const strbuf *sb) { return sb->data ? sb->data : ""; }

void sb_reset(strbuf *sb)
{
    sb->len = 0;
    sb->truncated = 0;
    if (sb->data)
        sb->data[0] = '\0';
}

char *sb_take(strbuf *sb)
{
    char *p = sb->data ? sb->data : xstrdup("");
    /* A taken string usually outlives its building (a queued message can
     * wait for minutes): give the doubling's slack back. */
    if (sb->cap > sb->len + 1 + 64)
        p = xrealloc(p, sb->len + 1);
    sb->data = NULL;
    sb->len = sb->cap = 0;
    sb->truncated = 0;
    return p;
}

void sb_free(strbuf *sb)
{
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
    sb->truncated = 0;
}

void strings_free(char **items, size_t len)
{
    for (size_t i = 0; i < len; i++)
        free(items[i]);
    free(items);
}

int strings_contain(char *const *items, size_t len, const char *value)
{
    for (size_t i = 0; i < len; i++)
        if (strcmp(items[i], value) == 0)
            return 1;
    return 0;
}
