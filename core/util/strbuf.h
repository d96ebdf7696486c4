/* Growable NUL-terminated byte buffer. Allocation failure aborts: herald
 * treats out-of-memory as fatal outside the Lua sandbox.
 *
 * A buffer filled from the network sets `max`, so that a peer cannot make
 * herald hold more than it will read: an append that would pass it keeps
 * what fits, later ones are dropped, and `truncated` says so. */
#ifndef HERALD_STRBUF_H
#define HERALD_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "herald/plugin.h"

typedef struct strbuf {
    char *data;    /* always NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
    size_t max;    /* the most len may reach; 0: unlimited. Set while empty. */
    int truncated; /* an append was cut or dropped to stay within max */
} strbuf;

#define STRBUF_INIT {NULL, 0, 0, 0, 0}
/* An empty buffer that never holds more than max bytes. */
#define STRBUF_MAX(max) {NULL, 0, 0, (max), 0}

/* Room for extra more bytes (within max) without growing again. */
void sb_reserve(strbuf *sb, size_t extra);
void sb_append(strbuf *sb, const void *data, size_t len);
void sb_puts(strbuf *sb, const char *text);
void sb_putc(strbuf *sb, char c);
void sb_printf(strbuf *sb, const char *fmt, ...) HERALD_PRINTF(2, 3);
void sb_vprintf(strbuf *sb, const char *fmt, va_list ap);
/* Appends text as a quoted JSON string (UTF-8 kept, controls escaped). */
void sb_json_string(strbuf *sb, const char *text, size_t len);
/* Appends a whole file. Returns 0, or -1 with errno set. */
int sb_read_file(strbuf *sb, const char *path);
const char *sb_str(const strbuf *sb); /* "" when empty */
/* Empties sb (and clears truncated); max stays. */
void sb_reset(strbuf *sb);
/* Hands the buffer to the caller (never NULL) and leaves sb empty; max
 * stays. */
char *sb_take(strbuf *sb);
/* Frees the contents and leaves sb empty; max stays. */
void sb_free(strbuf *sb);

/* Aborting allocation helpers. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *text);
char *xstrndup(const char *text, size_t len);
/* Copies the n texts, one after another, into one block: copies[i] is the
 * copy of texts[i], and copies[0] the block, freed whole. One allocation
 * for strings that live and die together. Returns the block's size. */
size_t xstrdups_in_block(const char *const *texts, size_t n, char **copies);
/* Whether one of the strings equals value. */
int strings_contain(char *const *items, size_t len, const char *value);
/* Frees each string, then the array. */
void strings_free(char **items, size_t len);

#endif
