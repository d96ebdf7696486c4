#include "pipeline/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lua/sandbox.h"
#include "util/error.h"
#include "util/strbuf.h"

static void add_target(route_result *out, const receiver *r)
{
    for (size_t i = 0; i < out->len; i++)
        if (out->items[i].receiver == r)
            return;
    out->items = xrealloc(out->items, (out->len + 1) * sizeof *out->items);
    memset(&out->items[out->len], 0, sizeof out->items[0]);
    out->items[out->len++].receiver = r;
}

static route_target *find_target(route_result *out, const receiver *r)
{
    for (size_t i = 0; i < out->len; i++)
        if (out->items[i].receiver == r)
            return &out->items[i];
    return NULL;
}

/* Reads the string list at table[key], if any, calling add for each. */
static int read_mention_list(lua_State *L, const char *key, mention_set *m,
                             void (*add)(mention_set *, const char *))
{
    sandbox_rawfield(L, -1, key);
    int ok = 1;
    if (lua_istable(L, -1)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n && ok; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)
                add(m, lua_tostring(L, -1));
            else
                ok = 0;
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        ok = 0;
    }
    lua_pop(L, 1);
    return ok ? 0 : -1;
}

static int read_item(script_state *s, route_result *out, lua_Integer index, char *err,
                     size_t err_cap)
{
    lua_State *L = s->L;
    const config *conf = &s->gen->conf;
    const char *where = s->gen->route.path;
    const char *name = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
        name = lua_tostring(L, -1);
    } else if (lua_istable(L, -1)) {
        sandbox_rawfield(L, -1, "receiver");
        name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        lua_pop(L, 1); /* the string stays alive: the table holds it */
        if (!name)
            return fail(err, err_cap, "%s: result[%lld].receiver: expected a receiver name", where,
                        (long long)index);
    } else {
        return fail(err, err_cap, "%s: result[%lld]: expected a receiver name or a table, got %s",
                    where, (long long)index, luaL_typename(L, -1));
    }
    const receiver *r = config_receiver(conf, name);
    if (!r)
        return fail(err, err_cap, "%s: result[%lld]: no receiver named \"%s\"", where,
                    (long long)index, name);
    add_target(out, r);
    if (lua_istable(L, -1)) {
        route_target *t = find_target(out, r);
        if (read_mention_list(L, "mobiles", &t->mentions, mention_set_add_mobile) ||
            read_mention_list(L, "user_ids", &t->mentions, mention_set_add_user_id))
            return fail(err, err_cap, "%s: result[%lld]: mobiles and user_ids must be lists of strings",
                        where, (long long)index);
        sandbox_rawfield(L, -1, "all");
        t->mentions.all = t->mentions.all || lua_toboolean(L, -1);
        lua_pop(L, 1);
        char item[300];
        snprintf(item, sizeof item, "%s: result[%lld]", where, (long long)index);
        escalation escalate;
        sandbox_rawfield(L, -1, "escalate");
        int rc = escalation_read(L, conf, r, item, &escalate, err, err_cap);
        lua_pop(L, 1);
        if (rc)
            return -1;
        if (!t->escalate.len) /* the receiver's first item that escalates says how */
            t->escalate = escalate;
    }
    return 0;
}

/* Building the arguments, the route's call and reading its result are one
 * protected call (sandbox_run): a Lua error in any of them, the memory cap
 * as much as the script's own, is an error of this alert's route, not an
 * abort of the process. */
typedef struct route_call {
    script_state *s;
    const alert *a;
    const receiver *default_receiver;
    const route_request *request;
    route_result *out;
    char *err;
    size_t err_cap;
    int rc;
} route_call;

static void push_route_args(lua_State *L, const route_call *c)
{
    script_push_alert(L, c->a);
    lua_pushstring(L, c->default_receiver->name);
    const config *conf = &c->s->gen->conf;
    lua_createtable(L, 0, (int)conf->receivers_len);
    for (size_t i = 0; i < conf->receivers_len; i++) {
        lua_pushstring(L, conf->receivers[i].channel_name);
        lua_setfield(L, -2, conf->receivers[i].name);
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, c->request ? c->request->endpoint : "webhook");
    lua_setfield(L, -2, "endpoint");
    if (c->request && c->request->receiver) {
        lua_pushstring(L, c->request->receiver);
        lua_setfield(L, -2, "receiver");
    }
}

static int read_route_result(lua_State *L, route_call *c)
{
    int rc = 0;
    if (lua_isnil(L, -1)) {
        add_target(c->out, c->default_receiver);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        rc = read_item(c->s, c->out, 1, c->err, c->err_cap);
    } else if (lua_istable(L, -1)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n && rc == 0; i++) {
            lua_rawgeti(L, -1, i);
            rc = read_item(c->s, c->out, i, c->err, c->err_cap);
            lua_pop(L, 1);
        }
    } else {
        rc = fail(c->err, c->err_cap,
                  "%s: the route function must return nil, a receiver name or a list, got %s",
                  c->s->gen->route.path, luaL_typename(L, -1));
    }
    return rc;
}

static int run_route(lua_State *L, void *ctx)
{
    route_call *c = ctx;
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->s->route_ref);
    push_route_args(L, c);
    lua_call(L, 4, 1);
    c->rc = read_route_result(L, c);
    return 0;
}

int route_alert(script_state *s, const alert *a, const receiver *default_receiver,
                const route_request *request, route_result *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    lua_State *L = s->L;
    int top = lua_gettop(L);
    route_call call = {s, a, default_receiver, request, out, err, err_cap, 0};
    int rc = sandbox_run(L, run_route, &call, 0, 0, err, err_cap) ? -1 : call.rc;
    lua_settop(L, top);
    script_end_call(s, NULL);
    if (rc)
        route_result_free(out);
    return rc;
}

void route_result_free(route_result *r)
{
    for (size_t i = 0; i < r->len; i++)
        mention_set_free(&r->items[i].mentions);
    free(r->items);
    memset(r, 0, sizeof *r);
}
