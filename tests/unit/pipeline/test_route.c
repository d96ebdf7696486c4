/* Routing one alert: what the route script returns becomes its receivers,
 * each with the extra mentions the script gave it; anything else is an
 * error naming the file and what was wrong. */
#include "harness.h"

#include "fixtures.h"
#include "pipeline/route.h"
#include "pipeline/script.h"

/* What it returns depends on the alert's label "route". */
static const char route_script[] =
    "return function(alert, default, receivers)\n"
    "  local how = alert.labels.route\n"
    "  if how == 'names' then return { 'b', 'a', 'b' } end\n"
    "  if how == 'one' then return 'b' end\n"
    "  if how == 'mentions' then\n"
    "    return { 'a', { receiver = 'b', mobiles = { '201', 202 }, user_ids = { 'u1' }, all = true } }\n"
    "  end\n"
    "  if how == 'mute' then return {} end\n"
    "  if how == 'error' then error('route failed on purpose') end\n"
    "  if how == 'number' then return 42 end\n"
    "  if how == 'unknown' then return { 'nobody' } end\n"
    "  if how == 'nameless' then return { 'a', { mobiles = { '1' } } } end\n"
    "  if how == 'boolean' then return { true } end\n"
    "  if how == 'bad-mentions' then return { { receiver = 'a', mobiles = '201' } } end\n"
    "  if how == 'arguments' then\n"
    "    if receivers.a == 'console' and receivers.nobody == nil then return default end\n"
    "    return 'a'\n"
    "  end\n"
    "  return nil\n"
    "end\n";

/* Receivers a and b routed by route_script. */
static int open_routing(const fixture *fx, script_state *s, char *err, size_t cap)
{
    fixture_write(fx, "route.lua", route_script);
    return fixture_script(fx, "route.lua", NULL,
                          "default_receiver = 'a'\n"
                          "receivers = { a = { channel = 'console' }, b = { channel = 'console' } }",
                          s, err, cap);
}

typedef struct routed {
    route_result result;
    char receivers[128];  /* the targets' names, "b,a": they outlive the script state */
    char err[512];
} routed;

/* Routes one alert labelled route=how, `default_name` the default receiver. */
static int route_one(script_state *s, const char *how, const char *default_name, routed *out)
{
    char label[128];
    snprintf(label, sizeof label, "\"route\":\"%s\"", how);
    const char *labels[] = {label};
    alert_batch batch;
    fixture_alerts(&batch, labels, 1);
    out->err[0] = out->receivers[0] = '\0';
    int rc = route_alert(s, &batch.alerts[0], config_receiver(&s->gen->conf, default_name), NULL,
                         &out->result, out->err, sizeof out->err);
    alert_batch_free(&batch);
    for (size_t i = 0, used = 0; i < out->result.len; i++)
        used += (size_t)snprintf(out->receivers + used, sizeof out->receivers - used, "%s%s",
                                 i ? "," : "", out->result.items[i].receiver->name);
    return rc;
}

#define OPEN_ROUTING(fx, s)                                                                \
    do {                                                                                   \
        char err_[1024];                                                                   \
        if (open_routing(fx, s, err_, sizeof err_))                                        \
            FAIL_AT("%s", err_);                                                           \
    } while (0)

/* Routes one alert labelled route=how in a fresh script state. */
#define ROUTE_ONE(fx, how, default_name, out)                                              \
    do {                                                                                   \
        script_state s_;                                                                   \
        OPEN_ROUTING(fx, &s_);                                                             \
        int rc_ = route_one(&s_, how, default_name, out);                                  \
        script_close(&s_);                                                                 \
        if (rc_)                                                                           \
            FAIL_AT("route=%s: %s", how, (out)->err);                                      \
    } while (0)

FIXTURE_TEST(a_list_names_each_receiver_once_in_order)
{
    routed out;
    ROUTE_ONE(fx, "names", "a", &out);
    CHECK_STR(out.receivers, "b,a");
    CHECK_INT(out.result.items[0].mentions.mobiles_len, 0);
    route_result_free(&out.result);
}

FIXTURE_TEST(a_single_name_routes_to_that_receiver)
{
    routed out;
    ROUTE_ONE(fx, "one", "a", &out);
    CHECK_STR(out.receivers, "b");
    route_result_free(&out.result);
}

FIXTURE_TEST(nil_routes_to_the_default_receiver)
{
    routed to_a, to_b;
    ROUTE_ONE(fx, "", "a", &to_a);
    route_result_free(&to_a.result);
    ROUTE_ONE(fx, "", "b", &to_b);
    route_result_free(&to_b.result);
    CHECK_STR(to_a.receivers, "a");
    CHECK_STR(to_b.receivers, "b");
}

FIXTURE_TEST(the_script_gets_the_default_and_every_receivers_channel)
{
    routed out;
    ROUTE_ONE(fx, "arguments", "b", &out);
    route_result_free(&out.result);
    CHECK_STR(out.receivers, "b");
}

FIXTURE_TEST(a_table_gives_its_receiver_extra_mentions)
{
    routed out;
    ROUTE_ONE(fx, "mentions", "a", &out);
    CHECK_STR(out.receivers, "a,b");
    const mention_set *a = &out.result.items[0].mentions, *b = &out.result.items[1].mentions;
    CHECK_INT(a->mobiles_len + a->user_ids_len + (size_t)a->all, 0);
    CHECK_INT(b->mobiles_len, 2);
    CHECK_STR(b->mobiles[0], "201");
    CHECK_STR(b->mobiles[1], "202"); /* a number reads as its digits */
    CHECK_INT(b->user_ids_len, 1);
    CHECK_STR(b->user_ids[0], "u1");
    CHECK_INT(b->all, 1);
    route_result_free(&out.result);
}

FIXTURE_TEST(an_empty_list_mutes_the_alert)
{
    routed out;
    ROUTE_ONE(fx, "mute", "a", &out);
    CHECK_INT(out.result.len, 0);
    route_result_free(&out.result);
}

FIXTURE_TEST(a_script_error_names_the_file_and_line)
{
    script_state s;
    OPEN_ROUTING(fx, &s);
    routed out;
    int rc = route_one(&s, "error", "a", &out);
    script_close(&s);
    CHECK_INT(rc, -1);
    CHECK_CONTAINS(out.err, "route.lua:9: route failed on purpose");
    CHECK_INT(out.result.len, 0);
}

FIXTURE_TEST(bad_return_values_are_named)
{
    static const struct {
        const char *how, *expected;
    } cases[] = {
        {"number", "route.lua: the route function must return nil, a receiver name or a list, "
                   "got number"},
        {"unknown", "route.lua: result[1]: no receiver named \"nobody\""},
        {"nameless", "route.lua: result[2].receiver: expected a receiver name"},
        {"boolean", "route.lua: result[1]: expected a receiver name or a table, got boolean"},
        {"bad-mentions", "route.lua: result[1]: mobiles and user_ids must be lists of strings"},
    };
    script_state s;
    OPEN_ROUTING(fx, &s);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !harness_case_failed; i++) {
        routed out;
        int rc = route_one(&s, cases[i].how, "a", &out);
        size_t targets = out.result.len;
        route_result_free(&out.result);
        if (rc != -1)
            printf("    route=%s was accepted\n", cases[i].how);
        else if (!strstr(out.err, cases[i].expected))
            printf("    route=%s: \"%s\" lacks \"%s\"\n", cases[i].how, out.err,
                   cases[i].expected);
        else if (targets != 0)
            printf("    route=%s left %zu targets\n", cases[i].how, targets);
        else
            continue;
        harness_case_failed = 1;
    }
    script_close(&s);
}

RUN_TESTS(CASE(a_list_names_each_receiver_once_in_order),
          CASE(a_single_name_routes_to_that_receiver), CASE(nil_routes_to_the_default_receiver),
          CASE(the_script_gets_the_default_and_every_receivers_channel),
          CASE(a_table_gives_its_receiver_extra_mentions), CASE(an_empty_list_mutes_the_alert),
          CASE(a_script_error_names_the_file_and_line), CASE(bad_return_values_are_named))
