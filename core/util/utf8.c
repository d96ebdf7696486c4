#include "util/utf8.h"

#include <stdint.h>
#include <string.h>

size_t utf8_prefix(const char *text, size_t len, size_t max_bytes)
{
    if (len <= max_bytes)
        return len;
    /* A cut is clean when the byte after it starts a character, i.e. is not
     * a continuation byte (10xxxxxx). */
    size_t cut = max_bytes;
    while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

int utf8_quote_len(const char *text, size_t max_bytes)
{
    return (int)utf8_prefix(text, strnlen(text, max_bytes + 1), max_bytes);
}

size_t utf8_valid_length(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        /* Bodies are mostly ASCII: eight bytes at a time while they are.
         * Byte by byte, this check was a twentieth of parsing a request. */
        uint64_t eight;
        if (len - i >= sizeof eight) {
            memcpy(&eight, s + i, sizeof eight);
            if ((eight & 0x8080808080808080ULL) == 0) {
                i += sizeof eight;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* continuation bytes to follow, and the range of the first one */
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            n = 1;
        else if (c == 0xE0)
            n = 2, lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            n = 2, hi = 0x9F; /* no surrogates */
        else if (c >= 0xE1 && c <= 0xEF)
            n = 2;
        else if (c == 0xF0)
            n = 3, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3)
            n = 3;
        else if (c == 0xF4)
            n = 3, hi = 0x8F; /* nothing past U+10FFFF */
        else
            return i;
        if (len - i < n + 1 || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += n + 1;
    }
    return len;
}
