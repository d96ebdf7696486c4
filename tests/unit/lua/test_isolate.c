/* Isolation between calls in one state: the library tables are read-only,
 * and each chunk's globals are its own, those of a call lasting only that
 * call. */
#include <lauxlib.h>

#include "harness.h"
#include "lua_test_util.h"
#include "lua/isolate.h"
#include "lua/sandbox.h"

/* A chunk loaded as the route script and templates are: in an environment
 * of its own, run once; it returns the function later calls run. */
typedef struct chunk {
    int function_ref, env_ref;
} chunk;

static int load_chunk(lua_State *L, const char *code, chunk *c, char *err, size_t cap)
{
    if (sandbox_load(L, "chunk.lua", code, strlen(code), err, cap))
        return -1;
    if (isolate_env_new(L, err, cap) || sandbox_call(L, 0, 1, err, cap)) {
        lua_pop(L, 1);
        return -1;
    }
    isolate_env_seal(L, -2);
    c->function_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    c->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

#define LOAD_CHUNK(L, code, c)                                                             \
    do {                                                                                   \
        char err_[512];                                                                    \
        if (load_chunk(L, code, c, err_, sizeof err_))                                     \
            FAIL_AT("loading: %s", err_);                                                  \
    } while (0)

/* Calls the chunk's function and returns tostring of its result ("ERROR:
 * message" if it fails), then forgets the call's globals as
 * script_end_call does. The buffer is reused by the next call. */
static const char *call_chunk(lua_State *L, const chunk *c)
{
    static char result[1024];
    char err[512];
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->function_ref);
    if (sandbox_call(L, 0, 1, err, sizeof err)) {
        snprintf(result, sizeof result, "ERROR: %s", err);
    } else {
        snprintf(result, sizeof result, "%s", luaL_tolstring(L, -1, NULL));
        lua_pop(L, 2);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->env_ref);
    isolate_env_reset(L, -1);
    lua_pop(L, 1);
    return result;
}

TEST(writes_to_the_libraries_raise)
{
    lua_State *L = sandbox_new(NULL, NULL);
    static const struct {
        const char *code, *error;
    } writes[] = {
        {"string.upper = function() return 'PWNED' end",
         "test.lua:1: attempt to modify read-only table 'string' (field 'upper')"},
        {"string.shout = string.upper", "read-only table 'string' (field 'shout')"},
        {"string[1] = true", "test.lua:1: attempt to modify read-only table 'string'"},
        {"table.concat = nil", "read-only table 'table' (field 'concat')"},
        {"math.floor = nil", "read-only table 'math' (field 'floor')"},
        {"utf8.char = nil", "read-only table 'utf8' (field 'char')"},
        {"os.time = nil", "read-only table 'os' (field 'time')"},
        {"herald.md_escape = tostring", "test.lua:1: attempt to modify read-only table 'herald' (field 'md_escape')"},
        {"rawset(herald, 'md_escape', tostring)", "test.lua:1: attempt to modify read-only table 'herald' (field 'md_escape')"},
        {"table.insert(string, 1)", "attempt to modify read-only table 'string'"},
        {"getmetatable('').__index.upper = nil", "read-only table 'string' (field 'upper')"},
        {"getmetatable('').__index = {}", "read-only table 'string metatable' (field '__index')"},
        {"setmetatable(string, nil)", "cannot change a protected metatable"},
    };
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        const char *result = eval(L, writes[i].code);
        if (!strstr(result, writes[i].error)) {
            sandbox_close(L);
            FAIL_AT("%s gave \"%s\", expected \"%s\"", writes[i].code, result, writes[i].error);
        }
    }
    CHECK_STR(eval(L, "return string.upper('a') .. ('b'):upper() .. herald.md_escape('*') .. "
                      "table.concat({1, 2}) .. math.floor(3.5) .. utf8.char(65)"),
              "AB\\*123A");
    sandbox_close(L);
}

TEST(read_only_tables_read_and_list_as_before)
{
    lua_State *L = sandbox_new(NULL, NULL);
    CHECK_STR(eval(L, "local names = {}\n"
                      "for name, value in pairs(herald) do names[#names + 1] = name .. ':' .. type(value) end\n"
                      "table.sort(names)\n"
                      "return table.concat(names, ',')"),
              "action_url:function,compile:function,md_escape:function,sorted:function,"
              "time:function,truncate:function");
    CHECK_STR(eval(L, "return tostring(getmetatable('').__index == string)"), "true");
    CHECK_STR(eval(L, "return ('%d-%s'):format(5, 'x')"), "5-x");
    CHECK_STR(eval(L, "return tostring(getmetatable(string))"), "false");
    /* pairs hands out the proxy as its state, never the real table, and
     * its iterator works on nothing else. */
    CHECK_STR(eval(L, "local _, state = pairs(string) return tostring(rawequal(state, string))"), "true");
    CHECK_CONTAINS(eval(L, "local iterate = pairs(string) iterate({ upper = 1 })"),
                   "read-only table expected");
    sandbox_close(L);
}

TEST(a_global_set_in_one_call_is_nil_in_the_next)
{
    lua_State *L = sandbox_new(NULL, NULL);
    chunk c;
    LOAD_CHUNK(L, "return function()\n"
                  "  local before = counter\n"
                  "  counter = 'set'\n"
                  "  ipairs = function() error('replaced') end\n"
                  "  string = nil\n"
                  "  return tostring(before) .. ' ' .. counter\n"
                  "end\n",
               &c);
    CHECK_STR(call_chunk(L, &c), "nil set");
    CHECK_STR(call_chunk(L, &c), "nil set");
    /* Nor did the call reach the shared globals. */
    CHECK_STR(eval(L, "return tostring(counter) .. ' ' .. type(ipairs) .. ' ' .. type(string)"),
              "nil function table");
    sandbox_close(L);
}

TEST(load_time_globals_and_module_locals_persist)
{
    lua_State *L = sandbox_new(NULL, NULL);
    chunk c;
    LOAD_CHUNK(L, "greeting = 'hello'\n"
                  "local calls = 0\n"
                  "return function()\n"
                  "  calls = calls + 1\n"
                  "  local seen = greeting\n"
                  "  greeting = 'changed'\n"
                  "  return seen .. ' ' .. calls\n"
                  "end\n",
               &c);
    CHECK_STR(call_chunk(L, &c), "hello 1");
    CHECK_STR(call_chunk(L, &c), "hello 2");
    sandbox_close(L);
}

TEST(a_chunk_cannot_see_another_chunks_globals)
{
    lua_State *L = sandbox_new(NULL, NULL);
    chunk a, b;
    LOAD_CHUNK(L, "mine = 'a at load'\n"
                  "return function() during = 'a in a call' return mine end\n",
               &a);
    LOAD_CHUNK(L, "return function()\n"
                  "  return tostring(mine) .. ' ' .. tostring(during) .. ' ' .. tostring(_G.mine)\n"
                  "end\n",
               &b);
    CHECK_STR(call_chunk(L, &a), "a at load");
    CHECK_STR(call_chunk(L, &b), "nil nil nil");
    sandbox_close(L);
}

TEST(underscore_g_is_the_chunks_own_environment)
{
    lua_State *L = sandbox_new(NULL, NULL);
    chunk c;
    LOAD_CHUNK(L, "_G.loaded = 'yes'\n"
                  "return function()\n"
                  "  local before = x\n"
                  "  _G.x = 1\n"
                  "  return tostring(before) .. ' ' .. x .. ' ' .. loaded .. ' ' .. tostring(rawequal(_G, _ENV))\n"
                  "end\n",
               &c);
    CHECK_STR(call_chunk(L, &c), "nil 1 yes true");
    CHECK_STR(call_chunk(L, &c), "nil 1 yes true");
    sandbox_close(L);
}

TEST(a_text_template_reads_its_chunks_globals_and_no_shared_table)
{
    lua_State *L = sandbox_new(NULL, NULL);
    chunk c, other;
    LOAD_CHUNK(L, "function shout(s) return string.upper(s) end\n"
                  "local text = herald.compile(\"{{ shout(name) }}{% __h_G.string = 'gone' %}\")\n"
                  "return function() return text({ name = 'x' }) .. ' ' .. type(string) end\n",
               &c);
    LOAD_CHUNK(L, "return function() return tostring(shout) .. ' ' .. type(string) end\n", &other);
    CHECK_STR(call_chunk(L, &c), "X string");
    CHECK_STR(call_chunk(L, &c), "X string");
    CHECK_STR(call_chunk(L, &other), "nil table");
    sandbox_close(L);
}

RUN_TESTS(CASE(writes_to_the_libraries_raise), CASE(read_only_tables_read_and_list_as_before),
          CASE(a_global_set_in_one_call_is_nil_in_the_next),
          CASE(load_time_globals_and_module_locals_persist),
          CASE(a_chunk_cannot_see_another_chunks_globals),
          CASE(underscore_g_is_the_chunks_own_environment),
          CASE(a_text_template_reads_its_chunks_globals_and_no_shared_table))
