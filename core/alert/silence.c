#include "alert/silence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "util/error.h"
#include "util/json.h"
#include "util/log.h"
#include "util/units.h"

/* Longer is a mistake in the duration more likely than a silence meant
 * to outlive the history's retention. */
#define SILENCE_MAX_MS (366LL * 24 * 3600 * 1000)

void silence_free(silence *s)
{
    free(s->id);
    free(s->matchers);
    free(s->created_by);
    free(s->comment);
    memset(s, 0, sizeof *s);
}

void silence_rows_free(silence_rows *rows)
{
    for (size_t i = 0; i < rows->len; i++)
        silence_free(&rows->items[i]);
    free(rows->items);
    memset(rows, 0, sizeof *rows);
}

int silence_active(const silence *s, int64_t now_ms)
{
    return s->starts_ms <= now_ms && now_ms < s->ends_ms;
}

int silence_matchers_parse(const char *text, matcher_set *set, char *err, size_t err_cap)
{
    char why[384];
    if (matchers_parse(text, set, why, sizeof why))
        return fail(err, err_cap, "matchers: %s", why);
    for (size_t i = 0; i < set->len; i++)
        if (!matcher_matches_empty(&set->items[i]))
            return 0;
    matchers_free(set);
    return fail(err, err_cap, "matchers: \"%s\" would silence almost every alert (each matcher "
                              "also matches an absent label): add one such as "
                              "alertname=\"HostDown\"",
                text);
}

const silence_words silence_cli_words = {"--duration", "--until", "--author"};
const silence_words silence_api_words = {"duration", "endsAt", "createdBy"};

int silence_end(const char *duration, const char *until, int64_t now_ms, const silence_words *w,
                int64_t *ends_ms, char *err, size_t err_cap)
{
    if (duration && until)
        return fail(err, err_cap, "give either %s or %s, not both", w->duration, w->until);
    if (!duration && !until)
        return fail(err, err_cap,
                    "give how long it lasts (%s, such as 2h) or until when (%s, an RFC 3339 time)",
                    w->duration, w->until);
    if (duration) {
        int64_t ms;
        if (parse_duration_ms(duration, &ms) || ms <= 0)
            return fail(err, err_cap,
                        "%s: expected a positive duration such as 90m, 2h or 1d, got \"%s\"",
                        w->duration, duration);
        if (ms > SILENCE_MAX_MS)
            return fail(err, err_cap, "%s: \"%s\" is longer than a year", w->duration, duration);
        *ends_ms = now_ms + ms;
        return 0;
    }
    double epoch;
    if (parse_rfc3339(until, &epoch) || epoch <= 0)
        return fail(err, err_cap,
                    "%s: expected an RFC 3339 time such as 2026-11-21T18:00:00+08:00, got \"%s\"",
                    w->until, until);
    int64_t at = (int64_t)(epoch * 1000);
    if (at <= now_ms)
        return fail(err, err_cap, "%s: %s has already passed", w->until, until);
    if (at - now_ms > SILENCE_MAX_MS)
        return fail(err, err_cap, "%s: %s is more than a year away", w->until, until);
    *ends_ms = at;
    return 0;
}

static void new_id(char out[SILENCE_ID_SIZE])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        /* never seen on Linux; an id that repeats is still refused by the
         * store's primary key rather than merged */
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, SILENCE_ID_SIZE,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int silence_make(const char *matchers, const char *duration, const char *until,
                 const char *author, const char *comment, int64_t now_ms,
                 const silence_words *w, silence *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    matcher_set set = {0};
    if (!matchers)
        return fail(err, err_cap, "%s", "matchers: missing (such as alertname=\"HostDown\")");
    if (silence_matchers_parse(matchers, &set, err, err_cap))
        return -1;
    matchers_free(&set);
    int64_t ends;
    if (silence_end(duration, until, now_ms, w, &ends, err, err_cap))
        return -1;
    if (!author || !author[0])
        return fail(err, err_cap, "%s: say who silences", w->author);
    char id[SILENCE_ID_SIZE];
    new_id(id);
    *out = (silence){xstrdup(id), xstrdup(matchers), now_ms, ends, xstrdup(author),
                     xstrdup(comment ? comment : ""), now_ms};
    return 0;
}

/* The string at key: NULL when absent or null; -1 when it is not a
 * string. */
static int string_field(const cJSON *body, const char *key, const char **out, char *err,
                        size_t err_cap)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, key);
    *out = NULL;
    if (!item || cJSON_IsNull(item))
        return 0;
    if (!cJSON_IsString(item))
        return fail(err, err_cap, "%s: expected a string", key);
    *out = item->valuestring;
    return 0;
}

/* A key the request may not hold: a silence starts when it is made, so
 * Alertmanager's startsAt would be silently wrong if it were ignored. */
static const char *unknown_key(const cJSON *root)
{
    static const char *const known[] = {"matchers", "duration", "endsAt", "createdBy", "comment"};
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(item->string, known[i]) != 0)
            i++;
        if (i == sizeof known / sizeof known[0])
            return item->string;
    }
    return NULL;
}

int silence_from_json(const char *body, size_t len, int64_t now_ms, silence *out, char *err,
                      size_t err_cap)
{
    memset(out, 0, sizeof *out);
    size_t error_at = 0;
    json_doc doc;
    if (json_doc_parse(&doc, body, len, &error_at))
        return fail(err, err_cap, "body: not JSON (at byte %zu); expected {\"matchers\": "
                                  "\"alertname=...\", \"duration\": \"2h\", \"createdBy\": "
                                  "\"...\", \"comment\": \"...\"}",
                    error_at);
    const cJSON *root = doc.root;
    int rc = -1;
    strbuf path = STRBUF_INIT;
    const char *matchers, *duration, *until, *author, *comment, *unknown;
    if (!cJSON_IsObject(root)) {
        fail(err, err_cap, "%s", "body: expected a JSON object");
    } else if ((unknown = unknown_key(root))) {
        fail(err, err_cap,
             "%s: not a field of a silence (matchers, duration or endsAt, createdBy, comment; "
             "it starts when it is made)",
             unknown);
    } else if (json_duplicate_key(root, &path)) {
        fail(err, err_cap, "%s: the key appears twice", sb_str(&path));
    } else if (!string_field(root, "matchers", &matchers, err, err_cap) &&
               !string_field(root, "duration", &duration, err, err_cap) &&
               !string_field(root, "endsAt", &until, err, err_cap) &&
               !string_field(root, "createdBy", &author, err, err_cap) &&
               !string_field(root, "comment", &comment, err, err_cap)) {
        rc = silence_make(matchers, duration, until, author, comment, now_ms,
                          &silence_api_words, out, err, err_cap);
    }
    sb_free(&path);
    json_doc_free(&doc);
    return rc;
}

void silence_set_build(const silence_rows *rows, silence_set *out)
{
    memset(out, 0, sizeof *out);
    out->items = xcalloc(rows->len ? rows->len : 1, sizeof *out->items);
    for (size_t i = 0; i < rows->len; i++) {
        const silence *s = &rows->items[i];
        silence_rule *r = &out->items[out->len];
        char why[384];
        memset(r, 0, sizeof *r);
        if (matchers_parse(s->matchers, &r->matchers, why, sizeof why)) {
            log_warn("silences", "silence %s is left out: its matchers: %s", s->id, why);
            continue;
        }
        r->id = xstrdup(s->id);
        r->starts_ms = s->starts_ms;
        r->ends_ms = s->ends_ms;
        out->len++;
    }
}

void silence_set_free(silence_set *set)
{
    for (size_t i = 0; i < set->len; i++) {
        free(set->items[i].id);
        matchers_free(&set->items[i].matchers);
    }
    free(set->items);
    memset(set, 0, sizeof *set);
}

const char *silence_set_match(const silence_set *set, const labelset *labels, int64_t now_ms)
{
    for (size_t i = 0; set && i < set->len; i++) {
        const silence_rule *r = &set->items[i];
        if (r->starts_ms <= now_ms && now_ms < r->ends_ms &&
            matchers_match_labels(&r->matchers, labels))
            return r->id;
    }
    return NULL;
}
