/* The one way herald reads JSON: cJSON, with its parser serialised. */
#ifndef HERALD_JSON_H
#define HERALD_JSON_H

#include <stddef.h>

#include <cJSON.h>

#include "herald/plugin.h"
#include "util/strbuf.h"

/* cJSON_ParseWithLength under a process-wide lock (see json.c). */
cJSON *json_parse(const char *text, size_t len);
/* A request body's tree, in blocks of its own (json_doc.c says why): read it,
 * never change it, and give it back with json_doc_free, not cJSON_Delete. */
typedef struct json_block json_block;
typedef struct {
    const cJSON *root;
    json_block *blocks;
} json_doc;

/* Parses a request body: exactly one JSON value, nothing after it but
 * whitespace. On failure returns -1 with nothing to free, and *error_at
 * is the byte offset where the text stopped being what was expected. */
int json_doc_parse(json_doc *doc, const char *text, size_t len, size_t *error_at);
/* The first JSON value of text, whatever follows it, as cJSON_Parse
 * reads it: a channel's answer may carry more after its JSON. 0, or -1
 * with nothing to free. */
int json_doc_parse_first(json_doc *doc, const char *text, size_t len);
void json_doc_free(json_doc *doc);

/* The host service plugins use to read responses (see plugin.h). */
herald_json_type json_lookup(const char *json, size_t len, const char *path, char *out,
                             size_t cap);

/* Whether some object in the tree holds a key twice (cJSON keeps both,
 * and a lookup finds only the first). Returns 1 with the key's path
 * appended to path ("alerts[0].status", after what path held), or 0. */
int json_duplicate_key(const cJSON *node, strbuf *path);

/* found[i] = the member of object named names[i], or NULL, in one pass
 * over the members: a dozen lookups by name were a dozen scans of them.
 * The first member of a name, as cJSON's lookup finds it; nothing found
 * in what is not an object. */
void json_members(const cJSON *object, const char *const *names, size_t n, const cJSON **found);

/* Appends herald's error shape, {"status":"error","error":"<message>"}
 * and a newline. The message may carry what a client sent (a path, a
 * header): bytes that are not UTF-8 become U+FFFD, so the body is always
 * valid JSON. */
void json_error_body(strbuf *out, const char *message);

#endif
