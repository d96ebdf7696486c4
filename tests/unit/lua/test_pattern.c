/* herald's pattern functions (lua/pattern.h): identical to Lua 5.4's
 * string.find, match, gmatch and gsub, results and errors, over a table of
 * cases and thousands of random pattern/subject pairs; and bounded by the
 * call's deadline where Lua's would run for ever. */
#include <stdbool.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lualib.h>

#include "harness.h"
#include "lua_test_util.h"
#include "lua/sandbox.h"
#include "util/strbuf.h"

/* Runs every case through the string table it finds and returns one line
 * per case: "ok" or "err" and the results, or the error message. The same
 * text runs in a plain Lua state (Lua's own functions) and in the sandbox
 * (herald's), and the two outputs must be equal. */
static const char driver[] =
    "local out = {}\n"
    "local function show(v)\n"
    "  if type(v) == 'string' then return string.format('%q', v) end\n"
    "  return type(v) .. ':' .. tostring(v)\n"
    "end\n"
    "local function record(ok, ...)\n"
    "  local parts = { ok and 'ok' or 'err' }\n"
    "  for i = 1, select('#', ...) do parts[#parts + 1] = show((select(i, ...))) end\n"
    "  out[#out + 1] = table.concat(parts, ' ')\n"
    "end\n"
    "local function iterate(...)\n"
    "  local found, n = {}, 0\n"
    "  for a, b, c in string.gmatch(...) do\n"
    "    n = n + 1\n"
    "    found[n] = show(a) .. ',' .. show(b) .. ',' .. show(c)\n"
    "    if n > 50 then break end\n"
    "  end\n"
    "  return table.concat(found, ';')\n"
    "end\n"
    "local function run(name, ...)\n"
    "  if name == 'gmatch' then record(pcall(iterate, ...))\n"
    "  elseif name == 'method' then\n"
    "    local s, p = ...\n"
    "    record(pcall(function() return s:find(p), s:match(p), (s:gsub(p, '<%0>')) end))\n"
    "  else record(pcall(string[name], ...)) end\n"
    "end\n"
    "local cases = ...\n"
    "for _, c in ipairs(cases) do run(table.unpack(c, 1, c.n)) end\n"
    /* Random patterns from pieces that exercise every feature, over short
     * subjects so that Lua's own matching stays fast. */
    "local seed = 12345\n"
    "local function rand(n)\n"
    "  seed = (seed * 1103515245 + 12345) % 2147483648\n"
    "  return seed % n + 1\n"
    "end\n"
    "local pieces = { 'a', 'b', '.', '%a', '%d', '%s', '%W', '%p', '%x', '%u', '%L', '[ab]', '[^a]',\n"
    "  '[a-c]', '[%d_]', '[]]', '[^]a]', '[a-]', '*', '+', '-', '?', '^', '$', '(', ')', '()', '%1',\n"
    "  '%2', '%b()', '%bab', '%f[%w]', '%f[%W]', '%f[a]', '%', '[', '%z', '%.', '%%', '\\0', '1', 'x' }\n"
    "local letters = { 'a', 'b', 'c', '1', '2', ' ', '(', ')', '.', '%', 'x', '_', '\\0', 'A', '\\200' }\n"
    "local functions = { 'find', 'match', 'gmatch', 'gsub', 'gsub', 'find' }\n"
    "local replacements = { '[%0]', '%1-%2', '%%', 'x', '%', '%9' }\n"
    "for _ = 1, 4000 do\n"
    "  local p, s = {}, {}\n"
    "  for i = 1, rand(6) do p[i] = pieces[rand(#pieces)] end\n"
    "  for i = 1, rand(10) - 1 do s[i] = letters[rand(#letters)] end\n"
    "  local name = functions[rand(#functions)]\n"
    "  local subject, pattern = table.concat(s), table.concat(p)\n"
    "  if name == 'gsub' then run(name, subject, pattern, replacements[rand(#replacements)])\n"
    "  else run(name, subject, pattern, rand(12) - 6) end\n"
    "end\n"
    "return table.concat(out, '\\n')\n";

/* Each case is {function, arguments...} with n for trailing nils; the
 * parts are joined into one chunk (a C string literal has a size limit). */
static const char *const case_parts[] = {
    "local function f(...) return table.pack(...) end\n"
    "local twice = function(x) return x .. x end\n"
    "local position = function(a, b) return a .. ':' .. tostring(b) end\n"
    "return {\n"
    "  f('find', 'hello world', 'o w'), f('find', 'hello world', 'o', 6), f('find', 'hello', 'l', -2),\n"
    "  f('find', 'hello', 'l', -100), f('find', 'hello', 'l', 0), f('find', 'hello', '', 6),\n"
    "  f('find', 'hello', '', 7), f('find', 'hello', '', 100), f('find', 'a.b', '.', 1, true),\n"
    "  f('find', 'a+b', '+', 1, true), f('find', '', ''), f('find', 'abc', '^b'), f('find', 'abc', '^a'),\n"
    "  f('find', 'abc', 'c$'), f('find', 'abc', 'b$'), f('find', 'a$c', '$c'), f('find', 'ab', '(a)(b)'),\n"
    "  f('find', 'x\\0y', '\\0'), f('find', 'x\\0y', '%z'), f('find', 'x\\0y', '[\\0]'), f('find', 12345, 34),\n"
    "  f('find', 'abc', 'b', 2.0), f('find', 'abc', 'b', '2'), f('find', 'abc', 'b', 1.5), f('find', 'abc', 'b', {}),\n"
    "  f('find', nil, 'a'), f('find', 'a', nil), f('find', {}, 'a'), f('find'), f('find', 'abc', 'b', nil, nil),\n",
    "  f('match', 'key = value', '(%w+)%s*=%s*(%w+)'), f('match', 'hello', '()ll()'), f('match', 'hello', '.-'),\n"
    "  f('match', 'hello', '.*'), f('match', 'hello', 'l+'), f('match', 'hello', 'x*'), f('match', 'hello', 'l?l?l?o'),\n"
    "  f('match', '  trim  ', '^%s*(.-)%s*$'), f('match', 'THE (quick) fox', '%((%a+)%)'), f('match', 'f(a(b)c)d', '%b()'),\n"
    "  f('match', 'f(a(b)c', '%b()'), f('match', 'THE (quick) fox', '%f[%a]%a+%f[%A]'), f('match', 'hello', '%f[%l]'),\n"
    "  f('match', 'abcabc', '(abc)%1'), f('match', 'abcabd', '(abc)%1'), f('match', 'aa', '()%1'),\n"
    "  f('match', 'x = \"a\\\\\"b\"', '([\"\\'])(.-)%1'), f('match', '2024-01-02', '(%d+)-(%d+)-(%d+)'),\n"
    "  f('match', 'a]b', '[]]'), f('match', 'a]b', '[^]]+'), f('match', 'a-b', '[a-]+'), f('match', 'a-b', '[-a]+'),\n"
    "  f('match', 'A1_b', '[%w_]+'), f('match', 'é', '[\\128-\\255]+'), f('match', 'abc', '[c-a]'), f('match', 'a%b', '[%%]'),\n"
    "  f('match', 'hello', 'h(e(l)(l))o'), f('match', 'hello', '(h)(e)(l)(l)(o)'), f('match', 'abc', ''),\n"
    "  f('match', 'abc', '()', 4), f('match', 'abc', '()', 5), f('match', 'abc', 'b', -1), f('match', 'abc', '^(a)', 2),\n"
    "  f('match', 'a', '%'), f('match', 'a', '[a'), f('match', 'a', '[a%'), f('match', 'a', '[^'), f('match', 'a', '('),\n"
    "  f('match', 'a', ')'), f('match', 'a', '(()'), f('match', 'a', '%1'), f('match', 'a', '(a)%2'), f('match', 'a', '%0'),\n",
    "  f('match', 'a', '%b'), f('match', 'a', '%ba'), f('match', 'a', '%f'), f('match', 'a', '%fa'), f('match', 'a', '%f['),\n"
    "  f('match', 'a', '(a)%1'), f('match', 'aa', '(a)%1'), f('match', 'a', '(a(a)%1)'), f('match', 'a', '((a)%2)'),\n"
    "  f('match', string.rep('a', 40), string.rep('(a)', 33)), f('match', string.rep('a', 40), string.rep('(a)', 32)),\n"
    "  f('match', string.rep('a', 300), string.rep('a?', 250)), f('match', string.rep('a', 300), string.rep('a?', 150)),\n"
    "  f('match', string.rep('a', 10), string.rep('(', 190) .. 'a' .. string.rep(')', 190)),\n"
    "  f('match', 'aaab', 'a-b'), f('match', 'aaab', 'a*b'), f('match', 'aaab', 'a+ab'), f('match', 'b', 'a+b'), f('match', 'b', 'a-b'),\n"
    "  f('match', 'x', '.$'), f('match', 'x$', '%$'), f('match', 'x', '$'), f('match', 'x', '^$'), f('match', '', '^$'),\n"
    "  f('gmatch', 'one two  three', '%a+'), f('gmatch', 'k1=v1, k2=v2', '(%w+)=(%w+)'), f('gmatch', 'abc', ''),\n"
    "  f('gmatch', 'abc', '()'), f('gmatch', 'abc', 'x*'), f('gmatch', 'abcabc', 'b', 3), f('gmatch', 'abc', '.', -1),\n"
    "  f('gmatch', 'abc', '.', 10), f('gmatch', 'abc', '.', 0), f('gmatch', '^a^a', '^a'), f('gmatch', 'aaa', 'a-'),\n"
    "  f('gmatch', 'a', '('), f('gmatch', nil, 'a'), f('gmatch', 'a', '%'), f('gmatch', 'a,b,,c', '([^,]*)'),\n"
    "  f('gsub', 'hello world', 'o', '0'), f('gsub', 'hello world', '(o)', '[%1]'), f('gsub', 'hello', '', '-'),\n",
    "  f('gsub', 'hello world', '%w+', '%0 %0', 1), f('gsub', 'hello', 'l', 'L', 0), f('gsub', 'hello', 'l', 'L', -1),\n"
    "  f('gsub', 'hello', 'l', 'L', 1.0), f('gsub', 'hello', 'l', 'L', 1.5), f('gsub', 'abc', '%w', '%%'),\n"
    "  f('gsub', 'abc', '%w', '%'), f('gsub', 'abc', '%w', '%x'), f('gsub', 'abc', '%w', '%2'), f('gsub', 'abc', '(%w)', '%2'),\n"
    "  f('gsub', 'abc', '%w', '%1'), f('gsub', 'abc', '()b', '%1'), f('gsub', 'abc', 'b', 5), f('gsub', 'abc', 'b', 1.5),\n"
    "  f('gsub', 'abc', 'b'), f('gsub', 'abc', 'b', true), f('gsub', 'abc', 'b', nil), f('gsub', 'abc', 'b', 'x', 'y'),\n"
    "  f('gsub', 'hello world', '%w+', twice), f('gsub', 'hello world', '()(%w+)', position),\n"
    "  f('gsub', 'hello world', '%w+', function() return false end), f('gsub', 'hello', 'l', function() return nil end),\n"
    "  f('gsub', 'hello', 'l', function() return 7 end), f('gsub', 'hello', 'l', function() return {} end),\n"
    "  f('gsub', 'hello', 'l', function() return true end), f('gsub', 'hello', 'l', function() error('boom') end),\n"
    "  f('gsub', '$name is $age', '%$(%w+)', { name = 'ann', age = 7 }), f('gsub', '$x $y', '%$(%w+)', {}),\n"
    "  f('gsub', '$x', '%$(%w+)', { x = false }), f('gsub', '$x', '%$(%w+)', { x = {} }), f('gsub', 'abc', '()', {}),\n"
    "  f('gsub', 'abc', '^.', 'X'), f('gsub', 'abc', '^', '>'), f('gsub', 'abc', '$', '<'), f('gsub', 'a b', '%s*', '_'),\n",
    "  f('gsub', 'abc', 'x*', '-'), f('gsub', '', 'x*', '-'), f('gsub', 'a', '(', 'x'), f('gsub', 'a', 'a', '%1%2'),\n"
    "  f('method', 'hello', 'l+'), f('method', 'key=val', '(%w+)=(%w+)'), f('method', 'x', '%'),\n"
    "}\n",
};

/* The driver's output over the cases, run through the string table of L:
 * herald's in a sandbox, Lua's in a plain state. */
static char *run_driver(lua_State *L, bool sandboxed)
{
    strbuf cases = STRBUF_INIT;
    for (size_t i = 0; i < sizeof case_parts / sizeof case_parts[0]; i++)
        sb_puts(&cases, case_parts[i]);
    char err[512];
    char *text = NULL;
    if (sandboxed) {
        if (sandbox_load(L, "=cases", sb_str(&cases), cases.len, err, sizeof err) ||
            sandbox_call(L, 0, 1, err, sizeof err) ||
            sandbox_load(L, "=driver", driver, strlen(driver), err, sizeof err)) {
            text = strdup(err);
        } else {
            lua_insert(L, -2);
            text = strdup(sandbox_call(L, 1, 1, err, sizeof err) ? err : lua_tostring(L, -1));
        }
    } else {
        if (luaL_loadbuffer(L, sb_str(&cases), cases.len, "=cases") || lua_pcall(L, 0, 1, 0) ||
            luaL_loadbuffer(L, driver, strlen(driver), "=driver")) {
            text = strdup(lua_tostring(L, -1));
        } else {
            lua_insert(L, -2);
            lua_pcall(L, 1, 1, 0);
            text = strdup(lua_tostring(L, -1));
        }
    }
    sb_free(&cases);
    return text;
}

TEST(identical_to_lua)
{
    lua_State *plain = luaL_newstate();
    luaL_openlibs(plain);
    char *expected = run_driver(plain, false);
    lua_close(plain);
    sandbox_limits limits = {60000, 0};
    lua_State *L = sandbox_new(&limits, NULL);
    char *actual = run_driver(L, true);
    sandbox_close(L);
    /* Compare line by line, to name the first case that differs. */
    const char *e = expected, *a = actual;
    int line = 1;
    bool same = true;
    while (*e || *a) {
        size_t el = strcspn(e, "\n"), al = strcspn(a, "\n");
        if (el != al || memcmp(e, a, el) != 0) {
            printf("    case %d: Lua gives %.*s\n    herald gives %.*s\n", line, (int)el, e, (int)al, a);
            same = false;
            break;
        }
        e += el + (e[el] == '\n');
        a += al + (a[al] == '\n');
        line++;
    }
    int lines = line, errors = 0, matches = 0;
    for (const char *at = expected; at; at = strchr(at + 1, '\n')) {
        const char *line_start = at == expected ? at : at + 1;
        errors += strncmp(line_start, "err ", 4) == 0;
        matches += strncmp(line_start, "ok number", 9) == 0 || strncmp(line_start, "ok \"", 4) == 0;
    }
    printf("    %d cases, %d errors, %d with a match\n", lines - 1, errors, matches);
    free(expected);
    free(actual);
    CHECK(same);
    CHECK(lines > 4000);
    /* The random cases exercise both outcomes, not only malformed patterns. */
    CHECK(errors > 200 && matches > 1000);
}

/* The attack: exponential backtracking inside one C call. */
static const char attack[] = "string.find(string.rep('a', 30000), '.-.-.-.-.-.-.-.-b')";

TEST(attack_pattern_ends_at_the_deadline)
{
    sandbox_limits limits = {100, 0};
    lua_State *L = sandbox_new(&limits, NULL);
    char code[256];
    snprintf(code, sizeof code, "return %s", attack);
    CHECK_STR(eval(L, code), "ERROR: test.lua:1: timeout after 100 ms");
    /* The state serves the next call. */
    CHECK_STR(eval(L, "return ('abc'):find('b')"), "2");
    sandbox_close(L);
}

TEST(pcall_cannot_swallow_the_pattern_timeout)
{
    sandbox_limits limits = {100, 0};
    lua_State *L = sandbox_new(&limits, NULL);
    char code[512];
    snprintf(code, sizeof code,
             "local ok = pcall(function() return %s end)\n"
             "local s = ('a'):rep(30000)\n"
             "local caught = 0\n"
             "for i = 1, 10 do if not pcall(s.match, s, '.-.-.-.-.-.-.-b') then caught = caught + 1 end end\n"
             "return 'survived ' .. caught",
             attack);
    CHECK_STR(eval(L, code), "ERROR: test.lua:1: timeout after 100 ms");
    sandbox_close(L);
}

TEST(every_pattern_function_is_bounded)
{
    sandbox_limits limits = {50, 0};
    lua_State *L = sandbox_new(&limits, NULL);
    static const char *const calls[] = {
        "s:find(p)", "s:match(p)", "s:gmatch(p)()", "s:gsub(p, 'x')", "string.gsub(s, p, {})",
        "string.match(s, '(.-)(.-)(.-)(.-)(.-)(.-)(.-)%1%2%3b')",
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        char code[256];
        snprintf(code, sizeof code, "local s, p = ('a'):rep(30000), '.-.-.-.-.-.-.-.-b'\nreturn %s",
                 calls[i]);
        const char *result = eval(L, code);
        if (strcmp(result, "ERROR: test.lua:2: timeout after 50 ms") != 0)
            FAIL_AT("%s gave %s", calls[i], result);
    }
    sandbox_close(L);
}

/* Last: sandbox_stop_all cannot be undone in this process. */
TEST(stop_all_ends_a_call_with_a_long_deadline)
{
    sandbox_limits limits = {60000, 0};
    lua_State *L = sandbox_new(&limits, NULL);
    sandbox_stop_all();
    char code[256];
    snprintf(code, sizeof code, "return %s", attack);
    CHECK_STR(eval(L, code), "ERROR: test.lua:1: stopped: herald is shutting down");
    CHECK_STR(eval(L, "while true do end"), "ERROR: test.lua:1: stopped: herald is shutting down");
    sandbox_close(L);
}

RUN_TESTS(CASE(identical_to_lua), CASE(attack_pattern_ends_at_the_deadline),
          CASE(pcall_cannot_swallow_the_pattern_timeout), CASE(every_pattern_function_is_bounded),
          CASE(stop_all_ends_a_call_with_a_long_deadline))
