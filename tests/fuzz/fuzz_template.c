/* libFuzzer harness: text templates, compiled and rendered. The input is
 * the text of a {{ expr }} / {% code %} template
 * (lua/template_compiler.c); a receiver's template (templates/fuzz.lua,
 * written below) compiles it with herald.compile and renders it with the
 * data of a real notification (tests/fixtures/am-firing-5.json), through
 * the render path a delivery takes (pipeline/render.c). A render succeeds
 * with a message or fails with a message naming the template; nothing
 * else. Lua's limits are kept small (20 ms, 16 MiB) so that a looping or
 * greedy template costs little. */
#include "fuzz.h"

#include "alert/ingest.h"
#include "config/generation.h"
#include "pipeline/render.h"
#include "pipeline/script.h"
#include "testutil.h"
#include "util/log.h"

static const char template_lua[] =
    "return function(data)\n"
    "  local render = herald.compile(data.alerts[1].annotations.fuzzed or '', 'fuzzed')\n"
    "  return { format = 'text', title = data.status, text = render(data) }\n"
    "end\n";

static char *workdir;
static script_state state;
static alert_batch batch;
static const alert **alerts;
static const receiver *fuzz_receiver;

static void clean_up(void)
{
    script_close(&state);
    alert_batch_free(&batch);
    free(alerts);
    test_rmtree(workdir);
    free(workdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* the warnings and print()s of fuzzed inputs would bury libFuzzer's output */
    log_set_level(HERALD_LOG_ERROR);
    workdir = test_tmpdir();
    strbuf path = STRBUF_INIT;
    sb_printf(&path, "%s/templates", workdir);
    FUZZ_CHECK(mkdir(sb_str(&path), 0755) == 0, "cannot make %s", sb_str(&path));
    sb_free(&path);
    free(test_write(workdir, "templates/fuzz.lua", template_lua));
    strbuf conf = STRBUF_INIT;
    sb_printf(&conf,
              "route = '%s/scripts/route.lua'\ntemplates = 'templates'\nplugin_dir = '%s/plugins'\n"
              "timezone = 'Asia/Shanghai'\nlua = { timeout = '20ms', memory = '16MiB' }\n"
              "default_receiver = 'fuzz'\n"
              "receivers = { fuzz = { channel = 'console', template = 'fuzz' } }\n",
              SOURCE_ROOT, BUILD_ROOT);
    char *conf_path = test_write(workdir, "herald.lua", sb_str(&conf));
    sb_free(&conf);
    char err[1024];
    generation *g = generation_load(conf_path, NULL, err, sizeof err);
    free(conf_path);
    FUZZ_CHECK(g != NULL, "%s", err);
    FUZZ_CHECK(script_open(&state, g, err, sizeof err) == 0, "%s", err);
    generation_unref(g); /* the state holds its own reference */
    fuzz_receiver = config_receiver(&state.gen->conf, "fuzz");

    size_t len;
    char *payload = test_read(SOURCE_ROOT "/tests/fixtures/am-firing-5.json", &len);
    FUZZ_CHECK(ingest_alertmanager(payload, len, &batch, err, sizeof err) == 0, "%s", err);
    free(payload);
    alerts = xcalloc(batch.len, sizeof *alerts);
    for (size_t i = 0; i < batch.len; i++)
        alerts[i] = &batch.alerts[i];
    atexit(clean_up);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = xstrndup((const char *)data, size);
    labelset_set(&batch.alerts[0].annotations, "fuzzed", text);
    free(text);
    render_input in = {
        .receiver = fuzz_receiver,
        .batch = &batch,
        .alerts = alerts,
        .len = batch.len,
        .mentions = &fuzz_receiver->mentions,
    };
    rendered out;
    char err[1024];
    FUZZ_ERR_INIT(err);
    if (render_template(&state, &in, &out, err, sizeof err) != 0) {
        fuzz_check_refusal(err, sizeof err, "render_template");
        return 0;
    }
    FUZZ_CHECK(out.format == HERALD_FORMAT_TEXT && out.text && out.title,
               "a rendered message without its text");
    rendered_free(&out);
    return 0;
}
