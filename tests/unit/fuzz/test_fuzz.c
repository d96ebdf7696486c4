/* Bounded, reproducible fuzzing (a fixed seed, a fixed number of cases),
 * run in every build and so under ASan/UBSan too:
 *
 *  - the ingest parser gets the captured Alertmanager payloads mutated
 *    (bytes flipped, JSON tokens and broken UTF-8 inserted, ranges cut,
 *    repeated or spliced between payloads): every input is accepted with
 *    well-formed alerts or refused with a message, never anything else;
 *  - every bundled template renders random alert groups (any UTF-8, markup
 *    characters, empty and 5 KB values, odd times) without an error: an
 *    error would send the fallback message instead of the template's.
 *
 * A failure prints the case number; the same seed replays it. */
#include "harness.h"

#include <dirent.h>

#include "alert/ingest.h"
#include "fixtures.h"
#include "pipeline/pipeline.h"
#include "plugin/host.h"
#include "util/utf8.h"

#define SEED 0x9e3779b97f4a7c15ULL
#define INGEST_CASES 20000
#define TEMPLATE_CASES 300

static unsigned long long rng_state;

static unsigned long long next_random(void)
{
    /* xorshift64*: reproducible everywhere, unlike rand() */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t below(size_t n) { return n ? (size_t)(next_random() % n) : 0; }

static int is_utf8(const char *s) { return utf8_valid_length(s, strlen(s)) == strlen(s); }

/* ---- ingest ------------------------------------------------------------- */

static const char *const tokens[] = {
    "\"", "\\", "\\u0000", "\\ud800", "\\udc00\\ud800", "\\u00e9", "{", "}", "[", "]", ",",
    ":", "null", "true", "1e999", "-0", "0.5", "\"\"", "\"labels\":{}", "\"alerts\":[]",
    "\"status\":\"resolved\"", "\"endsAt\":\"2026-13-40T99:00:00Z\"", "\"startsAt\":7",
    "\xc3", "\xf0\x9f", "\xff", "\xed\xa0\x80", "\xe5\x91\x8a\xe8\xad\xa6", "\0",
};

static void mutate(strbuf *b, const strbuf *other)
{
    size_t len = b->len;
    switch (below(6)) {
    case 0: /* flip a byte */
        if (len)
            b->data[below(len)] ^= (char)(1u << below(8));
        break;
    case 1: { /* insert a token */
        const char *t = tokens[below(sizeof tokens / sizeof *tokens)];
        size_t tlen = t[0] ? strlen(t) : 1, at = below(len + 1);
        strbuf out = STRBUF_INIT;
        sb_append(&out, b->data, at);
        sb_append(&out, t, tlen);
        sb_append(&out, b->data + at, len - at);
        sb_free(b);
        *b = out;
        break;
    }
    case 2: { /* cut a range */
        size_t at = below(len + 1), n = below(len - at + 1) % 64;
        memmove(b->data + at, b->data + at + n, len - at - n);
        b->len -= n;
        break;
    }
    case 3: { /* repeat a range */
        size_t at = below(len + 1), n = below(len - at + 1) % 256;
        strbuf out = STRBUF_INIT;
        sb_append(&out, b->data, at + n);
        sb_append(&out, b->data + at, len - at);
        sb_free(b);
        *b = out;
        break;
    }
    case 4: /* truncate */
        b->len = below(len + 1);
        break;
    default: { /* splice: our start, another payload's end */
        size_t at = below(len + 1), from = below(other->len + 1);
        b->len = at;
        sb_append(b, other->data + from, other->len - from);
        break;
    }
    }
    b->data[b->len] = '\0'; /* within the buffer: every case above kept or shrank it */
}

static int alerts_are_well_formed(const alert_batch *batch, size_t cas)
{
    for (size_t i = 0; i < batch->len; i++) {
        const alert *a = &batch->alerts[i];
        if (strlen(a->fingerprint) != 16 || strspn(a->fingerprint, "0123456789abcdef") != 16) {
            printf("    case %zu: alert %zu has fingerprint \"%s\"\n", cas, i, a->fingerprint);
            return 0;
        }
        for (size_t k = 0; k < a->labels.len; k++)
            if (!is_utf8(a->labels.items[k].name) || !is_utf8(a->labels.items[k].value)) {
                printf("    case %zu: alert %zu has a label that is not UTF-8\n", cas, i);
                return 0;
            }
    }
    return 1;
}

TEST(ingest_accepts_or_names_what_is_wrong_in_mutated_payloads)
{
    static const char *const seeds[] = {"am-firing-1.json", "am-firing-5.json",
                                        "am-resolved-1.json", "am-resolved-5.json"};
    enum { SEEDS = sizeof seeds / sizeof *seeds };
    strbuf originals[SEEDS];
    for (size_t i = 0; i < SEEDS; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/fixtures/%s", SOURCE_ROOT, seeds[i]);
        originals[i] = (strbuf)STRBUF_INIT;
        CHECK(sb_read_file(&originals[i], path) == 0);
    }
    rng_state = SEED;
    size_t accepted = 0, refused = 0;
    for (size_t cas = 0; cas < INGEST_CASES && !harness_case_failed; cas++) {
        strbuf body = STRBUF_INIT;
        const strbuf *seed = &originals[below(SEEDS)];
        sb_append(&body, seed->data, seed->len);
        for (size_t m = 1 + below(4); m > 0; m--)
            mutate(&body, &originals[below(SEEDS)]);
        alert_batch batch;
        char err[512];
        memset(err, 'x', sizeof err);
        int rc = ingest_any(body.data, body.len, 1795238566.0, &batch, err, sizeof err);
        sb_free(&body);
        if (rc == 0) {
            int ok = alerts_are_well_formed(&batch, cas);
            alert_batch_free(&batch);
            if (!ok)
                harness_case_failed = 1;
            accepted++;
        } else if (!memchr(err, '\0', sizeof err) || !err[0] || !is_utf8(err)) {
            printf("    case %zu: refused without a readable message\n", cas);
            harness_case_failed = 1;
        } else {
            refused++;
        }
    }
    for (size_t i = 0; i < SEEDS; i++)
        sb_free(&originals[i]);
    if (harness_case_failed)
        return;
    printf("    %zu mutated payloads: %zu accepted, %zu refused\n", (size_t)INGEST_CASES,
           accepted, refused);
    /* the mutations reach both outcomes, or this would test little */
    CHECK(accepted > INGEST_CASES / 20);
    CHECK(refused > INGEST_CASES / 20);
}

/* ---- templates ---------------------------------------------------------- */

static const char *const pieces[] = {
    "磁盘", "告警", "🔥", "a", "Z", "0", " ", "\n", "\t", "*", "_", "`", "#", "[", "]", "(",
    ")", "<", ">", "&", "\"", "'", "\\", "|", "~", "-", "+", "!", "{{", "%s", "@13800000000",
    "<@all>", "=?UTF-8?B?", "\r\n.\r\n", "é", "ß", "—",
};

static void random_text(strbuf *out)
{
    size_t kind = below(10);
    if (kind == 0)
        return; /* empty */
    size_t n = kind == 1 ? 1500 + below(500) : 1 + below(12);
    for (size_t i = 0; i < n; i++)
        sb_puts(out, pieces[below(sizeof pieces / sizeof *pieces)]);
}

static void random_time(strbuf *json, const char *key)
{
    static const char *const times[] = {
        "2026-11-21T05:22:46Z", "2026-11-21T05:22:46.123456789+08:00", "0001-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z", "2099-12-31T23:59:59Z", "2026-03-29T01:30:00+01:00",
    };
    sb_printf(json, ",\"%s\":\"%s\"", key, times[below(sizeof times / sizeof *times)]);
}

/* A random Alertmanager group of 1 to 30 alerts, as JSON. */
static void random_group(strbuf *json)
{
    static const char *const names[] = {"alertname", "instance", "severity", "job", "mobile",
                                        "team", "env", "summary"};
    size_t n = 1 + below(below(4) == 0 ? 30 : 4);
    int resolved_group = below(3) == 0;
    sb_printf(json, "{\"status\":\"%s\",\"alerts\":[", resolved_group ? "resolved" : "firing");
    for (size_t i = 0; i < n; i++) {
        int resolved = resolved_group || below(4) == 0;
        sb_printf(json, "%s{\"status\":\"%s\",\"labels\":{", i ? "," : "",
                  resolved ? "resolved" : "firing");
        size_t labels = 1 + below(6), first = below(8);
        for (size_t k = 0; k < labels; k++) {
            strbuf value = STRBUF_INIT;
            random_text(&value);
            sb_printf(json, "%s\"%s\":", k ? "," : "", names[(first + k) % 8]);
            sb_json_string(json, value.data ? value.data : "", value.len);
            sb_free(&value);
        }
        sb_puts(json, "},\"annotations\":{");
        for (size_t k = 0; k < 2; k++) {
            strbuf value = STRBUF_INIT;
            random_text(&value);
            sb_printf(json, "%s\"%s\":", k ? "," : "", k ? "description" : "summary");
            sb_json_string(json, value.data ? value.data : "", value.len);
            sb_free(&value);
        }
        sb_putc(json, '}');
        random_time(json, "startsAt");
        if (resolved)
            random_time(json, "endsAt");
        sb_puts(json, ",\"generatorURL\":\"http://prometheus:9090/graph?g0.expr=up%3D%3D0\"}");
    }
    sb_puts(json, "],\"externalURL\":\"http://alertmanager:9093\"}");
}

/* Every bundled template gets a console receiver of its own. */
static generation *build_with_bundled_templates(const fixture *fx, char **names, size_t *len,
                                                char *err, size_t cap)
{
    char templates[512];
    snprintf(templates, sizeof templates, "%s/templates", SOURCE_ROOT);
    DIR *d = opendir(templates);
    if (!d) {
        snprintf(err, cap, "%s: cannot open", templates);
        return NULL;
    }
    strbuf conf = STRBUF_INIT;
    /* Errors are what counts here, not speed: the default deadline (100 ms)
     * is too close for a sanitizer build on a loaded machine. */
    sb_puts(&conf, "timezone = 'Asia/Shanghai'\nlua = { timeout = '10s' }\n"
                   "default_receiver = 'console'\nreceivers = {\n");
    *len = 0;
    struct dirent *e;
    while ((e = readdir(d)) && *len < 32) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".lua") != 0)
            continue;
        names[*len] = xstrndup(e->d_name, n - 4);
        sb_printf(&conf, "  %s = { channel = 'console', template = '%s' },\n",
                  strcmp(names[*len], "console") == 0 ? "console" : names[*len], names[*len]);
        (*len)++;
    }
    closedir(d);
    sb_puts(&conf, "}\n");
    generation *g = fixture_generation(fx, NULL, NULL, sb_str(&conf), err, cap);
    sb_free(&conf);
    return g;
}

FIXTURE_TEST(bundled_templates_render_random_groups_without_an_error)
{
    char *names[32];
    size_t len = 0;
    char err[1024];
    generation *g = build_with_bundled_templates(fx, names, &len, err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    CHECK(len >= 8);
    script_state s;
    CHECK_INT(script_open(&s, g, err, sizeof err), 0);
    rng_state = SEED;
    size_t messages = 0;
    for (size_t cas = 0; cas < TEMPLATE_CASES && !harness_case_failed; cas++) {
        strbuf json = STRBUF_INIT;
        random_group(&json);
        alert_batch batch;
        if (ingest_alertmanager(json.data, json.len, &batch, err, sizeof err)) {
            printf("    case %zu: the generated group was refused: %s\n", cas, err);
            harness_case_failed = 1;
        }
        sb_free(&json);
        for (size_t t = 0; t < len && !harness_case_failed; t++) {
            pipeline_output out;
            pipeline_stats stats;
            pipeline_run(&s, &batch, config_receiver(&g->conf, names[t]), &out, &stats);
            if (stats.template_errors)
                printf("    case %zu: template %s failed (see the log above)\n", cas, names[t]);
            for (size_t i = 0; i < out.len; i++) {
                const notification *n = out.items[i];
                if (!is_utf8(n->content.title) || !is_utf8(n->content.text)) {
                    printf("    case %zu: template %s wrote text that is not UTF-8\n", cas,
                           names[t]);
                    harness_case_failed = 1;
                }
                messages++;
            }
            if (stats.template_errors)
                harness_case_failed = 1;
            pipeline_output_free(&out);
        }
        alert_batch_free(&batch);
    }
    printf("    %zu random groups through %zu templates: %zu messages\n", (size_t)TEMPLATE_CASES,
           len, messages);
    script_close(&s);
    generation_unref(g);
    for (size_t i = 0; i < len; i++)
        free(names[i]);
}

RUN_TESTS(CASE(ingest_accepts_or_names_what_is_wrong_in_mutated_payloads),
          CASE(bundled_templates_render_random_groups_without_an_error))
