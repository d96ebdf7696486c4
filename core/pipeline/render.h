/* Rendering: a receiver's template turns a group of alerts into a message. */
#ifndef HERALD_RENDER_H
#define HERALD_RENDER_H

#include "alert/alert.h"
#include "config/conf.h"
#include "herald/plugin.h"
#include "notification/rendered.h"
#include "pipeline/script.h"

typedef struct render_input {
    const receiver *receiver;
    const alert_batch *batch;
    const alert *const *alerts;  /* the alerts of this message */
    size_t len;
    const mention_set *mentions; /* receiver's and route's, merged */
    /* Part `part` of `parts` (from 1) of a group too long for one
     * message; parts 0: the whole group. The title gets " (part/parts)". */
    size_t part, parts;
    /* An escalation's message: data.escalation = { from = "ops", after =
     * "15m", to = <this receiver> }; NULL: an ordinary one. */
    const char *escalated_from, *escalated_after;
} render_input;

/* Calls the receiver's template. Returns 0, or -1 with "file:line:
 * message" in err (the caller then uses render_fallback). */
int render_template(script_state *s, const render_input *in, rendered *out, char *err,
                    size_t err_cap);
/* The built-in plain-text message, made without Lua so it cannot fail. */
void render_fallback(const render_input *in, const tz_zone *zone, rendered *out);

/* "firing" if any alert fires, else "resolved". */
const char *render_status(const alert *const *alerts, size_t len);

#endif
