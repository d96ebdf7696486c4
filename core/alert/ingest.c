#include "alert/ingest.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/units.h"
#include "util/utf8.h"

static const char *json_type_name(const cJSON *item)
{
    if (!item || cJSON_IsNull(item))
        return "null";
    if (cJSON_IsBool(item))
        return "a boolean";
    if (cJSON_IsNumber(item))
        return "a number";
    if (cJSON_IsString(item))
        return "a string";
    if (cJSON_IsArray(item))
        return "an array";
    return "an object";
}

/* The offset of the first \u0000 escape, or len. cJSON would end the
 * string there and silently drop the rest of a label or annotation. In
 * valid JSON every backslash starts an escape, so skipping the escaped
 * character is enough to tell \\u0000 (a backslash, then text) apart. */
static size_t nul_escape_at(const char *body, size_t len)
{
    for (const char *backslash = memchr(body, '\\', len); backslash;) {
        size_t i = (size_t)(backslash - body);
        if (i + 1 >= len)
            break;
        if (body[i + 1] == 'u' && i + 6 <= len && memcmp(body + i + 2, "0000", 4) == 0)
            return i;
        backslash = i + 2 < len ? memchr(body + i + 2, '\\', len - i - 2) : NULL;
    }
    return len;
}

static int parse_json(json_doc *doc, const char *body, size_t len, char *err, size_t cap)
{
    /* JSON is UTF-8: bytes that are not would reach the channels (which
     * refuse them) and the history (whose JSON would not decode). */
    size_t at = utf8_valid_length(body, len);
    if (at < len)
        return fail(err, cap, "body: not valid UTF-8 at byte %zu", at);
    if (json_doc_parse(doc, body, len, &at))
        return fail(err, cap, "body: malformed JSON at byte %zu", at);
    if ((at = nul_escape_at(body, len)) < len) {
        json_doc_free(doc);
        return fail(err, cap,
                    "body: \\u0000 at byte %zu: a NUL character cannot be carried in a text", at);
    }
    /* Which one would win is a guess (cJSON's lookup takes the first, so
     * a second "alerts" would be ignored); the sender has a bug to see. */
    strbuf path = STRBUF_INIT;
    sb_puts(&path, cJSON_IsArray(doc->root) ? "alerts" : "");
    int rc = 0;
    if (json_duplicate_key(doc->root, &path)) {
        json_doc_free(doc);
        rc = fail(err, cap, "%s: the key appears twice", sb_str(&path));
    }
    sb_free(&path);
    return rc;
}

/* Reads the member named key, an object of string values; absent or
 * null gives an empty set. */
static int read_string_map(const cJSON *obj, const char *key, const char *path, labelset *out,
                           char *err, size_t cap)
{
    if (!obj || cJSON_IsNull(obj))
        return 0;
    if (!cJSON_IsObject(obj))
        return fail(err, cap, "%s%s: expected an object, got %s", path, key, json_type_name(obj));
    size_t n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, obj)
    {
        if (!cJSON_IsString(item))
            return fail(err, cap, "%s%s.%s: expected a string, got %s", path, key,
                        item->string, json_type_name(item));
        n++;
    }
    /* an alert's labels fit here; a larger object takes a block */
    const char *small[64];
    const char **pairs = 2 * n <= sizeof small / sizeof *small ? small
                                                             : xmalloc(2 * n * sizeof *pairs);
    n = 0;
    cJSON_ArrayForEach(item, obj)
    {
        pairs[n++] = item->string;
        pairs[n++] = item->valuestring;
    }
    /* the body's keys are distinct (parse_json refused a key given twice) */
    labelset_fill(out, pairs, n / 2);
    if (pairs != small)
        free(pairs);
    return 0;
}

/* item is the member named key (NULL: absent). */
static int read_optional_string(const cJSON *item, const char *key, const char *path,
                                char **out, char *err, size_t cap)
{
    if (!item || cJSON_IsNull(item)) {
        *out = xstrdup("");
        return 0;
    }
    if (!cJSON_IsString(item))
        return fail(err, cap, "%s%s: expected a string, got %s", path, key, json_type_name(item));
    *out = xstrdup(item->valuestring);
    return 0;
}

/* Copies the members items[i] (named keys[i]; NULL: absent) that are
 * strings into `out`; a member of another type is refused. */
static int read_string_fields(const cJSON *const *items, const char *const *keys, size_t n,
                              const char *path, labelset *out, char *err, size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *item = items[i];
        if (!item || cJSON_IsNull(item))
            continue;
        if (!cJSON_IsString(item))
            return fail(err, cap, "%s%s: expected a string, got %s", path, keys[i],
                        json_type_name(item));
        labelset_set(out, keys[i], item->valuestring);
    }
    return 0;
}

/* The members of an alert herald reads, by their place in alert_members. */
enum {
    ALERT_LABELS,
    ALERT_ANNOTATIONS,
    ALERT_STARTS_AT,
    ALERT_ENDS_AT,
    ALERT_GENERATOR_URL,
    ALERT_VALUES,
    ALERT_FINGERPRINT,
    ALERT_STATUS,
    ALERT_GRAFANA, /* Grafana's strings, kept as they are: the rest */
    ALERT_MEMBERS = ALERT_GRAFANA + 5
};
static const char *const alert_members[ALERT_MEMBERS] = {
    [ALERT_LABELS] = "labels",
    [ALERT_ANNOTATIONS] = "annotations",
    [ALERT_STARTS_AT] = "startsAt",
    [ALERT_ENDS_AT] = "endsAt",
    [ALERT_GENERATOR_URL] = "generatorURL",
    [ALERT_VALUES] = "values",
    [ALERT_FINGERPRINT] = "fingerprint",
    [ALERT_STATUS] = "status",
    [ALERT_GRAFANA] = "valueString", "silenceURL", "dashboardURL", "panelURL", "imageURL"};

/* The members of a webhook body herald reads. */
enum {
    BODY_ALERTS,
    BODY_RECEIVER,
    BODY_EXTERNAL_URL,
    BODY_GROUP_KEY,
    BODY_GROUP_LABELS,
    BODY_COMMON_LABELS,
    BODY_COMMON_ANNOTATIONS,
    BODY_TRUNCATED_ALERTS,
    BODY_STATUS,
    BODY_GRAFANA, /* Grafana's strings, kept as they are: the rest */
    BODY_MEMBERS = BODY_GRAFANA + 3
};
static const char *const body_members[BODY_MEMBERS] = {
    [BODY_ALERTS] = "alerts",
    [BODY_RECEIVER] = "receiver",
    [BODY_EXTERNAL_URL] = "externalURL",
    [BODY_GROUP_KEY] = "groupKey",
    [BODY_GROUP_LABELS] = "groupLabels",
    [BODY_COMMON_LABELS] = "commonLabels",
    [BODY_COMMON_ANNOTATIONS] = "commonAnnotations",
    [BODY_TRUNCATED_ALERTS] = "truncatedAlerts",
    [BODY_STATUS] = "status",
    [BODY_GRAFANA] = "title", "message", "state"};

/* Grafana's "values": an object of numbers (null: no value, skipped). */
static int read_values(const cJSON *values, const char *path, alert *a, char *err, size_t cap)
{
    if (!values || cJSON_IsNull(values))
        return 0;
    if (!cJSON_IsObject(values))
        return fail(err, cap, "%svalues: expected an object of numbers, got %s", path,
                    json_type_name(values));
    const cJSON *v;
    cJSON_ArrayForEach(v, values)
    {
        if (cJSON_IsNull(v))
            continue;
        if (!cJSON_IsNumber(v))
            return fail(err, cap, "%svalues.%s: expected a number, got %s", path, v->string,
                        json_type_name(v));
        a->values = xrealloc(a->values, (a->values_len + 1) * sizeof *a->values);
        a->values[a->values_len++] = (alert_value){xstrdup(v->string), v->valuedouble};
    }
    return 0;
}

/* item is the member named key (NULL: absent). */
static int read_time(const cJSON *item, const char *key, const char *path, double *out,
                     int *present, char *err, size_t cap)
{
    *present = 0;
    *out = 0;
    if (!item || cJSON_IsNull(item) || (cJSON_IsString(item) && !item->valuestring[0]))
        return 0;
    if (!cJSON_IsString(item))
        return fail(err, cap, "%s%s: expected an RFC 3339 time string, got %s", path, key,
                    json_type_name(item));
    if (parse_rfc3339(item->valuestring, out) != 0)
        return fail(err, cap, "%s%s: \"%.*s\" is not an RFC 3339 time", path, key,
                    utf8_quote_len(item->valuestring, 64), item->valuestring);
    *present = *out != 0;
    return 0;
}

static int is_fingerprint(const char *text)
{
    size_t n = 0;
    for (; text[n]; n++)
        if (!isxdigit((unsigned char)text[n]))
            return 0;
    return n == 16;
}

#define ALERT_PATH_SIZE 32

/* "alerts[<index>].", the start of what an error names. Written out:
 * formatting it and the paths after it took four snprintf calls per
 * alert, 2% of ingesting a request, for errors that almost never come. */
static void alert_path(char path[ALERT_PATH_SIZE], size_t index)
{
    char digits[24];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + index % 10);
    while ((index /= 10));
    char *end = stpcpy(path, "alerts[");
    while (n)
        *end++ = digits[--n];
    strcpy(end, "].");
}

/* Fields common to both formats: labels, annotations, times, source.
 * member[] is alert_members' of item; path is alert_path's. */
static int read_alert(const cJSON *item, const cJSON *const *member, const char *path, alert *a,
                      int *has_end, char *err, size_t cap)
{
    if (!cJSON_IsObject(item))
        return fail(err, cap, "%.*s: expected an object, got %s", (int)strlen(path) - 1, path,
                    json_type_name(item));
    const cJSON *labels = member[ALERT_LABELS];
    if (!labels || cJSON_IsNull(labels))
        return fail(err, cap, "%slabels: missing", path);
    if (read_string_map(labels, alert_members[ALERT_LABELS], path, &a->labels, err, cap))
        return -1;
    if (a->labels.len == 0)
        return fail(err, cap, "%slabels: must not be empty", path);
    if (read_string_map(member[ALERT_ANNOTATIONS], alert_members[ALERT_ANNOTATIONS], path,
                        &a->annotations, err, cap))
        return -1;
    int has_start;
    if (read_time(member[ALERT_STARTS_AT], alert_members[ALERT_STARTS_AT], path, &a->starts_at,
                  &has_start, err, cap) ||
        read_time(member[ALERT_ENDS_AT], alert_members[ALERT_ENDS_AT], path, &a->ends_at,
                  has_end, err, cap) ||
        read_optional_string(member[ALERT_GENERATOR_URL], alert_members[ALERT_GENERATOR_URL],
                             path, &a->generator_url, err, cap) ||
        read_string_fields(member + ALERT_GRAFANA, alert_members + ALERT_GRAFANA,
                           ALERT_MEMBERS - ALERT_GRAFANA, path, &a->grafana, err, cap) ||
        read_values(member[ALERT_VALUES], path, a, err, cap))
        return -1;
    const cJSON *fp = member[ALERT_FINGERPRINT];
    if (cJSON_IsString(fp) && is_fingerprint(fp->valuestring)) {
        /* Alertmanager writes lowercase; in capitals it is the same alert
         * for dedup and the history. */
        for (size_t i = 0; i < 17; i++)
            a->fingerprint[i] = (char)tolower((unsigned char)fp->valuestring[i]);
    } else
        alert_fingerprint(&a->labels, a->fingerprint);
    return 0;
}

/* item is a status: an alert's (path is alert_path's) or the body's
 * (path ""). */
static int read_status(const cJSON *item, const char *path, alert_status *out, char *err,
                       size_t cap)
{
    if (!cJSON_IsString(item))
        return fail(err, cap, "%sstatus: expected \"firing\" or \"resolved\", got %s", path,
                    json_type_name(item));
    if (strcmp(item->valuestring, "firing") == 0)
        *out = ALERT_FIRING;
    else if (strcmp(item->valuestring, "resolved") == 0)
        *out = ALERT_RESOLVED;
    else
        return fail(err, cap, "%sstatus: expected \"firing\" or \"resolved\", got \"%.*s\"",
                    path, utf8_quote_len(item->valuestring, 32), item->valuestring);
    return 0;
}

static alert_status batch_status(const alert_batch *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (b->alerts[i].status == ALERT_FIRING)
            return ALERT_FIRING;
    return b->len ? ALERT_RESOLVED : ALERT_FIRING;
}

/* Alertmanager regex-quotes the receiver name ("a.b" arrives as "a\.b"). */
static char *unquote_receiver(const char *quoted)
{
    strbuf sb = STRBUF_INIT;
    for (const char *p = quoted; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        sb_putc(&sb, *p);
    }
    return sb_take(&sb);
}

static int read_alert_array(const cJSON *array, alert_batch *out, double now, int webhook,
                            char *err, size_t cap)
{
    size_t n = (size_t)cJSON_GetArraySize(array);
    out->alerts = xcalloc(n, sizeof *out->alerts);
    const cJSON *item;
    cJSON_ArrayForEach(item, array)
    {
        alert *a = &out->alerts[out->len++];
        const cJSON *member[ALERT_MEMBERS];
        json_members(item, alert_members, ALERT_MEMBERS, member);
        char path[ALERT_PATH_SIZE];
        alert_path(path, out->len - 1);
        int has_end;
        if (read_alert(item, member, path, a, &has_end, err, cap))
            return -1;
        const cJSON *status = member[ALERT_STATUS];
        if (webhook && status && !cJSON_IsNull(status)) {
            if (read_status(status, path, &a->status, err, cap))
                return -1;
        } else {
            a->status = has_end && a->ends_at <= now ? ALERT_RESOLVED : ALERT_FIRING;
        }
        /* A sender that leaves it out means "now", not 1970. */
        if (a->starts_at == 0)
            a->starts_at = now;
    }
    return 0;
}

/* The payload's commonLabels/commonAnnotations, or, when it has none (a
 * hand-written payload), what the alerts share. */
static int read_or_compute_common(const cJSON *common, const char *key, const alert_batch *batch,
                                  int annotations, labelset *out, char *err, size_t err_cap)
{
    if (common && !cJSON_IsNull(common))
        return read_string_map(common, key, "", out, err, err_cap);
    labelset_common(out, batch->alerts, batch->len, annotations);
    return 0;
}

int ingest_alertmanager(const char *body, size_t len, alert_batch *out, char *err,
                        size_t err_cap)
{
    memset(out, 0, sizeof *out);
    json_doc doc;
    if (parse_json(&doc, body, len, err, err_cap))
        return -1;
    const cJSON *root = doc.root;
    int rc = -1;
    double now = wall_ms() / 1000.0;
    if (!cJSON_IsObject(root)) {
        fail(err, err_cap, "body: expected an Alertmanager webhook object, got %s",
             json_type_name(root));
        goto done;
    }
    const cJSON *member[BODY_MEMBERS];
    json_members(root, body_members, BODY_MEMBERS, member);
    const cJSON *alerts = member[BODY_ALERTS];
    if (!alerts) {
        fail(err, err_cap, "alerts: missing");
        goto done;
    }
    if (!cJSON_IsArray(alerts)) {
        fail(err, err_cap, "alerts: expected an array, got %s", json_type_name(alerts));
        goto done;
    }
    if (read_alert_array(alerts, out, now, 1, err, err_cap))
        goto done;
    char *receiver = NULL;
    if (read_optional_string(member[BODY_RECEIVER], body_members[BODY_RECEIVER], "", &receiver,
                             err, err_cap))
        goto done;
    out->am_receiver = unquote_receiver(receiver);
    free(receiver);
    if (read_optional_string(member[BODY_EXTERNAL_URL], body_members[BODY_EXTERNAL_URL], "",
                             &out->external_url, err, err_cap) ||
        read_optional_string(member[BODY_GROUP_KEY], body_members[BODY_GROUP_KEY], "",
                             &out->group_key, err, err_cap) ||
        read_string_map(member[BODY_GROUP_LABELS], body_members[BODY_GROUP_LABELS], "",
                        &out->group_labels, err, err_cap) ||
        read_string_fields(member + BODY_GRAFANA, body_members + BODY_GRAFANA,
                           BODY_MEMBERS - BODY_GRAFANA, "", &out->grafana, err, err_cap))
        goto done;
    if (read_or_compute_common(member[BODY_COMMON_LABELS], body_members[BODY_COMMON_LABELS], out,
                               0, &out->common_labels, err, err_cap) ||
        read_or_compute_common(member[BODY_COMMON_ANNOTATIONS],
                               body_members[BODY_COMMON_ANNOTATIONS], out, 1,
                               &out->common_annotations, err, err_cap))
        goto done;
    const cJSON *truncated = member[BODY_TRUNCATED_ALERTS];
    if (truncated && !cJSON_IsNull(truncated)) {
        if (!cJSON_IsNumber(truncated) || !(truncated->valuedouble >= 0) ||
            truncated->valuedouble > 1e9) {
            fail(err, err_cap, "truncatedAlerts: expected a number from 0 to 1000000000, got %s",
                 json_type_name(truncated));
            goto done;
        }
        out->truncated_alerts = (long)truncated->valuedouble;
    }
    const cJSON *status = member[BODY_STATUS];
    if (status && !cJSON_IsNull(status)) {
        if (read_status(status, "", &out->status, err, err_cap))
            goto done;
    } else {
        out->status = batch_status(out);
    }
    rc = 0;
done:
    json_doc_free(&doc);
    if (rc)
        alert_batch_free(out);
    return rc;
}

int ingest_prometheus(const char *body, size_t len, double now, alert_batch *out, char *err,
                      size_t err_cap)
{
    memset(out, 0, sizeof *out);
    json_doc doc;
    if (parse_json(&doc, body, len, err, err_cap))
        return -1;
    const cJSON *root = doc.root;
    int rc = -1;
    if (!cJSON_IsArray(root)) {
        fail(err, err_cap, "body: expected an array of alerts, got %s", json_type_name(root));
        goto done;
    }
    if (read_alert_array(root, out, now, 0, err, err_cap))
        goto done;
    out->am_receiver = xstrdup("");
    out->external_url = xstrdup("");
    out->group_key = xstrdup("");
    labelset_common(&out->common_labels, out->alerts, out->len, 0);
    labelset_common(&out->common_annotations, out->alerts, out->len, 1);
    out->status = batch_status(out);
    rc = 0;
done:
    json_doc_free(&doc);
    if (rc)
        alert_batch_free(out);
    return rc;
}

int ingest_any(const char *body, size_t len, double now, alert_batch *out, char *err,
               size_t err_cap)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    if (i < len && body[i] == '[')
        return ingest_prometheus(body, len, now, out, err, err_cap);
    return ingest_alertmanager(body, len, out, err, err_cap);
}
