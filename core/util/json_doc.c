/* A request body's JSON, read into a tree of cJSON nodes that live in
 * blocks of the document's own.
 *
 * Why not cJSON's parser: it was a seventh of an ingest thread's time
 * (perf, 64 connections). It asks the allocator for each node and each
 * string (one process-wide allocator, so a document's blocks had to be
 * chosen through a thread-local), it records errors in a process-wide
 * variable (so every parse on every thread took one lock), and it tries
 * "null", "false" and "true" before each value. With this reader a
 * 5-alert request takes 6% fewer instructions to ingest
 * (tests/bench/pipeline_cpu under cachegrind: 695 to 655 thousand).
 *
 * This reader makes the same tree from the same text and
 * refuses the same texts at the same bytes; tests/unit/util/test_json.c
 * and tests/fuzz/fuzz_json.c hold it to cJSON's own answers. What cJSON
 * accepts beyond JSON is accepted here too: any byte up to 0x20 counts as
 * whitespace, a UTF-8 byte order mark may lead, a number is what strtod
 * reads of the characters among "0-9+-.eE" that follow, and a \u escape
 * whose digits are not hex stands for U+0000 (which ingest refuses). */
#include "util/json.h"

#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* cJSON's CJSON_NESTING_LIMIT: arrays and objects this deep are refused. */
#define NESTING_LIMIT 1000

struct json_block {
    json_block *next;
    size_t used, cap;
    max_align_t data[];
};

/* Each thread keeps its last document's first block for the next one: a
 * fresh block each time (a large request to malloc) made malloc first
 * gather every small free chunk it had (malloc_consolidate), 3% of an
 * ingest thread's time. Blocks added to a larger tree are freed. */
#define KEPT_BLOCK_CAP (64 * 1024)
static pthread_key_t kept_block;
static pthread_once_t kept_block_once = PTHREAD_ONCE_INIT;

static void make_kept_block_key(void)
{
    if (pthread_key_create(&kept_block, free) != 0)
        abort();
}

static json_block *first_block(void)
{
    pthread_once(&kept_block_once, make_kept_block_key);
    json_block *b = pthread_getspecific(kept_block);
    if (b) {
        pthread_setspecific(kept_block, NULL);
    } else {
        b = xmalloc(sizeof *b + KEPT_BLOCK_CAP);
        b->cap = KEPT_BLOCK_CAP;
    }
    b->next = NULL;
    b->used = 0;
    return b;
}

void json_doc_free(json_doc *doc)
{
    while (doc->blocks) {
        json_block *b = doc->blocks;
        doc->blocks = b->next;
        /* the first block is the last in the list */
        if (!b->next && b->cap == KEPT_BLOCK_CAP && !pthread_getspecific(kept_block))
            pthread_setspecific(kept_block, b);
        else
            free(b);
    }
    doc->root = NULL;
}

typedef struct reader {
    const unsigned char *text;
    size_t len, at;
    unsigned depth;
    json_doc *doc;
} reader;

/* size bytes aligned to align from the document's blocks: a pointer bump,
 * where a malloc and a free per node and string was a tenth of an ingest
 * thread's time. */
static void *take(reader *r, size_t size, size_t align)
{
    json_block *b = r->doc->blocks;
    size_t start = (b->used + align - 1) & ~(align - 1);
    if (start > b->cap || b->cap - start < size) {
        size_t cap = 2 * b->cap > size ? 2 * b->cap : size;
        json_block *more = xmalloc(sizeof *more + cap);
        *more = (json_block){b, 0, cap};
        r->doc->blocks = b = more;
        start = 0;
    }
    b->used = start + size;
    return (char *)b->data + start;
}

static cJSON *new_node(reader *r)
{
    cJSON *node = take(r, sizeof *node, alignof(cJSON));
    memset(node, 0, sizeof *node);
    return node;
}

static bool has(const reader *r, size_t n) { return r->len - r->at >= n; }

static void skip_whitespace(reader *r)
{
    while (r->at < r->len && r->text[r->at] <= 32)
        r->at++;
}

static bool read_value(reader *r, cJSON *node);

static unsigned hex4(const unsigned char *digits)
{
    unsigned value = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = digits[i];
        unsigned digit = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                : 16;
        if (digit == 16)
            return 0; /* as cJSON reads it */
        value = value << 4 | digit;
    }
    return value;
}

/* The \u escape at in (up to end) written to *out as UTF-8; returns the
 * escape's length, 0 when it is not one. */
static size_t utf16_escape(const unsigned char *in, const unsigned char *end, unsigned char **out)
{
    if (end - in < 6)
        return 0;
    unsigned first = hex4(in + 2), codepoint = first;
    size_t length = 6;
    if (first >= 0xDC00 && first <= 0xDFFF)
        return 0; /* a low surrogate alone */
    if (first >= 0xD800 && first <= 0xDBFF) {
        const unsigned char *second = in + 6;
        if (end - second < 6 || second[0] != '\\' || second[1] != 'u')
            return 0;
        unsigned low = hex4(second + 2);
        if (low < 0xDC00 || low > 0xDFFF)
            return 0;
        codepoint = 0x10000 + ((first & 0x3FF) << 10 | (low & 0x3FF));
        length = 12;
    }
    unsigned char *o = *out;
    if (codepoint < 0x80) {
        *o++ = (unsigned char)codepoint;
    } else if (codepoint < 0x800) {
        *o++ = (unsigned char)(0xC0 | codepoint >> 6);
        *o++ = (unsigned char)(0x80 | (codepoint & 0x3F));
    } else if (codepoint < 0x10000) {
        *o++ = (unsigned char)(0xE0 | codepoint >> 12);
        *o++ = (unsigned char)(0x80 | (codepoint >> 6 & 0x3F));
        *o++ = (unsigned char)(0x80 | (codepoint & 0x3F));
    } else {
        *o++ = (unsigned char)(0xF0 | codepoint >> 18);
        *o++ = (unsigned char)(0x80 | (codepoint >> 12 & 0x3F));
        *o++ = (unsigned char)(0x80 | (codepoint >> 6 & 0x3F));
        *o++ = (unsigned char)(0x80 | (codepoint & 0x3F));
    }
    *out = o;
    return length;
}

/* The string at r->at into *out. On failure r->at is where cJSON
 * reports it: after the opening quote, or at the escape it could not
 * read. */
static bool read_string(reader *r, char **out)
{
    if (r->at >= r->len || r->text[r->at] != '"') {
        r->at++;
        return false;
    }
    const unsigned char *open = r->text + r->at, *end = open + 1;
    const unsigned char *limit = r->text + r->len;
    /* Most strings hold no escape: found with memchr, copied whole. */
    const unsigned char *quote = memchr(end, '"', (size_t)(limit - end));
    if (quote && !memchr(end, '\\', (size_t)(quote - end))) {
        size_t n = (size_t)(quote - end);
        char *copy = take(r, n + 1, 1);
        memcpy(copy, end, n);
        copy[n] = '\0';
        *out = copy;
        r->at = (size_t)(quote - r->text) + 1;
        return true;
    }
    size_t escapes = 0;
    while (end < limit && *end != '"') {
        if (*end == '\\') {
            if (end + 1 >= limit)
                break;
            escapes++;
            end++;
        }
        end++;
    }
    if (end >= limit || *end != '"') {
        r->at++;
        return false;
    }
    unsigned char *copy = take(r, (size_t)(end - open) - escapes + 1, 1), *o = copy;
    for (const unsigned char *in = open + 1; in < end;) {
        const unsigned char *backslash = memchr(in, '\\', (size_t)(end - in));
        size_t plain = (size_t)((backslash ? backslash : end) - in);
        memcpy(o, in, plain);
        o += plain;
        in += plain;
        if (!backslash)
            break;
        size_t length = 2;
        switch (in[1]) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case '"':
        case '\\':
        case '/': *o++ = in[1]; break;
        case 'u':
            if ((length = utf16_escape(in, end, &o)))
                break;
            /* fall through */
        default:
            r->at = (size_t)(in - r->text);
            return false;
        }
        in += length;
    }
    *o = '\0';
    *out = (char *)copy;
    r->at = (size_t)(end - r->text) + 1;
    return true;
}

static bool read_number(reader *r, cJSON *node)
{
    size_t n = 0;
    while (r->at + n < r->len && r->text[r->at + n] && strchr("0123456789+-eE.", r->text[r->at + n]))
        n++;
    /* strtod reads a string: the characters are copied to end one */
    char small[64], *chars = n < sizeof small ? small : xmalloc(n + 1);
    memcpy(chars, r->text + r->at, n);
    chars[n] = '\0';
    char *stop;
    double number = strtod(chars, &stop);
    size_t used = (size_t)(stop - chars);
    if (chars != small)
        free(chars);
    if (used == 0)
        return false;
    node->valuedouble = number;
    node->valueint = number >= INT_MAX ? INT_MAX : number <= (double)INT_MIN ? INT_MIN : (int)number;
    node->type = cJSON_Number;
    r->at += used;
    return true;
}

/* The members or items of the array or object at r->at (its opening
 * bracket), as cJSON links them: next and prev, and the first's prev is
 * the last. */
static bool read_container(reader *r, cJSON *node, bool object)
{
    if (r->depth >= NESTING_LIMIT)
        return false;
    r->depth++;
    char close = object ? '}' : ']';
    r->at++;
    skip_whitespace(r);
    cJSON *head = NULL, *last = NULL;
    if (r->at < r->len && r->text[r->at] == close)
        goto done;
    if (r->at >= r->len) {
        r->at--;
        return false;
    }
    r->at--; /* each turn steps over the opening bracket or a comma */
    do {
        cJSON *item = new_node(r);
        if (last) {
            last->next = item;
            item->prev = last;
        } else {
            head = item;
        }
        last = item;
        r->at++;
        skip_whitespace(r);
        if (object) {
            if (!read_string(r, &item->string))
                return false;
            skip_whitespace(r);
            if (r->at >= r->len || r->text[r->at] != ':')
                return false;
            r->at++;
            skip_whitespace(r);
        }
        if (!read_value(r, item))
            return false;
        skip_whitespace(r);
    } while (r->at < r->len && r->text[r->at] == ',');
    if (r->at >= r->len || r->text[r->at] != close)
        return false;
done:
    r->depth--;
    if (head)
        head->prev = last;
    node->type = object ? cJSON_Object : cJSON_Array;
    node->child = head;
    r->at++;
    return true;
}

static bool read_word(reader *r, const char *word, size_t len)
{
    if (!has(r, len) || memcmp(r->text + r->at, word, len) != 0)
        return false;
    r->at += len;
    return true;
}

static bool read_value(reader *r, cJSON *node)
{
    if (read_word(r, "null", 4)) {
        node->type = cJSON_NULL;
        return true;
    }
    if (read_word(r, "false", 5)) {
        node->type = cJSON_False;
        return true;
    }
    if (read_word(r, "true", 4)) {
        node->type = cJSON_True;
        node->valueint = 1;
        return true;
    }
    if (r->at >= r->len)
        return false;
    unsigned char c = r->text[r->at];
    if (c == '"') {
        node->type = cJSON_String;
        return read_string(r, &node->valuestring);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return read_number(r, node);
    if (c == '[' || c == '{')
        return read_container(r, node, c == '{');
    return false;
}

/* The first value of text into doc->root; r->at is where it ended or
 * where it could not be read. */
static bool read_first_value(json_doc *doc, const char *text, size_t len, reader *r)
{
    doc->blocks = first_block();
    *r = (reader){(const unsigned char *)text, len, 0, 0, doc};
    if (len > 4 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) /* cJSON skips it only there */
        r->at = 3;
    skip_whitespace(r);
    cJSON *root = new_node(r);
    if (!read_value(r, root))
        return false;
    doc->root = root;
    return true;
}

int json_doc_parse(json_doc *doc, const char *text, size_t len, size_t *error_at)
{
    reader r;
    bool read = read_first_value(doc, text, len, &r);
    /* Nothing after the value but whitespace: "{…}{…}" would lose the
     * second. */
    if (read)
        while (r.at < len && strchr(" \t\r\n", text[r.at]) && text[r.at])
            r.at++;
    if (read && r.at == len)
        return 0;
    *error_at = read ? r.at : r.at < len ? r.at : len ? len - 1 : 0;
    json_doc_free(doc);
    return -1;
}

int json_doc_parse_first(json_doc *doc, const char *text, size_t len)
{
    reader r;
    if (read_first_value(doc, text, len, &r))
        return 0;
    json_doc_free(doc);
    return -1;
}
