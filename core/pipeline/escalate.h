/* Escalation: a route item's `escalate` names who is told of an alert
 * still firing, unacknowledged and unsilenced after a while (README.md,
 * "Escalation"; scripts/README.md has the forms). */
#ifndef HERALD_ESCALATE_H
#define HERALD_ESCALATE_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "config/conf.h"

#define ESCALATION_MAX_STEPS 8

typedef struct escalation_step {
    const receiver *to;
    int64_t after_ms;     /* since the route's receiver was told of the firing */
    char after[24];       /* as the script wrote it: "15m" */
} escalation_step;

typedef struct escalation {
    escalation_step steps[ESCALATION_MAX_STEPS]; /* after_ms rising */
    size_t len;           /* 0: none */
} escalation;

/* Reads the `escalate` value on top of L (left there) for the route item
 * sending to `from`: nil, one step { after = "15m", to = "oncall" }, or a
 * list of them. `where` names the item in errors ("route.lua:
 * result[2]"). Returns 0, or -1 with "<where>.escalate...: why" in err. */
int escalation_read(lua_State *L, const config *conf, const receiver *from, const char *where,
                    escalation *out, char *err, size_t err_cap);

#endif
