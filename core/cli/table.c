#include "cli/table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, one column */

/* Decodes the character at text (well-formed or not: a stray byte counts
 * as one character); returns its length and sets *cp. */
static size_t next_char(const unsigned char *text, uint32_t *cp)
{
    size_t len = text[0] < 0xc0 ? 1 : text[0] < 0xe0 ? 2 : text[0] < 0xf0 ? 3 : 4;
    for (size_t i = 1; i < len; i++)
        if ((text[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
    static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    *cp = text[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++)
        *cp = (*cp << 6) | (text[i] & 0x3f);
    return len;
}

/* East Asian wide and fullwidth characters (Unicode's UAX #11, the
 * blocks alert names and messages use), which terminals draw two columns
 * wide. */
static size_t char_width(uint32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0x303e) ||
                   (cp >= 0x3041 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
                   (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
                   (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) ||
                   (cp >= 0x1f300 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x3fffd)
               ? 2
               : 1;
}

size_t text_width(const char *text)
{
    size_t width = 0;
    uint32_t cp;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        p += next_char(p, &cp);
        width += char_width(cp);
    }
    return width;
}

char *text_cut(const char *text, size_t max_width)
{
    size_t room = max_width && text_width(text) > max_width ? max_width - 1 : SIZE_MAX;
    strbuf out = STRBUF_INIT;
    size_t width = 0;
    uint32_t cp;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t len = next_char(p, &cp);
        size_t w = char_width(cp);
        if (width + w > room)
            break;
        if (cp < 0x20 || cp == 0x7f)
            sb_putc(&out, ' ');
        else
            sb_append(&out, p, len);
        width += w;
        p += len;
    }
    if (room != SIZE_MAX)
        sb_puts(&out, ELLIPSIS);
    return sb_take(&out);
}

void table_add_row(table *t, const char *const *cells)
{
    size_t n = t->columns_len;
    t->cells = xrealloc(t->cells, (t->rows_len + 1) * n * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        t->cells[t->rows_len * n + i] =
            text_cut(cells[i] ? cells[i] : "", t->columns[i].max_width);
    t->rows_len++;
}

static void put_cell(strbuf *out, const char *text, size_t width, int align_right, int last)
{
    size_t pad = width - text_width(text);
    if (align_right)
        for (size_t i = 0; i < pad; i++)
            sb_putc(out, ' ');
    sb_puts(out, text);
    if (!align_right && !last)
        for (size_t i = 0; i < pad; i++)
            sb_putc(out, ' ');
}

static void put_row(const table *t, const char *const *cells, const size_t *widths, strbuf *out)
{
    for (size_t i = 0; i < t->columns_len; i++) {
        if (i)
            sb_puts(out, "  ");
        put_cell(out, cells[i], widths[i], t->columns[i].align_right, i + 1 == t->columns_len);
    }
    /* A last column left empty would leave the padding before it. */
    while (out->len && out->data[out->len - 1] == ' ')
        out->data[--out->len] = '\0';
    sb_putc(out, '\n');
}

void table_print(const table *t, strbuf *out)
{
    size_t n = t->columns_len;
    size_t *widths = xcalloc(n, sizeof *widths);
    const char **headers = xcalloc(n, sizeof *headers);
    for (size_t i = 0; i < n; i++) {
        headers[i] = t->columns[i].header;
        widths[i] = text_width(headers[i]);
        for (size_t r = 0; r < t->rows_len; r++) {
            size_t w = text_width(t->cells[r * n + i]);
            if (w > widths[i])
                widths[i] = w;
        }
    }
    put_row(t, headers, widths, out);
    for (size_t r = 0; r < t->rows_len; r++)
        put_row(t, (const char *const *)&t->cells[r * n], widths, out);
    free(headers);
    free(widths);
}

void table_free(table *t)
{
    strings_free(t->cells, t->rows_len * t->columns_len);
    t->cells = NULL;
    t->rows_len = 0;
}
