/* The one way herald reads JSON: cJSON, with its parser serialised. */
#ifndef HERALD_JSON_H
#define HERALD_JSON_H

#include <stddef.h>

#include <cJSON.h>

#include "herald/plugin.h"
#include "util/strbuf.h"

/* cJSON_ParseWithLength under a process-wide lock (see json.c). */
cJSON *json_parse(const char *text, size_t len);
/* The same for a request body: exactly one JSON value, nothing after it
 * but whitespace. On failure *error_at is the byte offset where the text
 * stopped being what was expected. */
cJSON *json_parse_whole(const char *text, size_t len, size_t *error_at);

/* The host service plugins use to read responses (see plugin.h). */
herald_json_type json_lookup(const char *json, size_t len, const char *path, char *out,
                             size_t cap);

/* Whether some object in the tree holds a key twice (cJSON keeps both,
 * and a lookup finds only the first). Returns 1 with the key's path
 * appended to path ("alerts[0].status", after what path held), or 0. */
int json_duplicate_key(const cJSON *node, strbuf *path);

/* Appends herald's error shape, {"status":"error","error":"<message>"}
 * and a newline. The message may carry what a client sent (a path, a
 * header): bytes that are not UTF-8 become U+FFFD, so the body is always
 * valid JSON. */
void json_error_body(strbuf *out, const char *message);

#endif
