/* The {{ }} / {% %} compiler and the herald.* helpers. */
#include <stdint.h>

#include <lauxlib.h>

#include "harness.h"
#include "lua_test_util.h"
#include "lua/sandbox.h"
#include "lua/template.h"
#include "lua/tz.h"

/* Compiles tmpl as "t.tmpl" with herald.compile and renders it with the
 * table the Lua expression data_expr builds. */
static const char *render(lua_State *L, const char *tmpl, const char *data_expr)
{
    static char result[RESULT_CAP];
    char err[512], code[1024];
    lua_getglobal(L, "herald");
    lua_getfield(L, -1, "compile");
    lua_remove(L, -2);
    lua_pushstring(L, tmpl);
    lua_pushliteral(L, "t.tmpl");
    if (sandbox_call(L, 2, 1, err, sizeof err) != 0) {
        snprintf(result, sizeof result, "ERROR: %s", err);
        return result;
    }
    snprintf(code, sizeof code, "return %s", data_expr);
    if (sandbox_load(L, "data.lua", code, strlen(code), err, sizeof err) != 0 ||
        sandbox_call(L, 0, 1, err, sizeof err) != 0 || sandbox_call(L, 1, 1, err, sizeof err) != 0) {
        lua_settop(L, 0);
        snprintf(result, sizeof result, "ERROR: %s", err);
        return result;
    }
    snprintf(result, sizeof result, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return result;
}

TEST(expressions)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(render(L, "Hello {{ name }}!", "{name = 'ops'}"), "Hello ops!");
    CHECK_STR(render(L, "a{{ missing }}b{{nil}}c", "{}"), "abc");
    CHECK_STR(render(L, "{{ 1 + 2 }} {{ n * 2 }} {{ flag }}", "{n = 21, flag = false}"), "3 42 false");
    CHECK_STR(render(L, "{{ string.upper(s) }}", "{s = 'up'}"), "UP");
    CHECK_STR(render(L, "{{ data.receiver }}/{{ receiver }}", "{receiver = 'r'}"), "r/r");
    CHECK_STR(render(L, "{{ labels.alertname }}", "{labels = {alertname = 'InstanceDown'}}"),
              "InstanceDown");
    CHECK_STR(render(L, "no tags at all\n", "{}"), "no tags at all\n");
    CHECK_STR(render(L, "", "{}"), "");
    sandbox_close(L);
}

TEST(closers_inside_lua_syntax)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(render(L, "{{ \"}}\" }}", "{}"), "}}");
    CHECK_STR(render(L, "{{ '{{' }}", "{}"), "{{");
    CHECK_STR(render(L, "{{ 'it\\'s }}' }}", "{}"), "it's }}");
    CHECK_STR(render(L, "{{ [[x}}]] }}", "{}"), "x}}");
    CHECK_STR(render(L, "{{ [==[a]]}}]==] }}", "{}"), "a]]}}");
    CHECK_STR(render(L, "{{ ({a = {1}}).a[1] }}", "{}"), "1");
    CHECK_STR(render(L, "{% local t = {x = {y = 'deep'}} %}{{ t.x.y }}", "{}"), "deep");
    CHECK_STR(render(L, "{{ v -- a note }}|{% -- just a comment %}|", "{v = 1}"), "1||");
    CHECK_STR(render(L, "{{ v --[[ }} ]] }}", "{v = 2}"), "2");
    CHECK_STR(render(L, "{{ '%}' }}", "{}"), "%}");
    sandbox_close(L);
}

TEST(code_blocks_and_tag_only_lines)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(render(L,
                     "items:\n"
                     "{% for _, v in ipairs(list) do %}\n"
                     "  - {{ v }}\n"
                     "{% end %}\n"
                     "done\n",
                     "{list = {'a', 'b'}}"),
              "items:\n  - a\n  - b\ndone\n");
    CHECK_STR(render(L,
                     "    {% if x then %}\n"
                     "yes\n"
                     "\t{% else %}  \n"
                     "no\n"
                     "  {% end %}\n",
                     "{x = true}"),
              "yes\n");
    /* Tags sharing a line with text or output keep that line. */
    CHECK_STR(render(L, "a {% if true then %}b{% end %} c\n", "{}"), "a b c\n");
    CHECK_STR(render(L, "  {% if true then %}{{ 'x' }}{% end %}\nend", "{}"), "  x\nend");
    CHECK_STR(render(L, "{% if true then %}{% end %}\nafter", "{}"), "after");
    /* CRLF templates trim the same way. */
    CHECK_STR(render(L, "{% if true then %}\r\nx\r\n{% end %}\r\n", "{}"), "x\r\n");
    /* Blank lines without tags stay. */
    CHECK_STR(render(L, "a\n\n{% local x = 1 %}\nb", "{}"), "a\n\nb");
    CHECK_STR(render(L, "{% local x = 5 %}{{ x }}", "{}"), "5");
    /* A multi-line tag alone on its lines vanishes too. */
    CHECK_STR(render(L, "a\n{% local t = {\n  1, 2,\n} %}\n{{ #t }}", "{}"), "a\n2");
    /* Template-defined functions can emit output: macros for free. */
    CHECK_STR(render(L,
                     "{% local function row(k, v) if v then %}\n"
                     "- {{ k }}: {{ v }}\n"
                     "{% end end %}\n"
                     "{% row('a', 1) %}\n"
                     "{% row('b', nil) %}\n"
                     "{% row('c', 3) %}\n",
                     "{}"),
              "- a: 1\n- c: 3\n");
    sandbox_close(L);
}

TEST(text_bytes_survive)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(render(L, "He said \"hi\" \\ 你好 🔥\t[x]\001\0017!", "{}"),
              "He said \"hi\" \\ 你好 🔥\t[x]\001\0017!");
    sandbox_close(L);
}

TEST(globals_do_not_leak)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(render(L, "{% leaked = 1 %}{{ leaked }}", "{}"), "1");
    CHECK_STR(eval(L, "return tostring(leaked)"), "nil");
    sandbox_close(L);
}

/* Data shadows the globals; a global read once is read again the same
 * way, and an assignment still wins over it for the rest of the render. */
TEST(names_resolve_to_data_then_globals)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(render(L, "{{ type(herald) }} {{ type(herald) }}", "{}"), "table table");
    CHECK_STR(render(L, "{{ herald }}", "{herald = 'from data'}"), "from data");
    CHECK_STR(render(L, "{{ type(ipairs) }}{% ipairs = 'mine' %} {{ ipairs }}", "{}"),
              "function mine");
    CHECK_STR(eval(L, "return type(ipairs)"), "function");
    CHECK_STR(render(L, "{{ type(next) }}", "{}"), "function");
    sandbox_close(L);
}

/* Each piece goes through tostring: numbers as Lua writes them, booleans,
 * and tables by their __tostring. */
TEST(output_of_every_type)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(render(L, "{{ 3 }} {{ 2.5 }} {{ 1e300 }} {{ true }} {{ t }}",
                     "{t = setmetatable({}, {__tostring = function() return 'T!' end})}"),
              "3 2.5 1e+300 true T!");
    CHECK_CONTAINS(render(L, "{{ t }}", "{t = setmetatable({}, {__tostring = function() return {} end})}"),
                   "'__tostring' must return a string");
    /* an output larger than the first block */
    CHECK_STR(render(L, "{{ string.rep('ab', 3000):sub(5999) }}{% for i = 1, 3 do %}{{ i }}{% end %}",
                     "{}"),
              "ab123");
    sandbox_close(L);
}

/* Renders reuse one output block (lua/template_output.c): a render inside
 * another's {{ }} gets a block of its own, a render a Lua error abandoned
 * spoils none that follow, and an output finished early keeps its text. */
TEST(outputs_share_a_block_safely)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(eval(L, "local inner = herald.compile('[{{ s }}]') "
                      "local outer = herald.compile('{{ a }}{{ inner({s = b}) }}{{ a }}') "
                      "local big = string.rep('x', 3000) "
                      "local one = outer({a = big, b = 'y', inner = inner}) "
                      "local two = outer({a = 'p', b = big, inner = inner}) "
                      "return #one .. one:sub(2999, 3004) .. #two .. two:sub(1, 3)"),
              "6003xx[y]x3004p[x");
    CHECK_CONTAINS(render(L, "{{ string.rep('z', 2000) }}{% error('boom') %}", "{}"), "boom");
    CHECK_STR(render(L, "{{ 'after' }}", "{}"), "after");
    CHECK_STR(render(L, "a{% local early = __h_finish(__h_out) %}b{{ early }}{{ __h_finish(__h_out) }}",
                     "{}"),
              "abaaba");
    sandbox_close(L);
}

/* The block kept for the next render is bounded: a huge render's block
 * is garbage once it is done. */
TEST(a_huge_render_does_not_pin_its_block)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(render(L, "{{ 'warm' }}", "{}"), "warm");
    lua_gc(L, LUA_GCCOLLECT);
    size_t before = sandbox_memory_used(L);
    CHECK_STR(render(L, "{% for i = 1, 512 do %}{{ string.rep('m', 1024) }}{% end %}{{ '' }}", "{}")
                  [0] == 'm' ? "ok" : "not rendered", "ok");
    lua_gc(L, LUA_GCCOLLECT);
    if (sandbox_memory_used(L) > before + (80 << 10))
        FAIL_AT("%zu bytes used after a huge render, %zu before", sandbox_memory_used(L), before);
    sandbox_close(L);
}

TEST(compile_errors_name_template_and_line)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(render(L, "line1\nline2 {{ x \nline3", "{}"),
              "ERROR: t.tmpl:2: unterminated {{ tag (no closing }})");
    CHECK_STR(render(L, "a\nb\n{% if x then\nc", "{}"),
              "ERROR: t.tmpl:3: unterminated {% tag (no closing %})");
    CHECK_STR(render(L, "{{ 'never closed }}", "{}"),
              "ERROR: t.tmpl:1: unterminated {{ tag (no closing }})");
    CHECK_STR(render(L, "x\n{{  }}", "{}"), "ERROR: t.tmpl:2: empty {{ }} expression");
    CHECK_CONTAINS(render(L, "line1\n{% if then %}\n{% end %}", "{}"), "ERROR: t.tmpl:2:");
    CHECK_CONTAINS(render(L, "1\n2\n{% for i = 1, 2 do %}\n4\n", "{}"), "ERROR: t.tmpl:");
    /* a stray end is named where it stands, text or names after it */
    CHECK_CONTAINS(render(L, "{% for i = 1, 2 do %}\nx\n{% end %}\ny\n{% end %}\nz\n", "{}"),
                   "ERROR: t.tmpl:5:");
    CHECK_CONTAINS(render(L, "{% end %}\ntext {{ a }}\n", "{}"), "ERROR: t.tmpl:1:");
    CHECK_CONTAINS(render(L, "x\n{% return 'early' %}\nbody {{ n }}\n", "{}"), "ERROR: t.tmpl:2:");

    char err[256] = "";
    char *lua = (char *)1;
    CHECK_INT(template_to_lua("dingtalk.tmpl", "{%", 2, &lua, err, sizeof err), -1);
    CHECK(lua == NULL);
    CHECK_STR(err, "dingtalk.tmpl:1: unterminated {% tag (no closing %})");
    sandbox_close(L);
}

TEST(runtime_errors_point_at_template_lines)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_CONTAINS(render(L,
                          "title\n"
                          "{% for i = 1, 2 do %}\n"
                          "row {{ i }}\n"
                          "{% end %}\n"
                          "{{ nothing.field }}\n",
                          "{}"),
                   "ERROR: t.tmpl:5: attempt to index a nil value");
    CHECK_CONTAINS(render(L, "text \"with\n\nnewlines\"\n{% local t = {\n1} %}\n\n{{ t.a.b }}", "{}"),
                   "ERROR: t.tmpl:7: attempt to index a nil value");
    CHECK_CONTAINS(render(L, "{{ 'a' }}\n\n{% error('custom') %}", "{}"), "ERROR: t.tmpl:3: custom");
    /* an output call running over several lines: each name on its own */
    CHECK_CONTAINS(render(L, "ok\n{{ a }} {{ nothing.field }}", "{a = 1}"),
                   "ERROR: t.tmpl:2: attempt to index a nil value");
    CHECK_CONTAINS(render(L, "{{ tostring(a) }}\ntext\n{{ string.upper(nothing.x) }}\nb", "{a = 1}"),
                   "ERROR: t.tmpl:3: attempt to index a nil value");
    CHECK_CONTAINS(render(L, "a\n{{ a }}\ntext\n{{ a }} {{ nothing.x }}\nb", "{a = 1}"),
                   "ERROR: t.tmpl:4: attempt to index a nil value");
    sandbox_close(L);
}

/* How often `call` occurs in the Lua that tmpl compiles to. */
static int calls_in(const char *tmpl, const char *call)
{
    char err[256];
    char *lua = NULL;
    if (template_to_lua("t.tmpl", tmpl, strlen(tmpl), &lua, err, sizeof err) != 0)
        return -1;
    int n = 0;
    for (const char *at = strstr(lua, call); at; at = strstr(at + 1, call))
        n++;
    free(lua);
    return n;
}

/* A line's texts and plain names go out in one call; anything that may
 * call a function goes out after what precedes it, with the text that
 * follows it, so a macro called in {{ }} still outputs in place. The
 * error lines of such calls are checked with the others above. */
TEST(a_line_of_text_and_names_is_one_append)
{
    CHECK_INT(calls_in("### {{ title }} ({{ #firing }}) {{ a.b.c }}\n", "__h_run("), 1);
    CHECK_INT(calls_in("### {{ title }} ({{ #firing }}) {{ a.b.c }}\n", "__h_append("), 0);
    CHECK_INT(calls_in("- {{ k }}: {{ herald.md_escape(v) }}\n", "__h_run("), 1);
    CHECK_INT(calls_in("- {{ k }}: {{ herald.md_escape(v) }}\n", "__h_append("), 1);
    /* a run goes on across lines, each name evaluated on its own */
    CHECK_INT(calls_in("{{ a }}\n{{ b }}\n", "__h_run("), 1);

    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(render(L,
                     "{% local function m(x) %}<{{ x }}>{% end %}"
                     "a{{ m(1) }}b{{ m(2) }}c {{ n }}{{ m(n) }}\n",
                     "{n = 3}"),
              "a<1>b<2>c 3<3>\n");
    /* one value, as before: not gsub's count, nor what follows a comma */
    CHECK_STR(render(L, "[{{ s:gsub('a', 'b') }}]", "{s = 'aa'}"), "[bb]");
    CHECK_STR(render(L, "[{{ s, 'extra' }}]", "{s = 'x'}"), "[x]");
    CHECK_STR(render(L, "{{ nothing }}|{{ # s }}|{{ t . u }}|{{ true }}", "{s = 'abc', t = {u = 'v'}}"),
              "|3|v|true");
    /* more pieces on one line than a Lua call takes arguments */
    char line[4096] = "";
    for (int i = 0; i < 300; i++)
        strcat(line, "{{ n }},");
    const char *out = render(L, line, "{n = 7}");
    CHECK_INT((int)strlen(out), 600);
    CHECK(strncmp(out, "7,7,7,", 6) == 0);
    sandbox_close(L);
}

TEST(truncate)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(eval(L, "return herald.truncate('hello world', 8, '...')"), "hello...");
    CHECK_STR(eval(L, "return herald.truncate('hello', 5)"), "hello");
    CHECK_STR(eval(L, "return herald.truncate('hello', 2, '...')"), "he");
    CHECK_STR(eval(L, "return herald.truncate(nil, 5)"), "");
    CHECK_STR(eval(L, "return herald.truncate(12345, 4, '')"), "1234");
    /* 你好世界: 3 bytes each; "…" is 3 bytes too. */
    CHECK_STR(eval(L, "return herald.truncate('你好世界', 7)"), "你…");
    CHECK_STR(eval(L, "return herald.truncate('你好世界', 9)"), "你好…");
    CHECK_STR(eval(L, "return herald.truncate('你好', 6)"), "你好");
    CHECK_STR(eval(L, "return herald.truncate('你好', 5)"), "…");
    /* 🔥 is 4 bytes. */
    CHECK_STR(eval(L, "return herald.truncate('🔥🔥🔥', 8)"), "🔥…");
    CHECK_STR(eval(L, "return herald.truncate('a🔥🔥', 9, '')"), "a🔥🔥");
    CHECK_STR(eval(L, "return herald.truncate('a🔥🔥', 8, '')"), "a🔥");
    CHECK_STR(eval(L, "for n = 0, 40 do\n"
                      "  local s = herald.truncate('告警🔥A详情✅情况', n)\n"
                      "  if #s > n or not utf8.len(s) then return n end\n"
                      "end\n"
                      "return 'ok'"),
              "ok");
    CHECK_CONTAINS(eval(L, "return herald.truncate('x', -1)"), "must not be negative");
    sandbox_close(L);
}

TEST(md_escape)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(eval(L, "return herald.md_escape('a*b_c [x](y) <b> `c` \\\\')"),
              "a\\*b\\_c \\[x\\](y) \\<b> \\`c\\` \\\\");
    CHECK_STR(eval(L, "return herald.md_escape('# title\\n- item\\n1. one\\n  + x\\n> q\\n===')"),
              "\\# title\n\\- item\n1\\. one\n  \\+ x\n\\> q\n\\===");
    CHECK_STR(eval(L, "return herald.md_escape('10.0.0.11:9100 CPU > 80% a-b 1.5 (x) {y} !')"),
              "10.0.0.11:9100 CPU > 80% a-b 1.5 (x) {y} !");
    CHECK_STR(eval(L, "return herald.md_escape('2024) year\\n3.')"), "2024\\) year\n3\\.");
    CHECK_STR(eval(L, "return herald.md_escape('告警_详情')"), "告警\\_详情");
    CHECK_STR(eval(L, "return herald.md_escape(nil)"), "");
    /* text needing no escape comes back as it is */
    CHECK_STR(eval(L, "return herald.md_escape('plain 10.0.0.1 text\\n  indented')"),
              "plain 10.0.0.1 text\n  indented");
    CHECK_STR(eval(L, "return herald.md_escape('a\\n2. b')"), "a\n2\\. b");
    sandbox_close(L);
}

TEST(sorted)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(eval(L, "local out = {}\n"
                      "for k, v in herald.sorted({b = 2, a = 1, c = 3, [2] = 'two', [1] = 'one'}) do\n"
                      "  out[#out + 1] = k .. '=' .. v\n"
                      "end\n"
                      "return table.concat(out, ',')"),
              "1=one,2=two,a=1,b=2,c=3");
    CHECK_STR(eval(L, "local out = {}\n"
                      "for k in herald.sorted({a = 1, B = 1, Z = 1, _ = 1, ['é'] = 1, aa = 1}) do\n"
                      "  out[#out + 1] = k\n"
                      "end\n"
                      "return table.concat(out, ',')"),
              "B,Z,_,a,aa,é");
    CHECK_STR(eval(L, "local n = 0 for _ in herald.sorted({}) do n = n + 1 end return n"), "0");
    CHECK_STR(eval(L, "local t = {a = 1, b = 2}\n"
                      "local out = {}\n"
                      "for k, v in herald.sorted(t) do t.b = nil out[#out + 1] = k end\n"
                      "return table.concat(out, ',')"),
              "a");
    CHECK_CONTAINS(eval(L, "return herald.sorted('x')"), "table expected");
    sandbox_close(L);
}

TEST(time_in_configured_zone)
{
    char err[256] = "";
    tz_zone *zone = tz_load("Asia/Shanghai", err, sizeof err);
    CHECK(zone != NULL);
    lua_State *L = sandbox_new(NULL, zone);
    CHECK_STR(eval(L, "return herald.time(1795238566.338)"), "2026-11-21 13:22:46");
    CHECK_STR(eval(L, "return herald.time(1795238566, '%H:%M %Z %z')"), "13:22 CST +0800");
    CHECK_STR(eval(L, "return herald.time(nil)"), "");
    CHECK_STR(eval(L, "return herald.time('1795238566')"), "2026-11-21 13:22:46");
    CHECK_STR(eval(L, "return herald.time(0, '')"), "");
    CHECK_STR(eval(L, "return #herald.time(0, string.rep('%c', 100))"), "2400");
    CHECK_CONTAINS(eval(L, "return herald.time('soon')"), "epoch seconds expected");
    CHECK_CONTAINS(eval(L, "return herald.time(0/0)"), "epoch out of range");
    CHECK_CONTAINS(eval(L, "return herald.time(1e300)"), "epoch out of range");
    sandbox_close(L);
    tz_free(zone);

    L = sandbox_new(NULL, NULL);
    CHECK_STR(eval(L, "return herald.time(1795238566, '%Y-%m-%dT%H:%M:%S%z')"),
              "2026-11-21T05:22:46+0000");
    sandbox_close(L);
}

RUN_TESTS(CASE(expressions), CASE(closers_inside_lua_syntax), CASE(code_blocks_and_tag_only_lines),
          CASE(text_bytes_survive), CASE(globals_do_not_leak),
          CASE(names_resolve_to_data_then_globals), CASE(output_of_every_type),
          CASE(outputs_share_a_block_safely), CASE(a_huge_render_does_not_pin_its_block),
          CASE(compile_errors_name_template_and_line), CASE(runtime_errors_point_at_template_lines),
          CASE(a_line_of_text_and_names_is_one_append),
          CASE(truncate), CASE(md_escape), CASE(sorted), CASE(time_in_configured_zone))
