/* A template's pieces are appended to one growing block of bytes, not
 * gathered in a Lua table and joined at the end: the table's growth, a
 * Lua call and a tostring per piece, and the join were a fifth of a
 * message's render.
 *
 * The bytes live in a Lua userdata (the output's user value), so they
 * count against the state's memory cap, and a block too large for it
 * raises Lua's own memory error, as a string would.
 *
 * A finished output hands its block to the state's spare (in the
 * registry), which the next output starts with: growing a fresh block from
 * 1 KiB on every render was a fifth of the render's allocations, and its
 * large blocks made malloc consolidate. One spare of at most SPARE_MAX
 * bytes is kept, so a huge render does not pin its block; it stays
 * counted against the cap. An output a Lua error abandons keeps its block
 * until collected; the next output then starts a new one. */
#include "lua/template_output.h"

#include <string.h>

#include <lauxlib.h>

#define FIRST_BLOCK 1024
#define SPARE_MAX ((size_t)64 << 10)

/* Its address is the registry key of the spare block. */
static const char spare_key = 0;

typedef struct output {
    char *bytes; /* the block held as the user value */
    size_t len, cap;
} output;

static int output_new(lua_State *L)
{
    output *o = lua_newuserdatauv(L, sizeof *o, 1);
    memset(o, 0, sizeof *o);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &spare_key) == LUA_TUSERDATA) {
        o->bytes = lua_touserdata(L, -1);
        o->cap = lua_rawlen(L, -1);
        lua_setiuservalue(L, -2, 1);
        lua_pushnil(L);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &spare_key);
    } else {
        lua_pop(L, 1);
    }
    return 1;
}

static output *check_output(lua_State *L)
{
    output *o = lua_touserdata(L, 1);
    if (!o || lua_rawlen(L, 1) != sizeof *o)
        luaL_argerror(L, 1, "template output expected");
    return o;
}

/* Appends tostring of the value at index (nil: nothing). */
static void append_value(lua_State *L, output *o, int index)
{
    int type = lua_type(L, index);
    if (type == LUA_TNIL || type == LUA_TNONE)
        return;
    size_t len;
    int pushed = type != LUA_TSTRING && type != LUA_TNUMBER;
    const char *text = pushed ? luaL_tolstring(L, index, &len) : lua_tolstring(L, index, &len);
    if (o->cap - o->len < len) {
        size_t cap = o->cap ? o->cap : FIRST_BLOCK;
        while (cap - o->len < len)
            cap *= 2;
        char *bytes = lua_newuserdatauv(L, cap, 0);
        if (o->len)
            memcpy(bytes, o->bytes, o->len);
        lua_setiuservalue(L, 1, 1); /* the old block is garbage now */
        o->bytes = bytes;
        o->cap = cap;
    }
    memcpy(o->bytes + o->len, text, len);
    o->len += len;
    if (pushed)
        lua_pop(L, 1);
}

/* append(output, text_after, value): the value of a {{ expr }}, then the
 * template's text that follows it (nil: none). The value comes last so
 * that it is one value, as the expression gives it: the extra results of
 * a call ({{ s:gsub("a", "b") }}) are not output. */
static int output_append(lua_State *L)
{
    output *o = check_output(L);
    append_value(L, o, 3);
    append_value(L, o, 2);
    return 0;
}

/* run(output, ...): every argument, in order. The compiler passes a line's
 * texts and plain names ({{ a.b }}) in one call: they cannot output
 * anything themselves, so nothing is out of order, and a line of the
 * bundled templates costs one call where it cost one per piece. */
static int output_run(lua_State *L)
{
    output *o = check_output(L);
    int top = lua_gettop(L);
    for (int i = 2; i <= top; i++)
        append_value(L, o, i);
    return 0;
}

/* Keeps the block at the top as the spare, unless the spare already kept
 * is at least as large; pops it. */
static void offer_spare(lua_State *L)
{
    size_t offered = lua_rawlen(L, -1);
    if (offered <= SPARE_MAX &&
        (lua_rawgetp(L, LUA_REGISTRYINDEX, &spare_key) != LUA_TUSERDATA ||
         lua_rawlen(L, -1) < offered)) {
        lua_pop(L, 1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &spare_key);
        return;
    }
    lua_pop(L, offered <= SPARE_MAX ? 2 : 1);
}

/* The output then holds its text as a string instead of its block, so a
 * second finish returns the same text and an append after finish goes on
 * from it (into a new block, as the string is full). */
static int output_finish(lua_State *L)
{
    output *o = check_output(L);
    const char *text = lua_pushlstring(L, o->len ? o->bytes : "", o->len);
    if (lua_getiuservalue(L, 1, 1) == LUA_TUSERDATA)
        offer_spare(L);
    else
        lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, 1);
    o->bytes = (char *)text; /* read only: cap == len, so an append copies it first */
    o->cap = o->len;
    return 1;
}

void template_output_push_functions(lua_State *L)
{
    lua_pushcfunction(L, output_new);
    lua_pushcfunction(L, output_append);
    lua_pushcfunction(L, output_run);
    lua_pushcfunction(L, output_finish);
}
