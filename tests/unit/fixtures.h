/* A configuration written into a fresh temporary directory, for the tests
 * that load one (config) or build a generation from it (pipeline, fuzz),
 * and the alerts they feed it. */
#ifndef HERALD_TEST_FIXTURES_H
#define HERALD_TEST_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alert/ingest.h"
#include "config/generation.h"
#include "harness.h"
#include "pipeline/check.h"
#include "pipeline/script.h"
#include "testutil.h"

typedef struct fixture {
    char *dir;
} fixture;

/* A test whose body gets `fixture *fx`, a fresh directory removed after
 * the body returns (a failed check included). List it with CASE(name). */
#define FIXTURE_TEST(name)                                                                 \
    static void fixture_body_##name(fixture *fx);                                          \
    TEST(name)                                                                             \
    {                                                                                      \
        fixture fx_ = {test_tmpdir()};                                                     \
        fixture_body_##name(&fx_);                                                         \
        test_rmtree(fx_.dir);                                                              \
        free(fx_.dir);                                                                     \
    }                                                                                      \
    static void fixture_body_##name(fixture *fx)

/* Writes fx->dir/name ("templates/x.lua": the folder is made). */
static inline void fixture_write(const fixture *fx, const char *name, const char *content)
{
    const char *slash = strrchr(name, '/');
    if (slash) {
        strbuf folder = STRBUF_INIT;
        sb_printf(&folder, "%s/%.*s", fx->dir, (int)(slash - name), name);
        mkdir(sb_str(&folder), 0755);
        sb_free(&folder);
    }
    free(test_write(fx->dir, name, content));
}

/* Writes fx->dir/herald.lua: three lines naming the route script, the
 * templates folder (NULL: the repository's; relative paths are in fx->dir)
 * and the build's plugins, then `body` from line 4 on. Returns its path;
 * the caller frees it. */
static inline char *fixture_config(const fixture *fx, const char *route, const char *templates,
                                   const char *body)
{
    strbuf text = STRBUF_INIT;
    if (route)
        sb_printf(&text, "route = '%s'\n", route);
    else
        sb_printf(&text, "route = '%s/scripts/route.lua'\n", SOURCE_ROOT);
    if (templates)
        sb_printf(&text, "templates = '%s'\n", templates);
    else
        sb_printf(&text, "templates = '%s/templates'\n", SOURCE_ROOT);
    sb_printf(&text, "plugin_dir = '%s/plugins'\n%s\n", BUILD_ROOT, body);
    char *path = test_write(fx->dir, "herald.lua", sb_str(&text));
    sb_free(&text);
    return path;
}

/* fixture_config built into a checked generation, as serving builds one;
 * NULL with err when it is refused. */
static inline generation *fixture_generation(const fixture *fx, const char *route,
                                             const char *templates, const char *body, char *err,
                                             size_t err_cap)
{
    char *path = fixture_config(fx, route, templates, body);
    generation *g = generation_build(path, NULL, err, err_cap);
    free(path);
    return g;
}

/* fixture_generation opened as a script state, which holds the
 * generation (s->gen); script_close lets both go. */
static inline int fixture_script(const fixture *fx, const char *route, const char *templates,
                                 const char *body, script_state *s, char *err, size_t err_cap)
{
    generation *g = fixture_generation(fx, route, templates, body, err, err_cap);
    if (!g)
        return -1;
    int rc = script_open(s, g, err, err_cap);
    generation_unref(g);
    return rc;
}

/* n firing alerts named A, instances i1, i2, ..., started
 * 2026-11-21T05:22:46Z, alert i with the extra labels labels[i] (a JSON
 * fragment such as "\"route\":\"mute\"", or ""). */
static inline void fixture_alerts(alert_batch *batch, const char *const *labels, size_t n)
{
    strbuf json = STRBUF_INIT;
    sb_puts(&json, "{\"alerts\":[");
    for (size_t i = 0; i < n; i++)
        sb_printf(&json,
                  "%s{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\",\"instance\":\"i%zu\"%s%s},"
                  "\"startsAt\":\"2026-11-21T05:22:46Z\"}",
                  i ? "," : "", i + 1, labels[i][0] ? "," : "", labels[i]);
    sb_puts(&json, "]}");
    char err[256];
    if (ingest_alertmanager(json.data, json.len, batch, err, sizeof err)) {
        fprintf(stderr, "bad test batch: %s\n", err);
        abort();
    }
    sb_free(&json);
}

#endif
