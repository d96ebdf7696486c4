/* Rendering: a receiver's template turns a group of alerts into a message. */
#ifndef HERALD_RENDER_H
#define HERALD_RENDER_H

#include "alert.h"
#include "conf.h"
#include "herald/plugin.h"
#include "script.h"

typedef struct rendered {
    herald_format format;
    char *title;
    char *text;            /* for NATIVE: the channel body as JSON */
    mention_set mentions;
} rendered;

typedef struct render_input {
    const receiver *receiver;
    const alert_batch *batch;
    const alert *const *alerts;  /* the alerts of this message */
    size_t len;
    const mention_set *mentions; /* receiver's and route's, merged */
} render_input;

/* Calls the receiver's template. Returns 0, or -1 with "file:line:
 * message" in err (the caller then uses render_fallback). */
int render_template(script_state *s, const render_input *in, rendered *out, char *err,
                    size_t err_cap);
/* The built-in plain-text message, made without Lua so it cannot fail. */
void render_fallback(const render_input *in, const tz_zone *zone, rendered *out);
void rendered_free(rendered *r);
/* A view in the plugin ABI's terms; `msg` borrows from its arguments. */
void rendered_as_message(const rendered *r, const char *receiver, const char *status,
                         size_t alert_count, herald_message *msg);

/* "firing" if any alert fires, else "resolved". */
const char *render_status(const alert *const *alerts, size_t len);

#endif
