/* One script state serves request after request (each HTTP thread keeps
 * one): what the route script or a template changes in one call, no later
 * call and no other receiver's template sees. */
#include "harness.h"

#include "fixtures.h"
#include "pipeline/pipeline.h"

/* Goes to the receiver in the label "to". Each call first checks that it
 * starts clean, then leaves a global behind; "attack" makes it also try to
 * change what later calls see. */
static const char route_script[] =
    "return function(alert, default, receivers)\n"
    "  local l = alert.labels\n"
    "  if left_behind then error('a global of an earlier call is still set') end\n"
    "  left_behind = true\n"
    "  if l.attack == 'upper' then string.upper = function() return 'PWNED' end end\n"
    "  local targets = {}\n"
    "  for _, name in ipairs({ l.to or default }) do targets[#targets + 1] = name end\n"
    "  if l.attack == 'ipairs' then ipairs = function() error('ipairs was replaced') end end\n"
    "  return targets\n"
    "end\n";

/* Receiver a's: sets a global, and with attack=md_escape replaces a
 * helper. */
static const char evil_template[] =
    "return function(data)\n"
    "  leaked = 'by the evil template'\n"
    "  if data.alerts[1].labels.attack == 'md_escape' then\n"
    "    herald.md_escape = function() return 'HACKED' end\n"
    "  end\n"
    "  return { format = 'text', title = 'evil', text = 'evil' }\n"
    "end\n";

/* Receiver b's: shows what the others might have changed, whether its
 * own global of the last call is gone, and its module-level count. */
static const char victim_template[] =
    "local calls = 0\n"
    "return function(data)\n"
    "  calls = calls + 1\n"
    "  local before = mine\n"
    "  mine = 'set'\n"
    "  local names = {}\n"
    "  for _, a in ipairs(data.alerts) do names[#names + 1] = a.labels.alertname end\n"
    "  return { format = 'text', title = 'victim ' .. calls,\n"
    "           text = string.upper('abc') .. ' ' .. herald.md_escape('*x*') .. ' leaked='\n"
    "             .. tostring(leaked) .. ' before=' .. tostring(before) .. ' ' .. #names }\n"
    "end\n";

static int open_isolation(const fixture *fx, script_state *s, char *err, size_t cap)
{
    fixture_write(fx, "route.lua", route_script);
    fixture_write(fx, "templates/evil.lua", evil_template);
    fixture_write(fx, "templates/victim.lua", victim_template);
    return fixture_script(fx, "route.lua", "templates",
                          "default_receiver = 'b'\n"
                          "receivers = { a = { channel = 'console', template = 'evil' },\n"
                          "              b = { channel = 'console', template = 'victim' } }",
                          s, err, cap);
}

#define OPEN_ISOLATION(fx, s)                                                              \
    do {                                                                                   \
        char err_[1024];                                                                   \
        if (open_isolation(fx, s, err_, sizeof err_))                                      \
            FAIL_AT("%s", err_);                                                           \
    } while (0)

typedef struct request {
    char messages[1024]; /* "receiver: title / text", one a line */
    pipeline_stats stats;
} request;

/* Runs one request of alerts labelled `labels` through the pipeline on s. */
static void post(script_state *s, const char *const *labels, size_t n, request *r)
{
    alert_batch batch;
    pipeline_output out;
    fixture_alerts(&batch, labels, n);
    pipeline_run(s, &batch, NULL, &out, &r->stats);
    size_t used = 0;
    r->messages[0] = '\0';
    for (size_t i = 0; i < out.len; i++)
        used += (size_t)snprintf(r->messages + used, sizeof r->messages - used, "%s: %s / %s\n",
                                 out.items[i]->receiver, out.items[i]->content.title,
                                 out.items[i]->content.text);
    pipeline_output_free(&out);
    alert_batch_free(&batch);
}

FIXTURE_TEST(a_route_call_changes_nothing_later_calls_see)
{
    script_state s;
    OPEN_ISOLATION(fx, &s);
    request r;
    const char *upper[] = {"\"to\":\"b\",\"attack\":\"upper\""};
    post(&s, upper, 1, &r);
    /* The write is refused: the alert goes to the default receiver, b. */
    CHECK_INT(r.stats.route_errors, 1);
    CHECK_STR(r.messages, "b: victim 1 / ABC \\*x\\* leaked=nil before=nil 1\n");

    const char *replace_ipairs[] = {"\"to\":\"b\",\"attack\":\"ipairs\""};
    post(&s, replace_ipairs, 1, &r);
    CHECK_INT(r.stats.route_errors, 0);

    const char *plain[] = {"\"to\":\"b\"", "\"to\":\"b\""};
    post(&s, plain, 2, &r);
    CHECK_INT(r.stats.route_errors, 0);
    CHECK_INT(r.stats.template_errors, 0);
    CHECK_STR(r.messages, "b: victim 3 / ABC \\*x\\* leaked=nil before=nil 2\n");
    script_close(&s);
}

FIXTURE_TEST(a_template_changes_nothing_another_receivers_template_sees)
{
    script_state s;
    OPEN_ISOLATION(fx, &s);
    request r;
    const char *md_escape[] = {"\"to\":\"a\",\"attack\":\"md_escape\""};
    post(&s, md_escape, 1, &r);
    /* The write is refused: a gets the built-in fallback message. */
    CHECK_INT(r.stats.template_errors, 1);
    CHECK_CONTAINS(r.messages, "a: [FIRING:1] A / ");

    const char *to_a[] = {"\"to\":\"a\""};
    post(&s, to_a, 1, &r);
    CHECK_STR(r.messages, "a: evil / evil\n");

    const char *to_b[] = {"\"to\":\"b\""};
    for (int i = 1; i <= 3; i++) {
        post(&s, to_b, 1, &r);
        char expected[128];
        /* The count is a module-level local: it persists. */
        snprintf(expected, sizeof expected, "b: victim %d / ABC \\*x\\* leaked=nil before=nil 1\n", i);
        CHECK_STR(r.messages, expected);
    }
    script_close(&s);
}

RUN_TESTS(CASE(a_route_call_changes_nothing_later_calls_see),
          CASE(a_template_changes_nothing_another_receivers_template_sees))
