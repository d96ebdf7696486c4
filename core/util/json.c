#include "util/json.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

/* cJSON's parser records the position of a syntax error in a process-wide
 * variable, so parses on several threads (the API's, the store's reading
 * of mentions) would race on it. Parsing is short; one lock is cheaper
 * than the race. Request bodies and channels' answers are read without it
 * (json_doc.c). */
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

cJSON *json_parse(const char *text, size_t len)
{
    pthread_mutex_lock(&parse_lock);
    cJSON *root = cJSON_ParseWithLength(text, len);
    pthread_mutex_unlock(&parse_lock);
    return root;
}

static const cJSON *walk(const cJSON *node, const char *path)
{
    while (node && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        char key[128];
        if (n >= sizeof key || !cJSON_IsObject(node))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        node = cJSON_GetObjectItemCaseSensitive(node, key);
        path += n + (dot ? 1 : 0);
    }
    return node;
}

static void put(char *out, size_t cap, const char *text)
{
    if (out && cap)
        snprintf(out, cap, "%s", text);
}

herald_json_type json_lookup(const char *json, size_t len, const char *path, char *out,
                             size_t cap)
{
    put(out, cap, "");
    json_doc doc;
    bool parsed = json_doc_parse_first(&doc, json, len) == 0;
    const cJSON *node = parsed ? walk(doc.root, path ? path : "") : NULL;
    herald_json_type type = HERALD_JSON_ABSENT;
    if (!node) {
        /* nothing there */
    } else if (cJSON_IsString(node)) {
        type = HERALD_JSON_STRING;
        put(out, cap, node->valuestring);
    } else if (cJSON_IsNumber(node)) {
        type = HERALD_JSON_NUMBER;
        char number[64];
        double v = node->valuedouble;
        /* The range test comes first: casting a huge value is undefined. */
        if (v > -9e15 && v < 9e15 && v == (double)(long long)v)
            snprintf(number, sizeof number, "%lld", (long long)v);
        else
            snprintf(number, sizeof number, "%.17g", v);
        put(out, cap, number);
    } else if (cJSON_IsBool(node)) {
        type = HERALD_JSON_BOOLEAN;
        put(out, cap, cJSON_IsTrue(node) ? "true" : "false");
    } else if (cJSON_IsNull(node)) {
        type = HERALD_JSON_NULL;
        put(out, cap, "null");
    } else {
        type = cJSON_IsArray(node) ? HERALD_JSON_ARRAY : HERALD_JSON_OBJECT;
        if (out && cap) {
            char *text = cJSON_PrintUnformatted(node);
            put(out, cap, text ? text : "");
            cJSON_free(text);
        }
    }
    if (parsed)
        json_doc_free(&doc);
    return type;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void json_members(const cJSON *object, const char *const *names, size_t n, const cJSON **found)
{
    memset(found, 0, n * sizeof *found);
    if (!cJSON_IsObject(object))
        return; /* an array's items have no names */
    const cJSON *member;
    cJSON_ArrayForEach(member, object)
    {
        const char *key = member->string;
        for (size_t i = 0; i < n; i++)
            /* most names differ from the key at their first byte */
            if (!found[i] && key[0] == names[i][0] && strcmp(key, names[i]) == 0) {
                found[i] = member;
                break;
            }
    }
}

/* Whether a key reads as itself in a path: not empty, and none of its
 * bytes a control character (which would reach the client's message
 * raw) or one that would misread the path (a dot, a bracket, a quote, a
 * backslash). */
static int plain_key(const char *key)
{
    if (!*key)
        return 0;
    for (const unsigned char *c = (const unsigned char *)key; *c; c++)
        if (*c < 0x20 || strchr(".[]\"\\", *c))
            return 0;
    return 1;
}

/* Appends a member's name to path: ".key" ("key" at the start) or "[i]";
 * a key that is not plain as a JSON string: "" for the empty one,
 * "a.b", "\u0001". */
static void append_member(strbuf *path, const cJSON *parent, const char *key, size_t index)
{
    if (cJSON_IsArray(parent)) {
        sb_printf(path, "[%zu]", index);
        return;
    }
    if (path->len)
        sb_putc(path, '.');
    if (plain_key(key))
        sb_puts(path, key);
    else
        sb_json_string(path, key, strlen(key));
}

/* Few keys are compared pairwise; more are sorted, so an object of many
 * keys costs n log n, not n squared: a request body is up to max_body of
 * them. */
#define PAIRWISE_KEYS 8

static const char *duplicate_in_object(const cJSON *object)
{
    size_t n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, object)
        n++;
    if (n < 2)
        return NULL;
    if (n <= PAIRWISE_KEYS) {
        /* most keys differ at their first byte: a call less per pair, of
         * twenty pairs per alert */
        for (const cJSON *a = object->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (a->string[0] == b->string[0] && strcmp(a->string, b->string) == 0)
                    return b->string;
        return NULL;
    }
    const char **keys = xmalloc(n * sizeof *keys);
    n = 0;
    cJSON_ArrayForEach(item, object)
        keys[n++] = item->string;
    qsort(keys, n, sizeof *keys, compare_keys);
    const char *twice = NULL;
    for (size_t i = 1; i < n && !twice; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            twice = keys[i];
    free(keys);
    return twice;
}

static int has_duplicate(const cJSON *node)
{
    if (cJSON_IsObject(node) && duplicate_in_object(node))
        return 1;
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
        return 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, node)
        if (has_duplicate(item))
            return 1;
    return 0;
}

static int locate_duplicate(const cJSON *node, strbuf *path)
{
    if (cJSON_IsObject(node)) {
        const char *twice = duplicate_in_object(node);
        if (twice) {
            append_member(path, node, twice, 0);
            return 1;
        }
    } else if (!cJSON_IsArray(node)) {
        return 0;
    }
    size_t start = path->len, index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, node)
    {
        append_member(path, node, item->string, index++);
        if (locate_duplicate(item, path))
            return 1;
        path->len = start;
        path->data[start] = '\0';
    }
    return 0;
}

/* The path is only written out for a body that has a duplicate: writing
 * every member's path as the walk went was a tenth of a request's
 * parsing and routing. */
int json_duplicate_key(const cJSON *node, strbuf *path)
{
    return has_duplicate(node) && locate_duplicate(node, path);
}

void json_error_body(strbuf *out, const char *message)
{
    strbuf text = STRBUF_INIT;
    size_t len = strlen(message);
    for (size_t at = 0; at < len;) {
        size_t valid = utf8_valid_length(message + at, len - at);
        sb_append(&text, message + at, valid);
        at += valid;
        if (at < len) {
            sb_puts(&text, "\xEF\xBF\xBD"); /* U+FFFD for the byte that is not UTF-8 */
            at++;
        }
    }
    sb_puts(out, "{\"status\":\"error\",\"error\":");
    sb_json_string(out, sb_str(&text), text.len);
    sb_puts(out, "}\n");
    sb_free(&text);
}
