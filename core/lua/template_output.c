/* A template's pieces are appended to one growing block of bytes, not
 * gathered in a Lua table and joined at the end: the table's growth, a
 * Lua call and a tostring per piece, and the join were a fifth of a
 * message's render.
 *
 * The bytes live in a Lua userdata (the output's user value), so they
 * count against the state's memory cap, and a block too large for it
 * raises Lua's own memory error, as a string would. */
#include "lua/template_output.h"

#include <string.h>

#include <lauxlib.h>

#define FIRST_BLOCK 1024

typedef struct output {
    char *bytes; /* the block held as the user value */
    size_t len, cap;
} output;

static int output_new(lua_State *L)
{
    output *o = lua_newuserdatauv(L, sizeof *o, 1);
    memset(o, 0, sizeof *o);
    return 1;
}

static output *check_output(lua_State *L)
{
    output *o = lua_touserdata(L, 1);
    if (!o || lua_rawlen(L, 1) != sizeof *o)
        luaL_argerror(L, 1, "template output expected");
    return o;
}

static int output_append(lua_State *L)
{
    output *o = check_output(L);
    int type = lua_type(L, 2);
    if (type == LUA_TNIL || type == LUA_TNONE)
        return 0;
    size_t len;
    const char *text = type == LUA_TSTRING || type == LUA_TNUMBER ? lua_tolstring(L, 2, &len)
                                                                  : luaL_tolstring(L, 2, &len);
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
    return 0;
}

static int output_finish(lua_State *L)
{
    output *o = check_output(L);
    lua_pushlstring(L, o->len ? o->bytes : "", o->len);
    return 1;
}

void template_output_push_functions(lua_State *L)
{
    lua_pushcfunction(L, output_new);
    lua_pushcfunction(L, output_append);
    lua_pushcfunction(L, output_finish);
}
