#include "pipeline/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/samples.h"
#include "pipeline/render.h"
#include "pipeline/route.h"
#include "pipeline/script.h"
#include "plugin/host.h"
#include "util/error.h"
#include "util/log.h"

/* Renders both samples with the receiver's template and has its channel
 * prepare them: what serving will do, minus the network. */
static int check_receiver(script_state *s, const receiver *r, const alert_batch *sample,
                          char *err, size_t err_cap)
{
    const alert **alerts = xcalloc(sample->len, sizeof *alerts);
    for (size_t i = 0; i < sample->len; i++)
        alerts[i] = &sample->alerts[i];
    render_input in = {r, sample, alerts, sample->len, &r->mentions, 0, 0, NULL, NULL};
    rendered msg;
    char why[512];
    int rc = render_template(s, &in, &msg, why, sizeof why);
    free(alerts);
    if (rc)
        return fail(err, err_cap, "receivers.%s: template %s fails on the %s sample: %s", r->name,
                    r->template_name, alert_status_name(sample->status), why);
    if (!(r->channel->formats & (unsigned)msg.format)) {
        rendered_free(&msg);
        return fail(err, err_cap,
                    "receivers.%s: template %s returns a format channel %s does not take",
                    r->name, r->template_name, r->channel_name);
    }
    herald_message m;
    rendered_as_message(&msg, r->name, alert_status_name(sample->status), sample->len, &m);
    if (channel_needs_payload(r->channel, r->instance)) {
        m.payload = sample->source;
        m.payload_len = sample->source_len;
    }
    herald_request req;
    request_init(&req);
    why[0] = '\0';
    rc = r->channel->prepare(r->instance, &m, &req, why, sizeof why);
    request_free(&req);
    rendered_free(&msg);
    if (rc)
        return fail(err, err_cap, "receivers.%s: channel %s cannot send the %s sample: %s", r->name,
                    r->channel_name, alert_status_name(sample->status),
                    why[0] ? why : "(no reason given)");
    return 0;
}

static int used_by_a_receiver(const config *c, const char *template_name)
{
    for (size_t i = 0; i < c->receivers_len; i++)
        if (strcmp(c->receivers[i].template_name, template_name) == 0)
            return 1;
    return 0;
}

/* A template no receiver uses cannot break a message: one that fails to
 * load is left out with a warning, so a half-finished new template in the
 * folder does not block a reload (or a start) of everything else. */
static void skip_unused_broken_templates(generation *g)
{
    for (size_t i = 0; i < g->templates_len;) {
        const source_file *t = &g->templates[i];
        char why[512];
        if (!used_by_a_receiver(&g->conf, t->name) && script_try_template(g, t, why, sizeof why)) {
            log_warn("config", "template %s is used by no receiver and does not load, so it is "
                     "left out: %s", t->name, why);
            generation_drop_template(g, i);
        } else {
            i++;
        }
    }
}

static int self_check(generation *g, char *err, size_t err_cap)
{
    script_state s;
    if (script_open(&s, g, err, err_cap))
        return -1;
    int rc = 0;
    const receiver *def = config_receiver(&g->conf, g->conf.default_receiver);
    for (int resolved = 0; resolved < 2 && rc == 0; resolved++) {
        alert_batch sample;
        sample_batch(resolved, &sample);
        for (size_t i = 0; i < sample.len && rc == 0; i++) {
            route_result routes;
            char why[512];
            rc = route_alert(&s, &sample.alerts[i], def, NULL, &routes, why, sizeof why);
            if (rc)
                fail(err, err_cap, "route fails on the %s sample: %s",
                         alert_status_name(sample.status), why);
            else
                route_result_free(&routes);
        }
        for (size_t i = 0; i < g->conf.receivers_len && rc == 0; i++)
            rc = check_receiver(&s, &g->conf.receivers[i], &sample, err, err_cap);
        alert_batch_free(&sample);
    }
    script_close(&s);
    return rc;
}

generation *generation_build(const char *config_path, strbuf *report, char *err, size_t err_cap)
{
    return generation_build_in(config_path, NULL, report, err, err_cap);
}

generation *generation_build_in(const char *config_path, const char *base_dir, strbuf *report,
                                char *err, size_t err_cap)
{
    generation *g = generation_load(config_path, base_dir, err, err_cap);
    if (!g)
        return NULL;
    skip_unused_broken_templates(g);
    if (self_check(g, err, err_cap)) {
        generation_unref(g);
        return NULL;
    }
    generation_number(g);
    if (report)
        generation_describe(g, report);
    return g;
}
