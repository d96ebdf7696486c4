#include "pipeline/escalate.h"

#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "lua/sandbox.h"
#include "util/error.h"
#include "util/units.h"

/* The step table on top of L, at `where` (".escalate" or ".escalate[2]"). */
static int read_step(lua_State *L, const config *conf, const receiver *from, const char *where,
                     const escalation *so_far, escalation_step *step, char *err, size_t err_cap)
{
    if (!lua_istable(L, -1))
        return fail(err, err_cap, "%s: expected a table { after = \"15m\", to = \"oncall\" }, got %s",
                    where, luaL_typename(L, -1));
    sandbox_rawfield(L, -1, "after");
    const char *after = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int64_t after_ms = 0;
    int bad_after = !after || parse_duration_ms(after, &after_ms) || after_ms <= 0 ||
                    strlen(after) >= sizeof step->after;
    if (!bad_after)
        snprintf(step->after, sizeof step->after, "%s", after);
    lua_pop(L, 1);
    if (bad_after)
        return fail(err, err_cap, "%s.after: expected a duration such as \"15m\" or \"1h\"",
                    where);
    step->after_ms = after_ms;
    sandbox_rawfield(L, -1, "to");
    const char *to = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    step->to = to ? config_receiver(conf, to) : NULL;
    int rc = 0;
    if (!to)
        rc = fail(err, err_cap, "%s.to: expected a receiver name", where);
    else if (!step->to)
        rc = fail(err, err_cap, "%s.to: no receiver named \"%s\"", where, to);
    else if (step->to == from)
        rc = fail(err, err_cap, "%s.to: \"%s\" is the receiver it escalates from", where, to);
    for (size_t i = 0; rc == 0 && i < so_far->len; i++) {
        if (so_far->steps[i].to == step->to)
            rc = fail(err, err_cap, "%s.to: \"%s\" is escalated to twice", where, to);
        else if (so_far->steps[i].after_ms >= after_ms)
            rc = fail(err, err_cap, "%s.after: %s is not later than the step before (%s)", where,
                      step->after, so_far->steps[i].after);
    }
    lua_pop(L, 1);
    return rc;
}

int escalation_read(lua_State *L, const config *conf, const receiver *from, const char *where,
                    escalation *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    if (lua_isnil(L, -1))
        return 0;
    char at[256];
    if (!lua_istable(L, -1))
        return fail(err, err_cap, "%s.escalate: expected { after = \"15m\", to = \"oncall\" } or a "
                                  "list of them, got %s",
                    where, luaL_typename(L, -1));
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    if (n == 0) {
        snprintf(at, sizeof at, "%s.escalate", where);
        if (read_step(L, conf, from, at, out, &out->steps[0], err, err_cap))
            return -1;
        out->len = 1;
        return 0;
    }
    if (n > ESCALATION_MAX_STEPS)
        return fail(err, err_cap, "%s.escalate: %lld steps, at most %d", where, (long long)n,
                    ESCALATION_MAX_STEPS);
    for (lua_Integer i = 1; i <= n; i++) {
        snprintf(at, sizeof at, "%s.escalate[%lld]", where, (long long)i);
        lua_rawgeti(L, -1, i);
        int rc = read_step(L, conf, from, at, out, &out->steps[out->len], err, err_cap);
        lua_pop(L, 1);
        if (rc)
            return -1;
        out->len++;
    }
    return 0;
}
