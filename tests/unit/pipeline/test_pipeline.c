/* Routing, grouping, rendering and their fallbacks, through a real
 * generation built from files. */
#include "harness.h"

#include "fixtures.h"
#include "pipeline/pipeline.h"

static const char route_script[] =
    "return function(alert, default, receivers, request)\n"
    "  local l = alert.labels\n"
    "  if l.route == 'request' then\n"
    "    return { { receiver = 'a', user_ids = { request.endpoint .. ':' .. tostring(request.receiver) } } }\n"
    "  end\n"
    "  if l.route == 'mute' then return {} end\n"
    "  if l.route == 'error' then error('route failed on purpose') end\n"
    "  if l.route == 'unknown' then return { 'nobody' } end\n"
    "  if l.route == 'both' then return { 'a', { receiver = 'b', mobiles = { l.mobile } } } end\n"
    "  if l.route == 'channel' then return { receivers.n == 'console' and 'n' or 'a' } end\n"
    "  return nil\n"
    "end\n";

static const char plain_template[] =
    "return function(data)\n"
    "  local names = {}\n"
    "  for _, a in ipairs(data.alerts) do names[#names + 1] = a.labels.instance or '?' end\n"
    "  return { format = 'text', title = data.status .. ':' .. #data.alerts,\n"
    "           text = table.concat(names, ',') .. ' firing=' .. #data.firing .. ' resolved=' .. #data.resolved }\n"
    "end\n";

static const char fragile_template[] =
    "return function(data)\n"
    "  for _, a in ipairs(data.alerts) do\n"
    "    if a.labels.boom then error('boom label') end\n"
    "    if a.labels.loop then while true do end end\n"
    "    if a.labels.trap then\n"
    "      return setmetatable({}, { __index = function() while true do end end })\n"
    "    end\n"
    "  end\n"
    "  return { text = 'ok' }\n"
    "end\n";

static const char native_template[] =
    "return function(data)\n"
    "  return { body = { msgtype = 'text', text = { content = 'n=' .. #data.alerts }, list = { 1, 2 } } }\n"
    "end\n";

/* Builds a generation from the files above plus `extra` receivers. */
static generation *build(const fixture *fx, const char *extra, char *err, size_t cap)
{
    fixture_write(fx, "route.lua", route_script);
    fixture_write(fx, "templates/plain.lua", plain_template);
    fixture_write(fx, "templates/fragile.lua", fragile_template);
    fixture_write(fx, "templates/native.lua", native_template);
    strbuf conf = STRBUF_INIT;
    sb_printf(&conf,
              "default_receiver = 'a'\nlua = { timeout = '1s' }\n"
              "receivers = {\n"
              "  a = { channel = 'console', template = 'plain', mentions = { mobiles = { '100' } } },\n"
              "  b = { channel = 'console', template = 'plain', split = 'alert' },\n"
              "  n = { channel = 'console', template = 'native' },\n"
              "  fragile = { channel = 'console', template = 'fragile' },\n"
              "  %s\n"
              "}\n",
              extra);
    generation *g = fixture_generation(fx, "route.lua", "templates", sb_str(&conf), err, cap);
    sb_free(&conf);
    return g;
}

typedef struct run_result {
    pipeline_output out;
    pipeline_stats stats;
} run_result;

static int run(generation *g, const char *const *labels, size_t n, const char *default_name,
               run_result *r)
{
    script_state s;
    char err[512];
    if (script_open(&s, g, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    alert_batch b;
    fixture_alerts(&b, labels, n);
    pipeline_run(&s, &b, default_name ? config_receiver(&g->conf, default_name) : NULL, &r->out,
                 &r->stats);
    alert_batch_free(&b);
    script_close(&s);
    return 0;
}

static const notification *for_receiver(const run_result *r, const char *name, size_t nth)
{
    for (size_t i = 0; i < r->out.len; i++)
        if (strcmp(r->out.items[i]->receiver, name) == 0 && nth-- == 0)
            return r->out.items[i];
    return NULL;
}

FIXTURE_TEST(default_route_groups_alerts_into_one_message)
{
    char err[1024];
    generation *g = build(fx, "", err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    const char *labels[] = {"", "", ""};
    run_result r;
    CHECK_INT(run(g, labels, 3, NULL, &r), 0);
    generation_unref(g);
    CHECK_INT(r.out.len, 1);
    const notification *n = r.out.items[0];
    CHECK_STR(n->receiver, "a");
    CHECK_STR(n->status, "firing");
    CHECK_INT(n->alert_count, 3);
    CHECK_INT(n->content.format, HERALD_FORMAT_TEXT);
    CHECK_STR(n->content.title, "firing:3");
    CHECK_STR(n->content.text, "i1,i2,i3 firing=3 resolved=0");
    CHECK_INT(n->content.mentions.mobiles_len, 1); /* the receiver's own */
    CHECK_STR(n->content.mentions.mobiles[0], "100");
    CHECK_INT(r.stats.alerts, 3);
    CHECK_INT(r.stats.route_errors, 0);
    pipeline_output_free(&r.out);
}

FIXTURE_TEST(fan_out_split_and_per_alert_mentions)
{
    char err[1024];
    generation *g = build(fx, "", err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    const char *labels[] = {"\"route\":\"both\",\"mobile\":\"201\"", "\"route\":\"both\",\"mobile\":\"202\""};
    run_result r;
    CHECK_INT(run(g, labels, 2, NULL, &r), 0);
    generation_unref(g);
    CHECK_INT(r.out.len, 3); /* a: one group; b: split into one per alert */
    const notification *a = for_receiver(&r, "a", 0);
    const notification *b1 = for_receiver(&r, "b", 0), *b2 = for_receiver(&r, "b", 1);
    CHECK(a && b1 && b2);
    CHECK_INT(a->alert_count, 2);
    CHECK_INT(b1->alert_count, 1);
    CHECK_STR(b1->content.text, "i1 firing=1 resolved=0");
    CHECK_STR(b2->content.text, "i2 firing=1 resolved=0");
    /* Each split message mentions only its own alert's on-call. */
    CHECK_INT(b1->content.mentions.mobiles_len, 1);
    CHECK_STR(b1->content.mentions.mobiles[0], "201");
    CHECK_STR(b2->content.mentions.mobiles[0], "202");
    pipeline_output_free(&r.out);
}

FIXTURE_TEST(muted_alerts_produce_nothing)
{
    char err[1024];
    generation *g = build(fx, "", err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    const char *labels[] = {"\"route\":\"mute\"", ""};
    run_result r;
    CHECK_INT(run(g, labels, 2, NULL, &r), 0);
    generation_unref(g);
    CHECK_INT(r.out.len, 1);
    CHECK_INT(r.out.items[0]->alert_count, 1);
    CHECK_INT(r.stats.muted, 1);
    pipeline_output_free(&r.out);
}

FIXTURE_TEST(route_errors_fall_back_to_the_default_receiver)
{
    char err[1024];
    generation *g = build(fx, "", err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    const char *labels[] = {"\"route\":\"error\"", "\"route\":\"unknown\""};
    run_result r;
    /* The request's default receiver (as /webhook/b gives) is where they go. */
    CHECK_INT(run(g, labels, 2, "b", &r), 0);
    generation_unref(g);
    CHECK_INT(r.stats.route_errors, 2);
    CHECK_INT(r.out.len, 2); /* b splits */
    CHECK_STR(r.out.items[0]->receiver, "b");
    CHECK_STR(r.out.items[1]->receiver, "b");
    pipeline_output_free(&r.out);
}

FIXTURE_TEST(route_sees_configured_receivers)
{
    char err[1024];
    generation *g = build(fx, "", err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    const char *labels[] = {"\"route\":\"channel\""};
    run_result r;
    CHECK_INT(run(g, labels, 1, NULL, &r), 0);
    generation_unref(g);
    CHECK_INT(r.out.len, 1);
    CHECK_STR(r.out.items[0]->receiver, "n");
    pipeline_output_free(&r.out);
}

FIXTURE_TEST(template_errors_send_the_fallback_message)
{
    char err[1024];
    generation *g = build(fx, "", err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    const char *labels[] = {"\"boom\":\"1\""};
    run_result r;
    CHECK_INT(run(g, labels, 1, "fragile", &r), 0);
    CHECK_INT(r.stats.template_errors, 1);
    CHECK_INT(r.out.len, 1);
    const notification *n = r.out.items[0];
    CHECK_INT(n->content.format, HERALD_FORMAT_TEXT);
    CHECK_STR(n->content.title, "[FIRING:1] A");
    CHECK_CONTAINS(n->content.text, "alertname=A");
    CHECK_CONTAINS(n->content.text, "instance=i1");
    CHECK_CONTAINS(n->content.text, "starts: 2026-11-21");
    pipeline_output_free(&r.out);

    /* A runaway template is stopped by the deadline, not the router. */
    const char *loop[] = {"\"loop\":\"1\""};
    CHECK_INT(run(g, loop, 1, "fragile", &r), 0);
    CHECK_INT(r.stats.template_errors, 1);
    CHECK_INT(r.out.len, 1);
    CHECK_STR(r.out.items[0]->content.title, "[FIRING:1] A");
    pipeline_output_free(&r.out);

    /* A result whose fields are behind a metamethod is read raw: none of
     * the template's code runs outside the deadline, nothing hangs. */
    const char *trap[] = {"\"trap\":\"1\""};
    CHECK_INT(run(g, trap, 1, "fragile", &r), 0);
    generation_unref(g);
    CHECK_INT(r.stats.template_errors, 1);
    CHECK_STR(r.out.items[0]->content.title, "[FIRING:1] A");
    pipeline_output_free(&r.out);
}

FIXTURE_TEST(native_body_becomes_json)
{
    char err[1024];
    generation *g = build(fx, "", err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    const char *labels[] = {"", ""};
    run_result r;
    CHECK_INT(run(g, labels, 2, "n", &r), 0);
    generation_unref(g);
    CHECK_INT(r.out.len, 1);
    CHECK_INT(r.out.items[0]->content.format, HERALD_FORMAT_NATIVE);
    CHECK_CONTAINS(r.out.items[0]->content.text, "\"text\":{\"content\":\"n=2\"}");
    CHECK_CONTAINS(r.out.items[0]->content.text, "\"list\":[1,2]");
    pipeline_output_free(&r.out);
}

FIXTURE_TEST(broken_template_is_refused_at_build)
{
    char err[1024] = "";
    fixture_write(fx, "templates/bad.lua", "return function(data)\n  return data.nope.field\nend\n");
    generation *g = build(fx, "bad = { channel = 'console', template = 'bad' },", err, sizeof err);
    if (g) {
        generation_unref(g);
        FAIL_AT("a template that cannot render was accepted");
    }
    CHECK_CONTAINS(err, "receivers.bad: template bad fails on the firing sample");
    CHECK_CONTAINS(err, "templates/bad.lua:2:");

    fixture_write(fx, "templates/bad.lua", "return function(data)\n  return {\nend\n");
    g = build(fx, "bad = { channel = 'console', template = 'bad' },", err, sizeof err);
    CHECK(g == NULL);
    CHECK_CONTAINS(err, "templates/bad.lua:3:");
}

FIXTURE_TEST(installed_generation_is_shared_by_reference)
{
    char err[1024];
    generation *g = build(fx, "", err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    generation_install(g);
    generation *held = generation_acquire();
    CHECK(held == g);
    generation *next = build(fx, "", err, sizeof err);
    CHECK(next != NULL);
    generation_install(next); /* the old one lives on while held */
    CHECK_INT(held->conf.receivers_len, 4);
    CHECK(next->number > held->number);
    generation_unref(held);
    generation_install(NULL);
}

/* The route's 4th argument says which endpoint and path receiver the
 * alerts came in with (here echoed into a mention). */
static const char *request_seen(generation *g, const char *endpoint, const char *path_receiver,
                                char *seen, size_t cap)
{
    script_state s;
    if (script_open(&s, g, seen, cap))
        return seen;
    const char *labels[] = {"\"route\":\"request\""};
    alert_batch b;
    fixture_alerts(&b, labels, 1);
    b.endpoint = endpoint;
    run_result r;
    pipeline_run(&s, &b, path_receiver ? config_receiver(&g->conf, path_receiver) : NULL, &r.out,
                 &r.stats);
    snprintf(seen, cap, "%s", r.out.len == 1 && r.out.items[0]->content.mentions.user_ids_len == 1
                                  ? r.out.items[0]->content.mentions.user_ids[0]
                                  : "?");
    pipeline_output_free(&r.out);
    alert_batch_free(&b);
    script_close(&s);
    return seen;
}

FIXTURE_TEST(route_sees_the_endpoint_and_the_path_receiver)
{
    char err[1024];
    generation *g = build(fx, "", err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    char seen[64];
    CHECK_STR(request_seen(g, "dingtalk", "b", seen, sizeof seen), "dingtalk:b");
    CHECK_STR(request_seen(g, "webhook", NULL, seen, sizeof seen), "webhook:nil");
    CHECK_STR(request_seen(g, "alerts", NULL, seen, sizeof seen), "alerts:nil");
    CHECK_STR(request_seen(g, NULL, "a", seen, sizeof seen), "webhook:a");
    generation_unref(g);
}

FIXTURE_TEST(a_group_over_the_channels_budget_goes_as_numbered_parts)
{
    char err[1024];
    generation *g = build(fx, "", err, sizeof err);
    if (!g)
        FAIL_AT("%s", err);
    /* The ten alerts' text is 50 bytes, so they are tried as three parts
     * (50 / 30, and one more): "i1,i2,i3,i4 firing=4 resolved=0" is 31
     * bytes, over 30, so that one is halved; the other two fit. */
    receiver *a = (receiver *)config_receiver(&g->conf, "a");
    a->text_budget = 30;
    const char *labels[10] = {"", "", "", "", "", "", "", "", "", ""};
    run_result r;
    CHECK_INT(run(g, labels, 10, NULL, &r), 0);
    CHECK_INT(r.out.len, 4);
    static const char *const titles[] = {"firing:2 (1/4)", "firing:2 (2/4)", "firing:3 (3/4)",
                                         "firing:3 (4/4)"};
    static const char *const texts[] = {"i1,i2", "i3,i4", "i5,i6,i7", "i8,i9,i10"};
    for (size_t i = 0; i < 4; i++) {
        const notification *n = r.out.items[i];
        CHECK_STR(n->content.title, titles[i]);
        CHECK(strncmp(n->content.text, texts[i], strlen(texts[i])) == 0 &&
              n->content.text[strlen(texts[i])] == ' ');
        CHECK(strlen(n->content.text) <= 30);
    }
    CHECK_INT(r.stats.template_errors, 0);
    pipeline_output_free(&r.out);
    /* One alert over the budget stays whole: the channel cuts it. */
    a->text_budget = 10;
    CHECK_INT(run(g, labels, 1, NULL, &r), 0);
    CHECK_INT(r.out.len, 1);
    CHECK_STR(r.out.items[0]->content.title, "firing:1");
    pipeline_output_free(&r.out);
    generation_unref(g);
}

RUN_TESTS(CASE(default_route_groups_alerts_into_one_message),
          CASE(a_group_over_the_channels_budget_goes_as_numbered_parts),
          CASE(route_sees_the_endpoint_and_the_path_receiver),
          CASE(fan_out_split_and_per_alert_mentions), CASE(muted_alerts_produce_nothing),
          CASE(route_errors_fall_back_to_the_default_receiver),
          CASE(route_sees_configured_receivers), CASE(template_errors_send_the_fallback_message),
          CASE(native_body_becomes_json), CASE(broken_template_is_refused_at_build),
          CASE(installed_generation_is_shared_by_reference))
