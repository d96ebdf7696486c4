#include "pipeline/pipeline.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/render.h"
#include "pipeline/route.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"

/* The alerts one receiver gets from this request, with the extra mentions
 * the route gave each of them. */
typedef struct receiver_group {
    const receiver *receiver;
    const alert **alerts;
    mention_set *extras;
    size_t len;
} receiver_group;

typedef struct grouping {
    receiver_group *items;
    size_t len;
} grouping;

static void group_add(grouping *g, const receiver *r, const alert *a, const mention_set *extra)
{
    receiver_group *grp = NULL;
    for (size_t i = 0; i < g->len && !grp; i++)
        if (g->items[i].receiver == r)
            grp = &g->items[i];
    if (!grp) {
        g->items = xrealloc(g->items, (g->len + 1) * sizeof *g->items);
        grp = &g->items[g->len++];
        memset(grp, 0, sizeof *grp);
        grp->receiver = r;
    }
    grp->alerts = xrealloc(grp->alerts, (grp->len + 1) * sizeof *grp->alerts);
    grp->extras = xrealloc(grp->extras, (grp->len + 1) * sizeof *grp->extras);
    grp->alerts[grp->len] = a;
    memset(&grp->extras[grp->len], 0, sizeof grp->extras[0]);
    if (extra)
        mention_set_merge(&grp->extras[grp->len], extra);
    grp->len++;
}

static void grouping_free(grouping *g)
{
    for (size_t i = 0; i < g->len; i++) {
        for (size_t a = 0; a < g->items[i].len; a++)
            mention_set_free(&g->items[i].extras[a]);
        free(g->items[i].alerts);
        free(g->items[i].extras);
    }
    free(g->items);
}

/* One notification for alerts[0..len) at r, as part `part` of `parts`
 * (parts 0: the whole group). A failed template gives the built-in
 * message, with *failed set and the reason in err. */
static notification *render_notification(script_state *s, const alert_batch *batch,
                                         const receiver *r, const alert *const *alerts,
                                         const mention_set *extras, size_t len, size_t part,
                                         size_t parts, const escalation_step *escalated,
                                         const char *escalated_from, int *failed, char *err,
                                         size_t err_cap)
{
    mention_set mentions = {0};
    mention_set_merge(&mentions, &r->mentions);
    for (size_t i = 0; i < len; i++)
        mention_set_merge(&mentions, &extras[i]);
    render_input in = {r,     batch, alerts,         len, &mentions,
                       part,  parts, escalated_from, escalated ? escalated->after : NULL};
    rendered msg;
    *failed = render_template(s, &in, &msg, err, err_cap) != 0;
    if (*failed)
        render_fallback(&in, s->gen->conf.zone, &msg);
    mention_set_free(&mentions);

    notification *n = xcalloc(1, sizeof *n);
    n->receiver = xstrdup(r->name);
    n->status = xstrdup(render_status(alerts, len));
    n->alert_count = len;
    n->content = msg;
    if (batch->source && channel_needs_payload(r->channel, r->instance)) {
        n->payload = xstrndup(batch->source, batch->source_len);
        n->payload_len = batch->source_len;
    }
    n->created_ms = n->next_attempt_ms = wall_ms();
    n->repeat_interval_ms = r->repeat_interval_ms;
    n->source = batch->endpoint;
    notification_describe(n, batch->group_key, alerts, len);
    if (escalated) {
        n->escalate_at_ms = n->created_ms + escalated->after_ms;
        n->escalated_from = xstrdup(escalated_from);
    }
    return n;
}

/* A message whose text is over the channel's budget would be cut, and the
 * alerts at its end lost from it. A native body has no text to measure. */
static int too_long(const receiver *r, const notification *n)
{
    return r->text_budget && n->content.format != HERALD_FORMAT_NATIVE &&
           strlen(n->content.text) > r->text_budget;
}

/* Whether the message of alerts[0..len) fits the channel's budget: the
 * template alone, without the notification's records (a trial). */
static int fits(script_state *s, const alert_batch *batch, const receiver *r,
                const alert *const *alerts, const mention_set *extras, size_t len)
{
    mention_set mentions = {0};
    mention_set_merge(&mentions, &r->mentions);
    for (size_t i = 0; i < len; i++)
        mention_set_merge(&mentions, &extras[i]);
    render_input in = {r, batch, alerts, len, &mentions, 0, 0, NULL, NULL};
    rendered msg;
    char err[512];
    if (render_template(s, &in, &msg, err, sizeof err))
        render_fallback(&in, s->gen->conf.zone, &msg);
    mention_set_free(&mentions);
    int ok = !r->text_budget || msg.format == HERALD_FORMAT_NATIVE ||
             strlen(msg.text) <= r->text_budget;
    rendered_free(&msg);
    return ok;
}

/* Halves alerts[from, from + len) until each half's message fits (or is
 * one alert, which the channel cuts as it must), in order. */
static void split_to_fit(script_state *s, const alert_batch *batch, const receiver *r,
                         const alert *const *alerts, const mention_set *extras, size_t from,
                         size_t len, pipeline_parts *out)
{
    if (len > 1 && !fits(s, batch, r, alerts + from, extras + from, len)) {
        split_to_fit(s, batch, r, alerts, extras, from, len / 2, out);
        split_to_fit(s, batch, r, alerts, extras, from + len / 2, len - len / 2, out);
        return;
    }
    out->sizes = xrealloc(out->sizes, (out->len + 1) * sizeof *out->sizes);
    out->sizes[out->len++] = len;
}

/* The whole group's notification when it fits (returned), else NULL with
 * the parts in *parts. */
static notification *split_group(script_state *s, const alert_batch *batch, const receiver *r,
                                 const alert *const *alerts, const mention_set *extras, size_t len,
                                 pipeline_parts *parts, int *failed, char *err, size_t err_cap)
{
    memset(parts, 0, sizeof *parts);
    notification *whole = render_notification(s, batch, r, alerts, extras, len, 0, 0, NULL, NULL,
                                              failed, err, err_cap);
    if (len < 2 || !too_long(r, whole)) {
        parts->sizes = xcalloc(1, sizeof *parts->sizes);
        parts->sizes[parts->len++] = len;
        return whole;
    }
    /* As many equal parts as the whole's length needs, and one more for
     * the heading each repeats; only a part still too long is halved
     * again. (Halving the whole from the top rendered every alert once
     * per level: five times for 250 alerts.) */
    size_t guess = strlen(whole->content.text) / r->text_budget + 2;
    if (guess > len)
        guess = len;
    notification_free(whole);
    for (size_t i = 0, from = 0; i < guess; i++) {
        size_t size = len / guess + (i < len % guess);
        split_to_fit(s, batch, r, alerts, extras, from, size, parts);
        from += size;
    }
    return NULL;
}

void pipeline_split(script_state *s, const alert_batch *batch, const receiver *r,
                    const alert *const *alerts, const mention_set *extras, size_t len,
                    pipeline_parts *parts)
{
    char err[512];
    int failed;
    notification *whole = split_group(s, batch, r, alerts, extras, len, parts, &failed, err,
                                      sizeof err);
    if (whole)
        notification_free(whole);
}

static void push(const receiver *r, notification *n, int failed, const char *err,
                 pipeline_output *out, pipeline_stats *stats)
{
    if (failed) {
        stats->template_errors++;
        metrics_count(METRIC_TEMPLATE_ERRORS);
        log_error(r->name, "template %s failed, sending the built-in fallback message: %s",
                  r->template_name, err);
    }
    out->items = xrealloc(out->items, (out->len + 1) * sizeof *out->items);
    out->items[out->len++] = n;
}

/* Renders the group into one notification, or, when its text is over the
 * channel's budget, into numbered parts ("TITLE (2/3)", data.part in the
 * template) of fewer alerts each, so that no alert is cut out of the text;
 * each part is a message of its own, sent within the rate limit. */
static void emit(script_state *s, const alert_batch *batch, const receiver *r,
                 const alert *const *alerts, const mention_set *extras, size_t len,
                 pipeline_output *out, pipeline_stats *stats)
{
    char err[512];
    int failed;
    pipeline_parts parts;
    notification *whole = split_group(s, batch, r, alerts, extras, len, &parts, &failed, err,
                                      sizeof err);
    if (whole) {
        push(r, whole, failed, err, out, stats);
    } else {
        for (size_t i = 0, from = 0; i < parts.len; from += parts.sizes[i++]) {
            notification *n = render_notification(s, batch, r, alerts + from, extras + from,
                                                   parts.sizes[i], i + 1, parts.len, NULL, NULL,
                                                   &failed, err, sizeof err);
            push(r, n, failed, err, out, stats);
        }
    }
    free(parts.sizes);
}

/* The escalations of a firing alert the route sends to t->receiver: one
 * notification per step, to the step's receiver and by its template,
 * which the store keeps until the step's time. */
static void emit_escalations(script_state *s, const alert_batch *batch, const route_target *t,
                             const alert *a, pipeline_output *out, pipeline_stats *stats)
{
    if (a->status != ALERT_FIRING)
        return;
    for (size_t k = 0; k < t->escalate.len; k++) {
        const escalation_step *step = &t->escalate.steps[k];
        const char *from = k ? t->escalate.steps[k - 1].to->name : t->receiver->name;
        const mention_set none = {0};
        char err[512];
        int failed;
        notification *n = render_notification(s, batch, step->to, &a, &none, 1, 0, 0, step, from,
                                               &failed, err, sizeof err);
        push(step->to, n, failed, err, out, stats);
    }
}

void pipeline_run(script_state *s, const alert_batch *batch, const receiver *default_receiver,
                  pipeline_output *out, pipeline_stats *stats)
{
    memset(out, 0, sizeof *out);
    memset(stats, 0, sizeof *stats);
    const config *conf = &s->gen->conf;
    route_request request = {batch->endpoint ? batch->endpoint : "webhook",
                             default_receiver ? default_receiver->name : NULL};
    if (!default_receiver)
        default_receiver = config_receiver(conf, conf->default_receiver);
    grouping groups = {0};
    for (size_t i = 0; i < batch->len; i++) {
        const alert *a = &batch->alerts[i];
        stats->alerts++;
        route_result routes;
        char err[512];
        if (route_alert(s, a, default_receiver, &request, &routes, err, sizeof err)) {
            stats->route_errors++;
            metrics_count(METRIC_ROUTE_ERRORS);
            log_error("route", "alert %s (%s) goes to the default receiver %s: %s", a->fingerprint,
                      labelset_get(&a->labels, "alertname") ? labelset_get(&a->labels, "alertname") : "?",
                      default_receiver->name, err);
            group_add(&groups, default_receiver, a, NULL);
            continue;
        }
        if (routes.len == 0) {
            stats->muted++;
            metrics_count(METRIC_ALERTS_MUTED);
            log_debug("route", "alert %s muted by the route script", a->fingerprint);
        }
        for (size_t t = 0; t < routes.len; t++) {
            group_add(&groups, routes.items[t].receiver, a, &routes.items[t].mentions);
            emit_escalations(s, batch, &routes.items[t], a, out, stats);
        }
        route_result_free(&routes);
    }
    for (size_t g = 0; g < groups.len; g++) {
        const receiver_group *grp = &groups.items[g];
        if (grp->receiver->split_per_alert) {
            for (size_t a = 0; a < grp->len; a++)
                emit(s, batch, grp->receiver, &grp->alerts[a], &grp->extras[a], 1, out, stats);
        } else {
            emit(s, batch, grp->receiver, grp->alerts, grp->extras, grp->len, out, stats);
        }
    }
    grouping_free(&groups);
}

void pipeline_output_free(pipeline_output *out)
{
    for (size_t i = 0; i < out->len; i++)
        notification_free(out->items[i]);
    free(out->items);
    memset(out, 0, sizeof *out);
}

void pipeline_route_mentions(script_state *s, const alert_batch *batch, const receiver *r,
                             mention_set *extras)
{
    const route_request request = {"webhook", r->name};
    for (size_t i = 0; i < batch->len; i++) {
        memset(&extras[i], 0, sizeof extras[i]);
        route_result routes;
        char err[512];
        /* A route error sends the alert to the default receiver with no
         * extras, as in pipeline_run. */
        if (route_alert(s, &batch->alerts[i], r, &request, &routes, err, sizeof err))
            continue;
        for (size_t t = 0; t < routes.len; t++)
            if (routes.items[t].receiver == r)
                mention_set_merge(&extras[i], &routes.items[t].mentions);
        route_result_free(&routes);
    }
}

void pipeline_render_for(script_state *s, const alert_batch *batch, const receiver *r,
                         pipeline_output *out, pipeline_stats *stats)
{
    memset(out, 0, sizeof *out);
    memset(stats, 0, sizeof *stats);
    stats->alerts = batch->len;
    const alert **alerts = xcalloc(batch->len ? batch->len : 1, sizeof *alerts);
    mention_set *extras = xcalloc(batch->len ? batch->len : 1, sizeof *extras);
    for (size_t i = 0; i < batch->len; i++)
        alerts[i] = &batch->alerts[i];
    pipeline_route_mentions(s, batch, r, extras);
    if (r->split_per_alert)
        for (size_t i = 0; i < batch->len; i++)
            emit(s, batch, r, &alerts[i], &extras[i], 1, out, stats);
    else
        emit(s, batch, r, alerts, extras, batch->len, out, stats);
    for (size_t i = 0; i < batch->len; i++)
        mention_set_free(&extras[i]);
    free(alerts);
    free(extras);
}
