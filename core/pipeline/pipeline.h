/* The ingest pipeline after parsing: route every alert, group alerts per
 * receiver (or one per alert where the receiver splits), render each group
 * into a notification. Route and template errors never lose an alert: they
 * are logged and counted, and the alert goes to the default receiver or
 * out with the built-in fallback message. */
#ifndef HERALD_PIPELINE_H
#define HERALD_PIPELINE_H

#include <stddef.h>

#include "alert/alert.h"
#include "notification/notification.h"
#include "pipeline/script.h"

typedef struct pipeline_stats {
    size_t alerts;
    size_t muted;            /* alerts the route script sent nowhere */
    size_t route_errors;
    size_t template_errors;
} pipeline_stats;

typedef struct pipeline_output {
    notification **items;
    size_t len;
} pipeline_output;

/* `default_receiver` is the receiver named by the request path, or NULL
 * for the configuration's default. */
void pipeline_run(script_state *s, const alert_batch *batch, const receiver *default_receiver,
                  pipeline_output *out, pipeline_stats *stats);
/* The mentions the route script adds for receiver `r` to each of the
 * batch's alerts (extras[i] for alert i; empty where the route sends it
 * elsewhere), `r` standing as the default receiver, as /webhook/r gives.
 * extras holds batch->len sets, each to be freed with mention_set_free. */
void pipeline_route_mentions(script_state *s, const alert_batch *batch, const receiver *r,
                             mention_set *extras);
/* What receiver `r` alone sends for all the batch's alerts, whichever
 * receivers the route script picks, with the mentions it adds for `r`
 * (herald send-test). */
void pipeline_render_for(script_state *s, const alert_batch *batch, const receiver *r,
                         pipeline_output *out, pipeline_stats *stats);
void pipeline_output_free(pipeline_output *out);

/* How many alerts each message of a group holds, in order: one part (the
 * whole group), or the numbered parts a group too long for its channel
 * goes as. */
typedef struct pipeline_parts {
    size_t *sizes;
    size_t len;
} pipeline_parts;

/* The parts alerts[0..len) (with the route's extra mentions) goes to r
 * as; free parts->sizes. For `herald render`, which shows each. */
void pipeline_split(script_state *s, const alert_batch *batch, const receiver *r,
                    const alert *const *alerts, const mention_set *extras, size_t len,
                    pipeline_parts *parts);

#endif
