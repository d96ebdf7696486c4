/* Rendering one message: a receiver's template turns the alerts into a
 * title, text, format and mentions; a failing template is named with its
 * file and line; the built-in fallback needs no Lua. */
#include "harness.h"

#include "alert/ingest.h"
#include "fixtures.h"
#include "pipeline/render.h"
#include "pipeline/script.h"

/* What it returns depends on the alerts' common label "render". */
static const char cases_template[] =
    "return function(data)\n"
    "  local case = data.commonLabels.render\n"
    "  if case == 'error' then error('template failed on purpose') end\n"
    "  if case == 'string' then return 'just text' end\n"
    "  if case == 'format' then return { format = 'pdf', text = 'x' } end\n"
    "  if case == 'no-text' then return { title = 'x' } end\n"
    "  if case == 'title' then return { title = 42, text = 'x' } end\n"
    "  if case == 'bad-mentions' then return { text = 'x', mentions = 'everyone' } end\n"
    "  if case == 'body' then return { body = { callback = function() end } } end\n"
    "  if case == 'markdown' then return { title = '**' .. data.receiver .. '**', text = '*x*' } end\n"
    "  if case == 'digest-words' then\n"
    "    return { text = 'x', digest = { firing = 'F!', resolved = 'R!' } }\n"
    "  end\n"
    "  if case == 'digest-list' then\n"
    "    return { text = 'x', digest = { { group = 'G', item = 'I' }, { group = 'G', item = 'J', detail = 'D' } } }\n"
    "  end\n"
    "  if case == 'digest-bad' then return { text = 'x', digest = 'all of it' } end\n"
    "  if case == 'digest-bad-entry' then return { text = 'x', digest = { { group = 'G' } } } end\n"
    "  if case == 'digest-bad-detail' then\n"
    "    return { text = 'x', digest = { { group = 'G', item = 'I' }, { group = 'G', item = 'J', detail = 7 } } }\n"
    "  end\n"
    "  if case == 'mentions' then\n"
    "    return { text = 'x', mentions = { mobiles = { '300' }, user_ids = { 'u9' }, all = true } }\n"
    "  end\n"
    "  local names = {}\n"
    "  for _, a in ipairs(data.alerts) do names[#names + 1] = a.labels.instance end\n"
    "  return { format = 'text', title = data.status .. ':' .. #data.alerts,\n"
    "           text = table.concat(names, ',') .. ' common=' .. (data.commonLabels.instance or '-')\n"
    "             .. ' mobiles=' .. table.concat(data.mentions.mobiles, ',') }\n"
    "end\n";

/* Receiver r: template "cases", mentions mobile 100. */
static int open_rendering(const fixture *fx, script_state *s, char *err, size_t cap)
{
    fixture_write(fx, "templates/cases.lua", cases_template);
    return fixture_script(fx, NULL, "templates",
                          "default_receiver = 'r'\nreceivers = { r = { channel = 'console', "
                          "template = 'cases', mentions = { mobiles = { '100' } } } }",
                          s, err, cap);
}

/* Renders the first `len` of the n alerts labelled `labels` with r's
 * template and its mentions, in a fresh script state. */
static int render_alerts(const fixture *fx, const char *const *labels, size_t n, size_t len,
                         rendered *out, char *err, size_t cap)
{
    script_state s;
    if (open_rendering(fx, &s, err, cap))
        return -1;
    alert_batch batch;
    fixture_alerts(&batch, labels, n);
    const alert *alerts[8];
    for (size_t i = 0; i < n; i++)
        alerts[i] = &batch.alerts[i];
    const receiver *r = config_receiver(&s.gen->conf, "r");
    render_input in = {r, &batch, alerts, len, &r->mentions, 0, 0, NULL, NULL};
    int rc = render_template(&s, &in, out, err, cap);
    alert_batch_free(&batch);
    script_close(&s);
    return rc;
}

/* Renders one alert labelled render=which. */
static int render_case(const fixture *fx, const char *which, rendered *out, char *err,
                       size_t cap)
{
    char label[128];
    snprintf(label, sizeof label, "\"render\":\"%s\"", which);
    const char *labels[] = {label};
    return render_alerts(fx, labels, 1, 1, out, err, cap);
}

FIXTURE_TEST(a_template_makes_title_text_and_format)
{
    const char *labels[] = {"", ""};
    rendered msg;
    char err[512];
    if (render_alerts(fx, labels, 2, 2, &msg, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(msg.format, HERALD_FORMAT_TEXT);
    CHECK_STR(msg.title, "firing:2");
    CHECK_STR(msg.text, "i1,i2 common=- mobiles=100");
    /* Without mentions of its own the message keeps the receiver's. */
    CHECK_INT(msg.mentions.mobiles_len, 1);
    CHECK_STR(msg.mentions.mobiles[0], "100");
    rendered_free(&msg);
}

FIXTURE_TEST(common_labels_are_those_of_the_messages_alerts)
{
    const char *labels[] = {"", ""};
    rendered msg;
    char err[512];
    if (render_alerts(fx, labels, 2, 1, &msg, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_STR(msg.title, "firing:1");
    CHECK_STR(msg.text, "i1 common=i1 mobiles=100");
    rendered_free(&msg);
}

FIXTURE_TEST(the_format_is_markdown_unless_named)
{
    rendered msg;
    char err[512];
    if (render_case(fx, "markdown", &msg, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(msg.format, HERALD_FORMAT_MARKDOWN);
    CHECK_STR(msg.title, "**r**");
    CHECK_STR(msg.text, "*x*");
    rendered_free(&msg);
}

/* Each alert's digest entry: herald's own (its name and state, then what
 * tells it from the others: the instance, and labels that differ within
 * the message), with the template's words for the states, or the
 * template's own entries. */
FIXTURE_TEST(every_alert_gets_a_digest_entry)
{
    const char *labels[] = {"\"disk\":\"/var\"", "\"disk\":\"/home\""};
    rendered msg;
    char err[512];
    if (render_alerts(fx, labels, 2, 2, &msg, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(msg.entries_len, 2);
    CHECK_STR(msg.entries[0].group, "A firing");
    CHECK_STR(msg.entries[0].item, "i1 /var");
    CHECK_STR(msg.entries[1].item, "i2 /home");
    CHECK_STR(msg.entries[1].detail, "");
    rendered_free(&msg);

    if (render_case(fx, "digest-words", &msg, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(msg.entries_len, 1);
    CHECK_STR(msg.entries[0].group, "A F!");
    CHECK_STR(msg.entries[0].item, "i1"); /* render=… is the same for all: not listed */
    rendered_free(&msg);

    if (render_case(fx, "digest-list", &msg, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(msg.entries_len, 2);
    CHECK_STR(msg.entries[1].group, "G");
    CHECK_STR(msg.entries[1].item, "J");
    CHECK_STR(msg.entries[1].detail, "D");
    char *json = rendered_entries_to_json(&msg);
    CHECK_STR(json, "[[\"G\",\"I\",\"\"],[\"G\",\"J\",\"D\"]]");
    rendered back = {0};
    rendered_entries_from_json(&back, json);
    CHECK_INT(back.entries_len, 2);
    CHECK_STR(back.entries[1].detail, "D");
    free(json);
    rendered_free(&back);
    rendered_free(&msg);

    /* what needs escaping in JSON comes back as it was */
    rendered odd = {0};
    rendered_add_entry(&odd, "say \"hi\"\\", "line\nnext\ttab\x01", "中文 ✅");
    json = rendered_entries_to_json(&odd);
    CHECK_STR(json, "[[\"say \\\"hi\\\"\\\\\",\"line\\nnext\\ttab\\u0001\",\"中文 ✅\"]]");
    rendered_entries_from_json(&back, json);
    CHECK_INT(back.entries_len, 1);
    CHECK_STR(back.entries[0].group, odd.entries[0].group);
    CHECK_STR(back.entries[0].item, odd.entries[0].item);
    CHECK_STR(back.entries[0].detail, odd.entries[0].detail);
    free(json);
    rendered_free(&back);
    rendered_free(&odd);
}

FIXTURE_TEST(a_template_may_replace_the_mentions)
{
    rendered msg;
    char err[512];
    if (render_case(fx, "mentions", &msg, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_STR(msg.title, ""); /* none given */
    CHECK_INT(msg.mentions.mobiles_len, 1);
    CHECK_STR(msg.mentions.mobiles[0], "300");
    CHECK_INT(msg.mentions.user_ids_len, 1);
    CHECK_STR(msg.mentions.user_ids[0], "u9");
    CHECK_INT(msg.mentions.all, 1);
    rendered_free(&msg);
}

FIXTURE_TEST(a_template_error_names_the_file_and_line)
{
    rendered msg;
    char err[512] = "";
    CHECK_INT(render_case(fx, "error", &msg, err, sizeof err), -1);
    CHECK_CONTAINS(err, "templates/cases.lua:3: template failed on purpose");
}

FIXTURE_TEST(bad_results_are_named)
{
    static const struct {
        const char *which, *expected;
    } cases[] = {
        {"string", "cases.lua: the render function must return a table, it returned string"},
        {"format", "cases.lua: result.format: expected \"markdown\", \"text\" or \"html\""},
        {"no-text", "cases.lua: result.text: expected a string, got nil"},
        {"title", "cases.lua: result.title: expected a string, got number"},
        {"bad-mentions", "cases.lua: result.mentions: expected {mobiles = {...}, user_ids = {...}, "
                         "all = bool}"},
        {"body", "cases.lua: result.body: a function cannot be sent"},
        {"digest-bad", "cases.lua: result.digest: expected a table, got string"},
        {"digest-bad-entry", "cases.lua: result.digest[1]: expected {group = string, item = "
                             "string, detail = string or nil}"},
        {"digest-bad-detail", "cases.lua: result.digest[2]: expected {group = string, item = "
                              "string, detail = string or nil}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !harness_case_failed; i++) {
        rendered msg;
        char err[512] = "";
        if (render_case(fx, cases[i].which, &msg, err, sizeof err) == 0) {
            rendered_free(&msg);
            printf("    render=%s was accepted\n", cases[i].which);
            harness_case_failed = 1;
        } else if (!strstr(err, cases[i].expected)) {
            printf("    render=%s: \"%s\" lacks \"%s\"\n", cases[i].which, err, cases[i].expected);
            harness_case_failed = 1;
        }
    }
}

FIXTURE_TEST(a_template_not_loaded_is_named)
{
    script_state s;
    char err[512] = "";
    if (open_rendering(fx, &s, err, sizeof err))
        FAIL_AT("%s", err);
    receiver other = *config_receiver(&s.gen->conf, "r");
    char missing[] = "missing";
    other.template_name = missing;
    const char *labels[] = {""};
    alert_batch batch;
    fixture_alerts(&batch, labels, 1);
    const alert *alerts[] = {&batch.alerts[0]};
    render_input in = {&other, &batch, alerts, 1, &other.mentions, 0, 0, NULL, NULL};
    rendered msg;
    int rc = render_template(&s, &in, &msg, err, sizeof err);
    alert_batch_free(&batch);
    script_close(&s);
    CHECK_INT(rc, -1);
    CHECK_STR(err, "template \"missing\" is not loaded");
}

TEST(the_fallback_lists_every_alert_in_the_zone)
{
    static const char body[] =
        "{\"alerts\":["
        "{\"status\":\"firing\",\"labels\":{\"alertname\":\"Disk\",\"instance\":\"i1\"},"
        "\"annotations\":{\"summary\":\"disk full\"},\"startsAt\":\"2026-11-21T05:22:46Z\","
        "\"generatorURL\":\"http://127.0.0.1:9090/graph\"},"
        "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"Disk\",\"instance\":\"i2\"},"
        "\"startsAt\":\"2026-11-21T05:22:46Z\",\"endsAt\":\"2026-11-21T06:00:00Z\"}]}";
    alert_batch batch;
    char err[256];
    if (ingest_alertmanager(body, strlen(body), &batch, err, sizeof err))
        FAIL_AT("%s", err);
    tz_zone *zone = tz_load("Asia/Shanghai", err, sizeof err);
    const alert *alerts[] = {&batch.alerts[0], &batch.alerts[1]};
    mention_set mentions = {0};
    mention_set_add_user_id(&mentions, "u1");
    render_input in = {NULL, &batch, alerts, 2, &mentions, 0, 0, NULL, NULL};
    rendered both, resolved_only;
    render_fallback(&in, zone, &both);
    in.alerts = &alerts[1];
    in.len = 1;
    render_fallback(&in, zone, &resolved_only);
    tz_free(zone);
    alert_batch_free(&batch);
    mention_set_free(&mentions);
    CHECK_INT(both.format, HERALD_FORMAT_TEXT);
    CHECK_STR(both.title, "[FIRING:2] Disk");
    CHECK_STR(both.text, "[FIRING:2] Disk\n"
                         "\n[firing] alertname=Disk instance=i1\ndisk full\n"
                         "starts: 2026-11-21 13:22:46 CST\nsource: http://127.0.0.1:9090/graph\n"
                         "\n[resolved] alertname=Disk instance=i2\n"
                         "starts: 2026-11-21 13:22:46 CST\nends: 2026-11-21 14:00:00 CST\n");
    CHECK_INT(both.mentions.user_ids_len, 1);
    CHECK_STR(both.mentions.user_ids[0], "u1");
    CHECK_STR(resolved_only.title, "[RESOLVED:1] Disk");
    rendered_free(&both);
    rendered_free(&resolved_only);
}

TEST(the_status_is_firing_while_any_alert_fires)
{
    alert firing = {.status = ALERT_FIRING}, resolved = {.status = ALERT_RESOLVED};
    const alert *mixed[] = {&resolved, &firing};
    const alert *all_resolved[] = {&resolved, &resolved};
    CHECK_STR(render_status(mixed, 2), "firing");
    CHECK_STR(render_status(all_resolved, 2), "resolved");
    CHECK_STR(render_status(mixed, 1), "resolved");
    CHECK_STR(render_status(NULL, 0), "resolved");
}

FIXTURE_TEST(grafana_fields_reach_the_template)
{
    fixture_write(fx, "templates/grafana.lua",
                  "return function(data)\n"
                  "  local a = data.alerts[1]\n"
                  "  if not data.message then return { text = 'not from Grafana' } end\n"
                  "  return { title = data.title, text = table.concat({ data.message, data.state,\n"
                  "    a.valueString, a.values.B, a.dashboardURL, a.panelURL, a.silenceURL,\n"
                  "    a.imageURL, tostring(data.alerts[2].values) }, '|') }\n"
                  "end\n");
    script_state s;
    char err[512];
    if (fixture_script(fx, NULL, "templates",
                       "default_receiver = 'r'\nreceivers = { r = { channel = 'console', "
                       "template = 'grafana' } }",
                       &s, err, sizeof err))
        FAIL_AT("%s", err);
    static const char body[] =
        "{\"title\":\"[FIRING:1] CPU\",\"message\":\"m\",\"state\":\"alerting\",\"alerts\":["
        "{\"labels\":{\"alertname\":\"A\"},\"valueString\":\"[ var='B' value=22.5 ]\","
        "\"values\":{\"B\":22.5,\"C\":null},\"dashboardURL\":\"http://g/d\",\"panelURL\":\"http://g/p\","
        "\"silenceURL\":\"http://g/s\",\"imageURL\":\"http://g/i.png\"},"
        "{\"labels\":{\"alertname\":\"B\"}}]}";
    alert_batch batch;
    if (ingest_alertmanager(body, sizeof body - 1, &batch, err, sizeof err))
        FAIL_AT("%s", err);
    const alert *alerts[] = {&batch.alerts[0], &batch.alerts[1]};
    const receiver *r = config_receiver(&s.gen->conf, "r");
    render_input in = {r, &batch, alerts, 2, &r->mentions, 0, 0, NULL, NULL};
    rendered msg;
    if (render_template(&s, &in, &msg, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_STR(msg.title, "[FIRING:1] CPU");
    CHECK_STR(msg.text, "m|alerting|[ var='B' value=22.5 ]|22.5|http://g/d|http://g/p|http://g/s|"
                        "http://g/i.png|nil");
    rendered_free(&msg);
    alert_batch_free(&batch);
    script_close(&s);
}

RUN_TESTS(CASE(a_template_makes_title_text_and_format), CASE(grafana_fields_reach_the_template),
          CASE(common_labels_are_those_of_the_messages_alerts),
          CASE(the_format_is_markdown_unless_named), CASE(a_template_may_replace_the_mentions),
          CASE(every_alert_gets_a_digest_entry),
          CASE(a_template_error_names_the_file_and_line), CASE(bad_results_are_named),
          CASE(a_template_not_loaded_is_named), CASE(the_fallback_lists_every_alert_in_the_zone),
          CASE(the_status_is_firing_while_any_alert_fires))
