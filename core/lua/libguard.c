/* string.rep and the table functions, bounded by the call's deadline (see
 * libguard.h). The table functions behave as Lua 5.4's: the same argument
 * checks in the same order, the same metamethods called in the same
 * order, the same messages. */
#include "lua/libguard.h"

#include <limits.h>
#include <stdbool.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/sandbox.h"

/* Elements moved between deadline checks: a clock read per thousand
 * metamethod-free element copies costs well under 1%. */
#define ELEMENTS_PER_CHECK 1024
/* A table element takes at least this many bytes (a TValue). */
#define ELEMENT_BYTES 16

enum { TABLE_READ = 1, TABLE_WRITE = 2, TABLE_LENGTH = 4 };

/* Calls the deadline check every ELEMENTS_PER_CHECK calls. */
static void count_element(lua_State *L, unsigned *counter)
{
    if (++*counter % ELEMENTS_PER_CHECK == 0)
        sandbox_check_deadline(L);
}

static bool has_metafield(lua_State *L, const char *key, int meta)
{
    lua_pushstring(L, key);
    bool present = lua_rawget(L, meta) != LUA_TNIL;
    lua_pop(L, 1);
    return present;
}

/* As Lua's table library: a table, or anything whose metatable has the
 * metamethods the operation needs. */
static void check_table_like(lua_State *L, int arg, int needs)
{
    if (lua_type(L, arg) == LUA_TTABLE)
        return;
    if (lua_getmetatable(L, arg)) {
        int meta = lua_gettop(L);
        bool usable = (!(needs & TABLE_READ) || has_metafield(L, "__index", meta)) &&
                      (!(needs & TABLE_WRITE) || has_metafield(L, "__newindex", meta)) &&
                      (!(needs & TABLE_LENGTH) || has_metafield(L, "__len", meta));
        lua_pop(L, 1);
        if (usable)
            return;
    }
    luaL_checktype(L, arg, LUA_TTABLE);
}

static lua_Integer checked_length(lua_State *L, int arg, int needs)
{
    check_table_like(L, arg, needs | TABLE_LENGTH);
    return luaL_len(L, arg);
}

/* t[to] = t[from] for the table at 1 (or dest) */
static void copy_element(lua_State *L, int source, lua_Integer from, int dest, lua_Integer to)
{
    lua_geti(L, source, from);
    lua_seti(L, dest, to);
}

static int guarded_move(lua_State *L)
{
    lua_Integer first = luaL_checkinteger(L, 2);
    lua_Integer last = luaL_checkinteger(L, 3);
    lua_Integer to = luaL_checkinteger(L, 4);
    int dest = lua_isnoneornil(L, 5) ? 1 : 5;
    check_table_like(L, 1, TABLE_READ);
    check_table_like(L, dest, TABLE_WRITE);
    if (last >= first) {
        luaL_argcheck(L, first > 0 || last < LUA_MAXINTEGER + first, 3, "too many elements to move");
        lua_Integer extra = last - first; /* elements minus one, which cannot overflow */
        luaL_argcheck(L, to <= LUA_MAXINTEGER - extra, 4, "destination wrap around");
        unsigned counter = 0;
        /* Backwards when the ranges overlap with the destination later. */
        if (to > last || to <= first || (dest != 1 && !lua_compare(L, 1, dest, LUA_OPEQ))) {
            for (lua_Integer i = 0; i <= extra; i++) {
                copy_element(L, 1, first + i, dest, to + i);
                count_element(L, &counter);
            }
        } else {
            for (lua_Integer i = extra; i >= 0; i--) {
                copy_element(L, 1, first + i, dest, to + i);
                count_element(L, &counter);
            }
        }
    }
    lua_pushvalue(L, dest);
    return 1;
}

static int guarded_insert(lua_State *L)
{
    lua_Integer end = luaL_intop(+, checked_length(L, 1, TABLE_READ | TABLE_WRITE), 1);
    lua_Integer pos = end;
    switch (lua_gettop(L)) {
    case 2:
        break;
    case 3: {
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)end, 2, "position out of bounds");
        unsigned counter = 0;
        for (lua_Integer i = end; i > pos; i--) {
            copy_element(L, 1, i - 1, 1, i);
            count_element(L, &counter);
        }
        break;
    }
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos);
    return 0;
}

static int guarded_remove(lua_State *L)
{
    lua_Integer size = checked_length(L, 1, TABLE_READ | TABLE_WRITE);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    /* Lua 5.4.4 names argument 1 here (the unit test compares). */
    if (pos != size)
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 1, "position out of bounds");
    lua_geti(L, 1, pos);
    unsigned counter = 0;
    for (; pos < size; pos++) {
        copy_element(L, 1, pos + 1, 1, pos);
        count_element(L, &counter);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

static void add_concat_element(lua_State *L, luaL_Buffer *b, lua_Integer i)
{
    lua_geti(L, 1, i);
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid value (%s) at index %I in table for 'concat'", luaL_typename(L, -1),
                   (LUAI_UACINT)i);
    luaL_addvalue(b);
}

static int guarded_concat(lua_State *L)
{
    lua_Integer last = checked_length(L, 1, TABLE_READ);
    size_t sep_len;
    const char *sep = luaL_optlstring(L, 2, "", &sep_len);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    last = luaL_optinteger(L, 4, last);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    unsigned counter = 0;
    for (; i < last; i++) {
        add_concat_element(L, &b, i);
        luaL_addlstring(&b, sep, sep_len);
        count_element(L, &counter);
    }
    if (i == last)
        add_concat_element(L, &b, i);
    luaL_pushresult(&b);
    return 1;
}

/* Lua's sort (upvalue 1), after its argument checks and, for a table
 * whose length a metamethod gives, a size check. Two differences from
 * Lua: __len runs twice, and "invalid order function for sorting",
 * raised inside the original, names no line. */
static int guarded_sort(lua_State *L)
{
    lua_Integer length = checked_length(L, 1, TABLE_READ | TABLE_WRITE);
    if (length > 1) {
        luaL_argcheck(L, length < INT_MAX, 1, "array too big");
        if (!lua_isnoneornil(L, 2))
            luaL_checktype(L, 2, LUA_TFUNCTION);
    }
    lua_Integer limit = (lua_Integer)(sandbox_memory_limit(L) / ELEMENT_BYTES);
    if (length > limit)
        return luaL_error(L, "table too long to sort in the sandbox: length %I, at most %I",
                          (LUAI_UACINT)length, (LUAI_UACINT)limit);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 0);
    return 0;
}

/* Lua's rep (upvalue 1), except that an empty string with an empty
 * separator gives "" at once instead of after n empty copies. The size
 * check is Lua's, made here so that its error names the script's line
 * (an error raised inside the original would name this function). */
static int guarded_rep(lua_State *L)
{
    size_t len, sep_len;
    luaL_checklstring(L, 1, &len);
    lua_Integer count = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &sep_len);
    if (count <= 0 || len + sep_len == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    /* Lua caps a string built by rep at INT_MAX bytes. */
    if (len + sep_len < len || len + sep_len > (size_t)INT_MAX / (lua_Unsigned)count)
        return luaL_error(L, "resulting string too large");
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* Replaces field `name` of the table at idx by fn, with the original as
 * fn's upvalue. */
static void wrap(lua_State *L, int idx, const char *name, lua_CFunction fn)
{
    idx = lua_absindex(L, idx);
    lua_getfield(L, idx, name);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, idx, name);
}

void libguard_install(lua_State *L)
{
    lua_getglobal(L, LUA_STRLIBNAME);
    wrap(L, -1, "rep", guarded_rep);
    lua_getglobal(L, LUA_TABLIBNAME);
    wrap(L, -1, "sort", guarded_sort);
    static const luaL_Reg replaced[] = {
        {"move", guarded_move},
        {"insert", guarded_insert},
        {"remove", guarded_remove},
        {"concat", guarded_concat},
    };
    for (size_t i = 0; i < sizeof replaced / sizeof replaced[0]; i++) {
        lua_pushcfunction(L, replaced[i].func);
        lua_setfield(L, -2, replaced[i].name);
    }
    lua_pop(L, 2);
}
