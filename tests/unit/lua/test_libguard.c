/* string.rep and the table functions in the sandbox (lua/libguard.h): the
 * same results and errors as Lua's own, and an end at the deadline where
 * Lua's loop would run for ever. */
#include <stdbool.h>

#include <lauxlib.h>
#include <lualib.h>

#include "harness.h"
#include "lua_test_util.h"
#include "lua/sandbox.h"

/* Each snippet's results (or error) as one line; the same snippets run in
 * a plain Lua state and in the sandbox. */
static const char *const snippets[] = {
    "return string.rep('ab', 3)", "return string.rep('ab', 3, ',')", "return string.rep('', 5)",
    "return string.rep('', 5, '')", "return string.rep('x', 0)", "return string.rep('x', -3, ',')",
    "return string.rep('', 2^40, 'x') == nil", "return ('x'):rep(2)", "return string.rep(nil, 2)",
    "return string.rep('x')", "return string.rep('x', 1.5)", "return string.rep('', 1.5)",
    "return string.rep('', 2, {})", "return string.rep(12, 2)", "return string.rep('x', 2^62)",
    "return table.concat(table.move({1, 2, 3}, 1, 3, 2))",
    "return table.concat(table.move({1, 2, 3, 4}, 2, 4, 1), ',')",
    "return table.concat(table.move({1, 2, 3}, 1, 3, 1, {}), ',')",
    "return table.concat(table.move({1, 2, 3}, 2, 1, 5), ',')",
    "return table.move({}, 1, 2, 3, 'x')", "return table.move({}, 1, 2)",
    "return table.move({}, -2^63, 2^63 - 1, 1)", "return table.move({}, 1, 10, 2^63 - 5)",
    "local log = {} local t = setmetatable({}, {__index = function(_, k) log[#log + 1] = 'r' .. k "
    "return k end, __newindex = function(_, k, v) log[#log + 1] = 'w' .. k .. '=' .. v end}) "
    "table.move(t, 1, 3, 2) return table.concat(log, ' ')",
    "local t = {1, 2, 3} table.insert(t, 'x') return table.concat(t, ',')",
    "local t = {1, 2, 3} table.insert(t, 1, 'x') return table.concat(t, ',')",
    "local t = {1, 2, 3} table.insert(t, 4, 'x') return table.concat(t, ',')",
    "return table.insert({1}, 5, 'x')", "return table.insert({1}, 0, 'x')",
    "return table.insert({1}, 1, 2, 3)", "return table.insert({1})", "return table.insert(nil, 1)",
    "return table.insert('abc', 1)",
    "local t = {1, 2, 3} return table.remove(t), table.concat(t, ',')",
    "local t = {1, 2, 3} return table.remove(t, 1), table.concat(t, ',')",
    "local t = {} return table.remove(t), table.remove(t, 0), #t", "return table.remove({1}, 3)",
    "local t = {n = 1} return table.remove(t, 1), table.remove({[0] = 'z'}, 0)",
    "return table.concat({1, 2, 'x'})", "return table.concat({1, 2, 3}, ', ', 2)",
    "return table.concat({1, 2, 3}, ', ', 2, 2)", "return table.concat({1, 2, 3}, ', ', 3, 2)",
    "return table.concat({1, {}, 3})", "return table.concat({1, 2}, nil, 1, 3)",
    "return table.concat({}, {})", "return table.concat()",
    "return table.concat(setmetatable({}, {__index = function(_, i) return i * 2 end, "
    "__len = function() return 4 end}), '+')",
    "local t = {3, 1, 2} table.sort(t) return table.concat(t, ',')",
    "local t = {3, 1, 2} table.sort(t, function(a, b) return a > b end) return table.concat(t, ',')",
    "return table.sort({3, 1}, 'x')", "return table.sort({3}, 'x')", "return table.sort({1, 'a'})",
    "local t = setmetatable({}, {__len = function() return 3 end, __index = function(_, i) return 4 - i end, "
    "__newindex = function() end}) table.sort(t) return 'sorted'",
};

static char *run_all(lua_State *L, bool sandboxed)
{
    size_t cap = 65536, len = 0;
    char *out = calloc(1, cap);
    for (size_t i = 0; i < sizeof snippets / sizeof snippets[0]; i++) {
        char line[1024];
        if (sandboxed) {
            snprintf(line, sizeof line, "%s", eval(L, snippets[i]));
        } else if (luaL_loadbuffer(L, snippets[i], strlen(snippets[i]), "=test.lua") ||
                   lua_pcall(L, 0, 1, 0)) {
            snprintf(line, sizeof line, "ERROR: %s", lua_tostring(L, -1));
            lua_pop(L, 1);
        } else {
            const char *text = lua_tostring(L, -1);
            snprintf(line, sizeof line, "%s", text ? text : lua_typename(L, lua_type(L, -1)));
            lua_pop(L, 1);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
    }
    return out;
}

TEST(identical_to_lua)
{
    lua_State *plain = luaL_newstate();
    luaL_openlibs(plain);
    char *expected = run_all(plain, false);
    lua_close(plain);
    lua_State *L = sandbox_new(NULL, NULL);
    char *actual = run_all(L, true);
    sandbox_close(L);
    const char *e = expected, *a = actual;
    bool same = true;
    for (size_t i = 0; same && i < sizeof snippets / sizeof snippets[0]; i++) {
        size_t el = strcspn(e, "\n"), al = strcspn(a, "\n");
        /* The sandbox names its chunk "test.lua" as the plain state does. */
        if (el != al || memcmp(e, a, el) != 0) {
            printf("    %s\n    Lua gives %.*s\n    herald gives %.*s\n", snippets[i], (int)el, e,
                   (int)al, a);
            same = false;
        }
        e += el + 1;
        a += al + 1;
    }
    free(expected);
    free(actual);
    CHECK(same);
}

TEST(empty_rep_returns_at_once)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(eval(L, "return '[' .. string.rep('', 2^50) .. ']'"), "[]");
    CHECK_STR(eval(L, "return '[' .. ('').rep('', 2^50, '') .. ']'"), "[]");
    sandbox_close(L);
}

TEST(unbounded_table_loops_end_at_the_deadline)
{
    sandbox_limits limits = {50, 0};
    lua_State *L = sandbox_new(&limits, NULL);
    static const char *const attacks[] = {
        "table.move({}, 1, 2^50, 2)",
        "table.move({}, 1, 2^50, 2, {})",
        "table.insert(huge, 1, 'x')",
        "table.remove(huge, 1)",
        /* every element is '' from a C function: no allocation, no Lua code */
        "table.concat(setmetatable({}, {__len = huge_len, __index = setmetatable({}, {__index = table.concat})}))",
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        char code[512];
        snprintf(code, sizeof code,
                 "local huge_len = function() return 2^50 end\n"
                 "local huge = setmetatable({}, {__len = huge_len})\n"
                 "local ok = pcall(function() return %s end)\n"
                 "return 'survived'",
                 attacks[i]);
        const char *result = eval(L, code);
        if (strcmp(result, "ERROR: test.lua:3: timeout after 50 ms") != 0)
            FAIL_AT("%s gave %s", attacks[i], result);
    }
    sandbox_close(L);
}

TEST(sort_refuses_a_length_beyond_memory)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(eval(L, "local t = setmetatable({}, {__len = function() return 2^30 end, __index = type})\n"
                      "return select(2, pcall(table.sort, t))"),
              "table too long to sort in the sandbox: length 1073741824, at most 2097152");
    sandbox_close(L);
}

RUN_TESTS(CASE(identical_to_lua), CASE(empty_rep_returns_at_once),
          CASE(unbounded_table_loops_end_at_the_deadline), CASE(sort_refuses_a_length_beyond_memory))
