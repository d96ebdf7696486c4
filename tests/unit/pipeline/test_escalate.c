/* Escalation in the route result and the pipeline: a route item's
 * `escalate` (one step or a list) read and checked, every mistake named
 * with the file and the item; a firing alert's escalations rendered at
 * ingest for each step's receiver, with data.escalation, and none for a
 * resolved one. */
#include "harness.h"

#include "fixtures.h"
#include "pipeline/pipeline.h"
#include "pipeline/route.h"
#include "pipeline/script.h"

/* What it returns depends on the alert's label "route". */
static const char route_script[] =
    "local cases = {\n"
    "  one = { after = '15m', to = 'b' },\n"
    "  chain = { { after = '3s', to = 'b' }, { after = '1h', to = 'c' } },\n"
    "  ['no-after'] = { to = 'b' },\n"
    "  ['bad-after'] = { after = 'soon', to = 'b' },\n"
    "  ['number-after'] = { after = 900, to = 'b' },\n"
    "  ['no-to'] = { after = '1m' },\n"
    "  ['unknown-to'] = { after = '1m', to = 'nobody' },\n"
    "  ['to-self'] = { after = '1m', to = 'a' },\n"
    "  ['not-later'] = { { after = '1h', to = 'b' }, { after = '30m', to = 'c' } },\n"
    "  twice = { { after = '1m', to = 'b' }, { after = '2m', to = 'b' } },\n"
    "  ['not-a-table'] = 'b',\n"
    "  ['bad-step'] = { { after = '1m', to = 'b' }, 'c' },\n"
    "  ['too-many'] = { {after='1s',to='b'}, {after='2s',to='c'}, {after='3s',to='b'},\n"
    "    {after='4s',to='c'}, {after='5s',to='b'}, {after='6s',to='c'}, {after='7s',to='b'},\n"
    "    {after='8s',to='c'}, {after='9s',to='b'} },\n"
    "}\n"
    "return function(alert)\n"
    "  return { 'c', { receiver = 'a', escalate = cases[alert.labels.route] } }\n"
    "end\n";

static const char echo_template[] =
    "return function(data)\n"
    "  local e = data.escalation\n"
    "  return { format = 'text', title = data.receiver,\n"
    "           text = e and (e.from .. '>' .. e.to .. '@' .. e.after) or 'plain' }\n"
    "end\n";

static int open_routing(const fixture *fx, script_state *s, char *err, size_t cap)
{
    fixture_write(fx, "route.lua", route_script);
    fixture_write(fx, "templates/echo.lua", echo_template);
    return fixture_script(fx, "route.lua", "templates",
                          "default_receiver = 'a'\n"
                          "receivers = { a = { channel = 'console', template = 'echo' },"
                          " b = { channel = 'console', template = 'echo' },"
                          " c = { channel = 'console', template = 'echo' } }",
                          s, err, cap);
}

static int route_one(script_state *s, const char *how, route_result *out, char *err,
                     size_t cap)
{
    char label[128];
    snprintf(label, sizeof label, "\"route\":\"%s\"", how);
    const char *labels[] = {label};
    alert_batch batch;
    fixture_alerts(&batch, labels, 1);
    err[0] = '\0';
    int rc = route_alert(s, &batch.alerts[0], config_receiver(&s->gen->conf, "a"), NULL, out,
                         err, cap);
    alert_batch_free(&batch);
    return rc;
}

#define OPEN_ROUTING(fx, s)                                                                \
    do {                                                                                   \
        char err_[1024];                                                                   \
        if (open_routing(fx, s, err_, sizeof err_))                                        \
            FAIL_AT("%s", err_);                                                           \
    } while (0)

FIXTURE_TEST(one_step_and_a_chain_are_read)
{
    script_state s;
    OPEN_ROUTING(fx, &s);
    route_result one, chain;
    char err[512];
    CHECK_INT(route_one(&s, "one", &one, err, sizeof err), 0);
    CHECK_INT(route_one(&s, "chain", &chain, err, sizeof err), 0);
    CHECK_INT(one.len, 2);
    CHECK_INT(one.items[0].escalate.len, 0); /* c escalates nowhere */
    const escalation *e = &one.items[1].escalate;
    CHECK_INT(e->len, 1);
    CHECK_STR(e->steps[0].to->name, "b");
    CHECK_INT(e->steps[0].after_ms, 15 * 60 * 1000);
    CHECK_STR(e->steps[0].after, "15m");
    e = &chain.items[1].escalate;
    CHECK_INT(e->len, 2);
    CHECK_STR(e->steps[0].to->name, "b");
    CHECK_INT(e->steps[0].after_ms, 3000);
    CHECK_STR(e->steps[1].to->name, "c");
    CHECK_INT(e->steps[1].after_ms, 3600 * 1000);
    route_result_free(&one);
    route_result_free(&chain);
    script_close(&s);
}

FIXTURE_TEST(mistakes_are_named_with_the_item)
{
    static const struct {
        const char *how, *expected;
    } cases[] = {
        {"no-after", "route.lua: result[2].escalate.after: expected a duration such as \"15m\""},
        {"bad-after", "result[2].escalate.after: expected a duration"},
        {"number-after", "result[2].escalate.after: expected a duration"},
        {"no-to", "result[2].escalate.to: expected a receiver name"},
        {"unknown-to", "result[2].escalate.to: no receiver named \"nobody\""},
        {"to-self", "result[2].escalate.to: \"a\" is the receiver it escalates from"},
        {"not-later", "result[2].escalate[2].after: 30m is not later than the step before (1h)"},
        {"twice", "result[2].escalate[2].to: \"b\" is escalated to twice"},
        {"not-a-table", "result[2].escalate: expected { after = \"15m\", to = \"oncall\" } or a "
                        "list of them, got string"},
        {"bad-step", "result[2].escalate[2]: expected a table"},
        {"too-many", "result[2].escalate: 9 steps, at most 8"},
    };
    script_state s;
    OPEN_ROUTING(fx, &s);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !harness_case_failed; i++) {
        route_result out;
        char err[512];
        int rc = route_one(&s, cases[i].how, &out, err, sizeof err);
        size_t targets = out.len;
        route_result_free(&out);
        if (rc != -1)
            printf("    route=%s was accepted\n", cases[i].how);
        else if (!strstr(err, cases[i].expected))
            printf("    route=%s: \"%s\" lacks \"%s\"\n", cases[i].how, err, cases[i].expected);
        else if (targets != 0)
            printf("    route=%s left %zu targets\n", cases[i].how, targets);
        else
            continue;
        harness_case_failed = 1;
    }
    script_close(&s);
}

FIXTURE_TEST(a_firing_alert_gets_one_waiting_message_per_step)
{
    script_state s;
    OPEN_ROUTING(fx, &s);
    const char *labels[] = {"\"route\":\"chain\""};
    alert_batch batch;
    fixture_alerts(&batch, labels, 1);
    pipeline_output out;
    pipeline_stats stats;
    pipeline_run(&s, &batch, NULL, &out, &stats);
    /* b and c's escalations, then c's and a's own messages */
    CHECK_INT(out.len, 4);
    size_t waiting = 0;
    for (size_t i = 0; i < out.len && !harness_case_failed; i++) {
        const notification *n = out.items[i];
        if (!n->escalate_at_ms) {
            CHECK_STR(n->content.text, "plain");
            continue;
        }
        waiting++;
        CHECK_INT(n->alerts_len, 1);
        if (strcmp(n->receiver, "b") == 0) {
            CHECK_STR(n->content.text, "a>b@3s");
            CHECK_STR(n->escalated_from, "a");
            CHECK_INT(n->escalate_at_ms - n->created_ms, 3000);
        } else {
            CHECK_STR(n->receiver, "c");
            CHECK_STR(n->content.text, "b>c@1h");
            CHECK_STR(n->escalated_from, "b");
            CHECK_INT(n->escalate_at_ms - n->created_ms, 3600 * 1000);
        }
    }
    CHECK_INT(waiting, 2);
    pipeline_output_free(&out);
    /* resolved: nothing to escalate */
    batch.alerts[0].status = ALERT_RESOLVED;
    pipeline_run(&s, &batch, NULL, &out, &stats);
    CHECK_INT(out.len, 2);
    CHECK_INT(out.items[0]->escalate_at_ms + out.items[1]->escalate_at_ms, 0);
    pipeline_output_free(&out);
    alert_batch_free(&batch);
    script_close(&s);
}

RUN_TESTS(CASE(one_step_and_a_chain_are_read), CASE(mistakes_are_named_with_the_item),
          CASE(a_firing_alert_gets_one_waiting_message_per_step))
