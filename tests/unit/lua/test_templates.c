/* The shipped templates rendered against a firing, a resolved and a mixed
 * group, shaped as the core builds them from the Alertmanager fixtures. */
#include <stdint.h>

#include <lauxlib.h>

#include "harness.h"
#include "action/links.h"
#include "lua/sandbox.h"
#include "lua/tz.h"

/* Alerts as Lua, from shared/fixtures/am-firing-5.json and
 * am-resolved-1.json (plus project labels); times are epoch seconds. */
#define ALERTS_LUA                                                                            \
    "local cpu = {status = 'firing', fingerprint = 'c8d6950943238eec',\n"                     \
    "  labels = {alertname = 'HostHighCpuLoad', env = 'prod', instance = '10.0.0.11:9100',\n" \
    "            job = 'node', severity = 'critical', team = 'sre', project = 'wms'},\n"      \
    "  annotations = {summary = 'Host high CPU load (instance 10.0.0.11:9100)',\n"            \
    "                 description = 'CPU load is > 80%\\n  VALUE = 81.50'},\n"                \
    "  startsAt = 1795238566.338,\n"                                                          \
    "  generatorURL = 'http://prometheus.example.com:9090/graph?g0.expr=up&g0.tab=1'}\n"      \
    "local cpu2 = {status = 'firing', fingerprint = 'e031d07ac693c24d',\n"                    \
    "  labels = {alertname = 'HostHighCpuLoad', env = 'prod', instance = '10.0.0.12:9100',\n" \
    "            severity = 'critical'},\n"                                                   \
    "  annotations = {summary = 'Host high CPU load (instance 10.0.0.12:9100)'},\n"           \
    "  startsAt = 1795238566.338, generatorURL = ''}\n"                                       \
    "local down = {status = 'resolved', fingerprint = '60f314997491ddb1',\n"                  \
    "  labels = {alertname = 'InstanceDown', env = 'prod', instance = '10.0.0.11:9100',\n"    \
    "            severity = 'critical'},\n"                                                   \
    "  annotations = {summary = 'Instance 10.0.0.11:9100 down',\n"                            \
    "                 description = 'node_exporter unreachable'},\n"                          \
    "  startsAt = 1795238566.39, endsAt = 1795238688.81,\n"                                   \
    "  generatorURL = 'http://prometheus.example.com:9090/graph?g0.expr=up'}\n"               \
    "local function group(status, firing, resolved, common)\n"                                \
    "  local alerts = {}\n"                                                                   \
    "  for _, a in ipairs(firing) do alerts[#alerts + 1] = a end\n"                           \
    "  for _, a in ipairs(resolved) do alerts[#alerts + 1] = a end\n"                         \
    "  return {receiver = 'ops', status = status, alerts = alerts, firing = firing,\n"        \
    "    resolved = resolved, commonLabels = common, commonAnnotations = {},\n"               \
    "    groupLabels = {alertname = common.alertname}, externalURL = 'http://am:9093',\n"     \
    "    groupKey = '{}:{alertname}', truncatedAlerts = 0,\n"                                 \
    "    mentions = {mobiles = {'13800000000'}, user_ids = {}, all = false},\n"               \
    "    now = 1795238700}\n"                                                                 \
    "end\n"

static const char *const groups[] = {
    [0] = "group('firing', {cpu}, {}, cpu.labels)",
    [1] = "group('resolved', {}, {down}, down.labels)",
    [2] = "group('firing', {cpu, cpu2}, {down}, {env = 'prod', severity = 'critical'})",
    [3] = "group('firing', {cpu, cpu2}, {}, {alertname = 'HostHighCpuLoad'})",
    /* an escalation's message: data.escalation set */
    [4] = "(function() local g = group('firing', {cpu}, {}, cpu.labels)\n"
          "  g.escalation = {from = 'ops_team', after = '15m', to = 'oncall'}\n"
          "  return g end)()",
};

typedef struct rendered {
    char format[32];
    char title[256];
    char text[16384];
    char error[600];
} rendered;

static rendered result;

/* Loads templates/<file>, renders it with groups[group] and keeps the
 * fields of the returned table in `result`. */
static const rendered *render_template(const char *file, int group)
{
    memset(&result, 0, sizeof result);
    char err[512], path[512], code[4096];
    tz_zone *zone = tz_load("Asia/Shanghai", err, sizeof err);
    lua_State *L = zone ? sandbox_new(NULL, zone) : NULL;
    if (!L) {
        snprintf(result.error, sizeof result.error, "no sandbox: %s", err);
        tz_free(zone);
        return &result;
    }
    snprintf(path, sizeof path, "%s/%s", TEMPLATE_DIR, file);
    snprintf(code, sizeof code, "%sreturn %s", ALERTS_LUA, groups[group]);
    if (sandbox_load_file(L, path, err, sizeof err) != 0 || sandbox_call(L, 0, 1, err, sizeof err) != 0 ||
        sandbox_load(L, "data.lua", code, strlen(code), err, sizeof err) != 0 ||
        sandbox_call(L, 0, 1, err, sizeof err) != 0 || sandbox_call(L, 1, 1, err, sizeof err) != 0) {
        snprintf(result.error, sizeof result.error, "%s", err);
    } else if (!lua_istable(L, -1)) {
        snprintf(result.error, sizeof result.error, "returned a %s", luaL_typename(L, -1));
    } else {
        lua_getfield(L, -1, "format");
        lua_getfield(L, -2, "title");
        lua_getfield(L, -3, "text");
        snprintf(result.format, sizeof result.format, "%s", lua_tostring(L, -3) ? lua_tostring(L, -3) : "");
        snprintf(result.title, sizeof result.title, "%s", lua_tostring(L, -2) ? lua_tostring(L, -2) : "");
        snprintf(result.text, sizeof result.text, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    }
    sandbox_close(L);
    tz_free(zone);
    if (getenv("HERALD_TEST_SHOW"))
        printf("---- %s group %d: %s\n%s\n", file, group, result.title, result.text);
    return &result;
}

#define RENDER_OK(file, group)                                                                \
    const rendered *r = render_template(file, group);                                          \
    if (r->error[0])                                                                           \
    FAIL_AT("%s: %s", file, r->error)

/* a appears in text before b. */
#define CHECK_ORDER(text, a, b)                                                               \
    do {                                                                                       \
        const char *a_at = strstr(text, a), *b_at = strstr(text, b);                           \
        if (!a_at || !b_at || a_at > b_at)                                                     \
            FAIL_AT("\"%s\" does not come before \"%s\" in:\n%s", a, b, text);                 \
    } while (0)

TEST(dingtalk_firing)
{
    RENDER_OK("dingtalk.lua", 0);
    CHECK_STR(r->format, "markdown");
    CHECK_STR(r->title, "[故障] HostHighCpuLoad");
    static const char *const expected[] = {
        "<font color=\"#FF0000\">", "🚨", "**告警名称**：HostHighCpuLoad", "**告警级别**：critical",
        "**告警主机**：10.0.0.11:9100", "**项目**：wms", "**环境**：prod",
        "**告警摘要**：Host high CPU load (instance 10.0.0.11:9100)",
        "**告警详情**：CPU load is > 80%\n  VALUE = 81.50", "**告警时间**：2026-11-21 13:22:46",
        "[查看详情](http://prometheus.example.com:9090/graph?g0.expr=up&g0.tab=1)",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        CHECK_CONTAINS(r->text, expected[i]);
    CHECK(strstr(r->text, "恢复") == NULL);
    CHECK(strstr(r->text, "{%") == NULL && strstr(r->text, "{{") == NULL);
    CHECK(strstr(r->text, "\n\n\n") == NULL);
}

TEST(dingtalk_resolved)
{
    RENDER_OK("dingtalk.lua", 1);
    CHECK_STR(r->title, "[恢复] InstanceDown");
    CHECK_CONTAINS(r->text, "✅");
    CHECK_CONTAINS(r->text, "<font color=\"#00B050\">");
    CHECK_CONTAINS(r->text, "**恢复时间**：2026-11-21 13:24:48");
    CHECK_CONTAINS(r->text, "**告警详情**：node\\_exporter unreachable");
    CHECK(strstr(r->text, "告警时间") == NULL);
    CHECK(strstr(r->text, "#FF0000") == NULL);
}

TEST(dingtalk_mixed_lists_firing_first)
{
    RENDER_OK("dingtalk.lua", 2);
    CHECK_STR(r->title, "[故障] HostHighCpuLoad 等 (2)");
    CHECK_CONTAINS(r->text, "🔥 故障 2 条");
    CHECK_CONTAINS(r->text, "✅ 恢复 1 条");
    CHECK_ORDER(r->text, "🔥 故障 2 条", "10.0.0.12:9100");
    CHECK_ORDER(r->text, "10.0.0.12:9100", "✅ 恢复 1 条");
    CHECK_ORDER(r->text, "✅ 恢复 1 条", "**恢复时间**");
    /* cpu2 has no source URL, so only two links. */
    const char *first = strstr(r->text, "[查看详情]");
    const char *second = first ? strstr(first + 1, "[查看详情]") : NULL;
    CHECK(second != NULL && strstr(second + 1, "[查看详情]") == NULL);
}

TEST(dingtalk_count_in_title)
{
    RENDER_OK("dingtalk.lua", 3);
    CHECK_STR(r->title, "[故障] HostHighCpuLoad (2)");
    CHECK_CONTAINS(r->text, "\n---\n");
}

TEST(dingtalk_en)
{
    {
        RENDER_OK("dingtalk_en.lua", 0);
        CHECK_STR(r->format, "markdown");
        CHECK_STR(r->title, "[FIRING] HostHighCpuLoad");
        CHECK_CONTAINS(r->text, "**Alert**: HostHighCpuLoad");
        CHECK_CONTAINS(r->text, "**Severity**: critical");
        CHECK_CONTAINS(r->text, "**Instance**: 10.0.0.11:9100");
        CHECK_CONTAINS(r->text, "**Project**: wms");
        CHECK_CONTAINS(r->text, "**Environment**: prod");
        CHECK_CONTAINS(r->text, "**Summary**: Host high CPU load");
        CHECK_CONTAINS(r->text, "**Started**: 2026-11-21 13:22:46");
        CHECK_CONTAINS(r->text, "[View source](http://prometheus.example.com:9090/");
        CHECK(strstr(r->text, "告警") == NULL);
    }
    {
        RENDER_OK("dingtalk_en.lua", 2);
        CHECK_CONTAINS(r->text, "Firing: 2");
        CHECK_ORDER(r->text, "Firing: 2", "Resolved: 1");
        CHECK_CONTAINS(r->text, "**Resolved**: 2026-11-21 13:24:48");
    }
}

TEST(console)
{
    {
        RENDER_OK("console.lua", 0);
        CHECK_STR(r->format, "text");
        CHECK_STR(r->title, "[FIRING:1] HostHighCpuLoad");
        CHECK_CONTAINS(r->text, "FIRING HostHighCpuLoad\n");
        CHECK_CONTAINS(r->text, "started:     2026-11-21 13:22:46\n");
        CHECK_CONTAINS(r->text, "labels:      alertname=HostHighCpuLoad env=prod "
                                "instance=10.0.0.11:9100 job=node project=wms severity=critical "
                                "team=sre\n");
        CHECK(strstr(r->text, "\\") == NULL);
    }
    {
        RENDER_OK("console.lua", 2);
        CHECK_ORDER(r->text, "FIRING HostHighCpuLoad", "RESOLVED InstanceDown");
        CHECK_CONTAINS(r->text, "resolved:    2026-11-21 13:24:48\n");
    }
}

/* Every template for a chat says it was escalated, from where, after how
 * long; an ordinary message does not. */
TEST(escalation_line)
{
    static const struct {
        const char *file, *line;
    } cases[] = {
        {"dingtalk.lua", "**⏫ 升级告警**：ops\\_team 超过 15m 未确认，已升级"},
        {"wecom.lua", "**⏫ 升级告警**：ops\\_team 超过 15m 未确认，已升级"},
        {"feishu.lua", "**⏫ 升级告警**：ops\\_team 超过 15m 未确认，已升级"},
        {"dingtalk_en.lua", "**⏫ Escalated** from ops\\_team after 15m unacknowledged"},
        {"console.lua", "escalated from ops_team after 15m\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        {
            RENDER_OK(cases[i].file, 4);
            CHECK_CONTAINS(r->text, cases[i].line);
        }
        {
            RENDER_OK(cases[i].file, 0);
            CHECK(strstr(r->text, "升级") == NULL && strstr(r->text, "scalated") == NULL);
        }
    }
}

/* The action links, on firing messages only, and only with external_url
 * and a key. */
TEST(action_links_on_firing_messages)
{
    static const struct {
        const char *file, *line;
    } chats[] = {
        {"dingtalk.lua", "静默 [1小时](https://h.example/action/"},
        {"wecom.lua", "静默 [1小时](https://h.example/action/"},
        {"feishu.lua", "静默 [1小时](https://h.example/action/"},
        {"dingtalk_en.lua", "Silence [1h](https://h.example/action/"},
    };
    action_key key = {.id = 1};
    action_links_set_key(&key);
    for (size_t i = 0; i < sizeof chats / sizeof chats[0]; i++) {
        action_links_set_url(NULL);
        {
            RENDER_OK(chats[i].file, 0);
            CHECK(strstr(r->text, "/action/") == NULL);
        }
        action_links_set_url("https://h.example");
        {
            RENDER_OK(chats[i].file, 0);
            CHECK_CONTAINS(r->text, chats[i].line);
            CHECK_CONTAINS(r->text, "24");
            CHECK(strstr(r->text, "·") && strstr(r->text, "](https://h.example/action/"));
        }
        {
            RENDER_OK(chats[i].file, 1);
            CHECK(strstr(r->text, "/action/") == NULL);
        }
    }
    action_links_reset();
}

RUN_TESTS(CASE(dingtalk_firing), CASE(dingtalk_resolved), CASE(dingtalk_mixed_lists_firing_first),
          CASE(dingtalk_count_in_title), CASE(dingtalk_en), CASE(console), CASE(escalation_line),
          CASE(action_links_on_firing_messages))
