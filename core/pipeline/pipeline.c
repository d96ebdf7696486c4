#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/render.h"
#include "pipeline/route.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"

/* Room for a template error, as the log shows it. */
#define ERROR_CAP 512

/* The alerts one receiver gets from this request, with the extra mentions
 * the route gave each of them. */
typedef struct receiver_group {
    const receiver *receiver;
    const alert **alerts;
    mention_set *extras;
    size_t len, cap;
} receiver_group;

typedef struct grouping {
    receiver_group *items;
    size_t len;
    size_t first_cap; /* the batch's alerts: room for all at once */
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
    if (grp->len == grp->cap) {
        grp->cap = grp->cap ? 2 * grp->cap : g->first_cap ? g->first_cap : 1;
        grp->alerts = xrealloc(grp->alerts, grp->cap * sizeof *grp->alerts);
        grp->extras = xrealloc(grp->extras, grp->cap * sizeof *grp->extras);
    }
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

/* A group's messages as rendered, in order, with what each holds. */
typedef struct group_messages {
    notification **items;
    size_t *sizes;            /* alerts in each */
    int *failed;              /* its template failed: it is the fallback */
    char (*errors)[ERROR_CAP];
    size_t len;
} group_messages;

static void messages_add(group_messages *m, notification *n, size_t size, int failed,
                         const char *error)
{
    m->items = xrealloc(m->items, (m->len + 1) * sizeof *m->items);
    m->sizes = xrealloc(m->sizes, (m->len + 1) * sizeof *m->sizes);
    m->failed = xrealloc(m->failed, (m->len + 1) * sizeof *m->failed);
    m->errors = xrealloc(m->errors, (m->len + 1) * sizeof *m->errors);
    m->items[m->len] = n;
    m->sizes[m->len] = size;
    m->failed[m->len] = failed;
    if (failed)
        snprintf(m->errors[m->len], ERROR_CAP, "%s", error);
    else
        m->errors[m->len][0] = '\0';
    m->len++;
}

/* Frees the messages not taken (taken: their items are NULL). */
static void messages_free(group_messages *m)
{
    for (size_t i = 0; i < m->len; i++)
        notification_free(m->items[i]);
    free(m->items);
    free(m->sizes);
    free(m->failed);
    free(m->errors);
    memset(m, 0, sizeof *m);
}

/* Halves alerts[from, from + len) until each half's message fits (or is
 * one alert, which the channel cuts as it must), in order: the sizes of
 * the parts. A trial renders without part numbers. */
static void split_to_fit(script_state *s, const alert_batch *batch, const receiver *r,
                         const alert *const *alerts, const mention_set *extras, size_t from,
                         size_t len, pipeline_parts *out)
{
    if (len > 1) {
        int failed;
        char err[ERROR_CAP];
        notification *trial = render_notification(s, batch, r, alerts + from, extras + from, len,
                                                   0, 0, NULL, NULL, &failed, err, sizeof err);
        int fits = !too_long(r, trial);
        notification_free(trial);
        if (!fits) {
            split_to_fit(s, batch, r, alerts, extras, from, len / 2, out);
            split_to_fit(s, batch, r, alerts, extras, from + len / 2, len - len / 2, out);
            return;
        }
    }
    out->sizes = xrealloc(out->sizes, (out->len + 1) * sizeof *out->sizes);
    out->sizes[out->len++] = len;
}

/* Renders alerts[0..len) split into the parts `sizes` gives, numbered. */
static void render_parts(script_state *s, const alert_batch *batch, const receiver *r,
                         const alert *const *alerts, const mention_set *extras,
                         const size_t *sizes, size_t parts, group_messages *out)
{
    for (size_t i = 0, from = 0; i < parts; from += sizes[i++]) {
        int failed;
        char err[ERROR_CAP];
        notification *n = render_notification(s, batch, r, alerts + from, extras + from, sizes[i],
                                               i + 1, parts, NULL, NULL, &failed, err, sizeof err);
        messages_add(out, n, sizes[i], failed, err);
    }
}

/* The group's messages: the whole group when its text fits the channel's
 * budget; else numbered parts ("TITLE (2/3)", data.part in the template)
 * of fewer alerts each, so that no alert is cut out of the text. The
 * parts are first as many equal ones as the whole's length needs, and
 * one more for the heading each repeats, rendered numbered at once: when
 * each fits, as it nearly always does, they are the messages. Only when
 * one does not is it halved until it fits, and all are rendered again
 * with the new count. (Halving the whole from the top rendered every
 * alert once per level: five times for 250 alerts.) */
static void render_group(script_state *s, const alert_batch *batch, const receiver *r,
                         const alert *const *alerts, const mention_set *extras, size_t len,
                         group_messages *out)
{
    memset(out, 0, sizeof *out);
    int failed;
    char err[ERROR_CAP];
    notification *whole = render_notification(s, batch, r, alerts, extras, len, 0, 0, NULL, NULL,
                                              &failed, err, sizeof err);
    if (len < 2 || !too_long(r, whole)) {
        messages_add(out, whole, len, failed, err);
        return;
    }
    size_t guess = strlen(whole->content.text) / r->text_budget + 2;
    if (guess > len)
        guess = len;
    notification_free(whole);
    size_t *equal = xcalloc(guess, sizeof *equal);
    for (size_t i = 0; i < guess; i++)
        equal[i] = len / guess + (i < len % guess);
    render_parts(s, batch, r, alerts, extras, equal, guess, out);
    int all_fit = 1;
    for (size_t i = 0; i < out->len; i++)
        all_fit = all_fit && (out->sizes[i] < 2 || !too_long(r, out->items[i]));
    if (!all_fit) {
        messages_free(out);
        pipeline_parts parts = {NULL, 0};
        for (size_t i = 0, from = 0; i < guess; from += equal[i++])
            split_to_fit(s, batch, r, alerts, extras, from, equal[i], &parts);
        render_parts(s, batch, r, alerts, extras, parts.sizes, parts.len, out);
        free(parts.sizes);
    }
    free(equal);
}

void pipeline_split(script_state *s, const alert_batch *batch, const receiver *r,
                    const alert *const *alerts, const mention_set *extras, size_t len,
                    pipeline_parts *parts)
{
    group_messages messages;
    render_group(s, batch, r, alerts, extras, len, &messages);
    parts->len = messages.len;
    parts->sizes = messages.sizes;
    messages.sizes = NULL;
    messages_free(&messages);
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

/* Renders the group into its messages (render_group), each a
 * notification of its own, sent within the rate limit. */
static void emit(script_state *s, const alert_batch *batch, const receiver *r,
                 const alert *const *alerts, const mention_set *extras, size_t len,
                 pipeline_output *out, pipeline_stats *stats)
{
    group_messages messages;
    render_group(s, batch, r, alerts, extras, len, &messages);
    for (size_t i = 0; i < messages.len; i++) {
        push(r, messages.items[i], messages.failed[i], messages.errors[i], out, stats);
        messages.items[i] = NULL;
    }
    messages_free(&messages);
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
        char err[ERROR_CAP];
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
    grouping groups = {.first_cap = batch->len};
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
