/* A sandboxed Lua state loaded with one generation's route script and
 * templates. Each ingest thread owns one (never shared); the CLI and the
 * generation self-check make their own. */
#ifndef HERALD_SCRIPT_H
#define HERALD_SCRIPT_H

#include <lua.h>

#include "alert/alert.h"
#include "config/conf.h"
#include "config/generation.h"

/* The route script and each template run in an environment of their own
 * (lua/isolate.h): what one call assigns to globals, no later call and no
 * other chunk sees. */
typedef struct script_state {
    generation *gen;       /* holds a reference */
    lua_State *L;
    int route_ref;         /* registry reference to the route function */
    int route_env_ref;     /* ... to the route script's environment */
    int templates_ref;     /* ... to {name = render function} */
    int template_envs_ref; /* ... to {name = that template's environment} */
} script_state;

/* Returns 0, or -1 with "file:line: message" in err. */
int script_open(script_state *s, generation *g, char *err, size_t err_cap);
void script_close(script_state *s);

/* Loads one template in a state of its own, as script_open would, and
 * forgets it: 0, or -1 with "file:line: message" in err. */
int script_try_template(const generation *g, const source_file *src, char *err, size_t err_cap);

/* After every call into the route function (template NULL) or a
 * template's render function, failed calls included: forgets the globals
 * that call assigned. */
void script_end_call(script_state *s, const char *template_name);

/* A full collection: after an exceptional request, the garbage of its
 * calls goes now rather than when the state's next cycle comes. */
void script_collect_garbage(script_state *s);

/* Pushes fresh plain tables shaped like Alertmanager's template data. */
void script_push_labelset(lua_State *L, const labelset *set);
void script_push_alert(lua_State *L, const alert *a);
/* Sets each of `fields` as a string field of the table on top of the stack. */
void script_set_fields(lua_State *L, const labelset *fields);

#endif
