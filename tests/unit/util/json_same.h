/* What json_doc_parse promises (util/json_doc.c): cJSON's own answer for
 * the same text. Shared by tests/unit/util/test_json.c and
 * tests/fuzz/fuzz_json.c. */
#ifndef HERALD_TEST_JSON_SAME_H
#define HERALD_TEST_JSON_SAME_H

#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "util/json.h"

static int json_same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether two trees are alike node by node, links included (the first
 * child's prev is the last). On a difference, `why` says where. */
static int json_same_tree(const cJSON *a, const cJSON *b, char *why, size_t why_cap)
{
    if ((a->type & 0xFF) != (b->type & 0xFF) || !json_same_text(a->string, b->string) ||
        !json_same_text(a->valuestring, b->valuestring) || a->valueint != b->valueint ||
        !(a->valuedouble == b->valuedouble)) {
        snprintf(why, why_cap, "node \"%s\": type %d/%d, value \"%s\"/\"%s\", %.17g/%.17g",
                 a->string ? a->string : "", a->type, b->type,
                 a->valuestring ? a->valuestring : "", b->valuestring ? b->valuestring : "",
                 a->valuedouble, b->valuedouble);
        return 0;
    }
    const cJSON *x = a->child, *y = b->child;
    if (!x != !y || (x && (!x->prev) != (!y->prev))) {
        snprintf(why, why_cap, "node \"%s\": children differ", a->string ? a->string : "");
        return 0;
    }
    for (; x && y; x = x->next, y = y->next) {
        if (!json_same_tree(x, y, why, why_cap))
            return 0;
        if ((x->next == NULL) != (y->next == NULL) ||
            (x->next && (x->next->prev != x || y->next->prev != y)) ||
            (!x->next && (a->child->prev != x || b->child->prev != y))) {
            snprintf(why, why_cap, "node \"%s\": links differ", a->string ? a->string : "");
            return 0;
        }
    }
    return 1;
}

/* Reads text both ways: 1 when json_doc_parse and cJSON (with the same
 * rule for what may follow the value) accept it alike, or refuse it at
 * the same byte. */
static int json_reads_as_cjson(const char *text, size_t len, char *why, size_t why_cap)
{
    json_doc doc;
    size_t error_at = 0;
    int refused = json_doc_parse(&doc, text, len, &error_at) != 0;

    const char *end = NULL;
    cJSON *theirs = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    /* the first value alone, whatever follows it */
    json_doc first;
    int first_refused = json_doc_parse_first(&first, text, len) != 0;
    int first_same = first_refused ? !theirs : theirs && json_same_tree(first.root, theirs, why, why_cap);
    if (!first_refused)
        json_doc_free(&first);
    if (!first_same) {
        if (first_refused || !theirs)
            snprintf(why, why_cap, "first value refused: %s, cJSON %s", first_refused ? "yes" : "no",
                     theirs ? "no" : "yes");
        cJSON_Delete(theirs);
        if (!refused)
            json_doc_free(&doc);
        return 0;
    }
    size_t their_error_at = 0;
    if (theirs) {
        while (end < text + len && *end && strchr(" \t\r\n", *end))
            end++;
        if (end < text + len) {
            their_error_at = (size_t)(end - text);
            cJSON_Delete(theirs);
            theirs = NULL;
        }
    } else {
        const char *where = cJSON_GetErrorPtr();
        their_error_at = where && where >= text && where <= text + len ? (size_t)(where - text) : 0;
    }

    int same;
    if (refused || !theirs) {
        same = refused && !theirs && error_at == their_error_at;
        snprintf(why, why_cap, "refused: %s at %zu, cJSON %s at %zu", refused ? "yes" : "no",
                 error_at, theirs ? "no" : "yes", their_error_at);
    } else {
        same = json_same_tree(doc.root, theirs, why, why_cap);
    }
    if (!refused)
        json_doc_free(&doc);
    cJSON_Delete(theirs);
    return same;
}

#endif
