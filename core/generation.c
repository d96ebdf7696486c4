#include "generation.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "render.h"
#include "route.h"
#include "samples.h"
#include "script.h"

static int read_source(const char *name, const char *path, source_file *out, char *err,
                       size_t err_cap)
{
    out->name = xstrdup(name);
    out->path = xstrdup(path);
    strbuf sb = STRBUF_INIT;
    if (sb_read_file(&sb, path)) {
        snprintf(err, err_cap, "%s: %s", path, strerror(errno));
        sb_free(&sb);
        return -1;
    }
    out->len = sb.len;
    out->text = sb_take(&sb);
    return 0;
}

static void free_source(source_file *s)
{
    free(s->name);
    free(s->path);
    free(s->text);
}

static void generation_free(generation *g)
{
    free_source(&g->route);
    for (size_t i = 0; i < g->templates_len; i++)
        free_source(&g->templates[i]);
    free(g->templates);
    config_free(&g->conf);
    free(g);
}

/* Renders both samples with the receiver's template and has its channel
 * prepare them: what serving will do, minus the network. */
static int check_receiver(script_state *s, const receiver *r, const alert_batch *sample,
                          char *err, size_t err_cap)
{
    const alert **alerts = xcalloc(sample->len, sizeof *alerts);
    for (size_t i = 0; i < sample->len; i++)
        alerts[i] = &sample->alerts[i];
    render_input in = {r, sample, alerts, sample->len, &r->mentions};
    rendered msg;
    char why[512];
    int rc = render_template(s, &in, &msg, why, sizeof why);
    free(alerts);
    if (rc) {
        snprintf(err, err_cap, "receivers.%s: template %s fails on the %s sample: %s", r->name,
                 r->template_name, alert_status_name(sample->status), why);
        return -1;
    }
    if (!(r->channel->formats & (unsigned)msg.format)) {
        snprintf(err, err_cap, "receivers.%s: template %s returns a format channel %s does not take",
                 r->name, r->template_name, r->channel_name);
        rendered_free(&msg);
        return -1;
    }
    herald_message m;
    rendered_as_message(&msg, r->name, alert_status_name(sample->status), sample->len, &m);
    if (channel_needs_payload(r->channel, r->instance)) {
        m.payload = sample->source;
        m.payload_len = sample->source_len;
    }
    herald_request req;
    request_init(&req);
    rc = r->channel->prepare(r->instance, &m, &req, why, sizeof why);
    request_free(&req);
    rendered_free(&msg);
    if (rc) {
        snprintf(err, err_cap, "receivers.%s: channel %s cannot send the %s sample: %s", r->name,
                 r->channel_name, alert_status_name(sample->status), why);
        return -1;
    }
    return 0;
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
            rc = route_alert(&s, &sample.alerts[i], def, &routes, why, sizeof why);
            if (rc)
                snprintf(err, err_cap, "route fails on the %s sample: %s",
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

static unsigned generation_counter;

generation *generation_build(const char *config_path, strbuf *report, char *err, size_t err_cap)
{
    generation *g = xcalloc(1, sizeof *g);
    atomic_init(&g->refs, 1);
    if (config_load(config_path, &g->conf, err, err_cap)) {
        free(g);
        return NULL;
    }
    const config *c = &g->conf;
    if (read_source("route", c->route_path, &g->route, err, err_cap))
        goto fail;
    g->templates = xcalloc(c->template_names_len ? c->template_names_len : 1, sizeof *g->templates);
    for (size_t i = 0; i < c->template_names_len; i++) {
        strbuf path = STRBUF_INIT;
        sb_printf(&path, "%s/%s.lua", c->templates_dir, c->template_names[i]);
        int rc = read_source(c->template_names[i], sb_str(&path), &g->templates[i], err, err_cap);
        g->templates_len++;
        sb_free(&path);
        if (rc)
            goto fail;
    }
    if (self_check(g, err, err_cap))
        goto fail;
    g->number = __atomic_add_fetch(&generation_counter, 1, __ATOMIC_SEQ_CST);
    if (report) {
        sb_printf(report, "%s: ok\n", c->path);
        sb_printf(report, "  listen      %s\n  auth        %s\n  timezone    %s\n  route       %s\n"
                          "  templates   %s (%zu)\n",
                  c->listen, auth_describe(&c->auth), c->timezone, c->route_path, c->templates_dir,
                  c->template_names_len);
        if (c->tls_cert_file)
            sb_printf(report, "  tls         %s (%s)\n", c->tls_cert_file, c->tls_summary);
        sb_printf(report, "  plugins     %s (%zu loaded)\n", c->plugin_dir, c->plugins.len);
        sb_printf(report, "  receivers   %zu, default %s\n", c->receivers_len, c->default_receiver);
        for (size_t i = 0; i < c->receivers_len; i++) {
            const receiver *r = &c->receivers[i];
            sb_printf(report, "    %-16s channel %-18s template %-14s%s\n", r->name, r->channel_name,
                      r->template_name, r->split_per_alert ? " split per alert" : "");
        }
        sb_printf(report, "  samples     firing and resolved rendered and prepared for every receiver\n");
    }
    return g;
fail:
    generation_free(g);
    return NULL;
}

generation *generation_ref(generation *g)
{
    atomic_fetch_add(&g->refs, 1);
    return g;
}

void generation_unref(generation *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1)
        generation_free(g);
}

const source_file *generation_template(const generation *g, const char *name)
{
    for (size_t i = 0; i < g->templates_len; i++)
        if (strcmp(g->templates[i].name, name) == 0)
            return &g->templates[i];
    return NULL;
}

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static generation *current;

generation *generation_acquire(void)
{
    pthread_mutex_lock(&current_lock);
    generation *g = current ? generation_ref(current) : NULL;
    pthread_mutex_unlock(&current_lock);
    return g;
}

void generation_install(generation *g)
{
    pthread_mutex_lock(&current_lock);
    generation *old = current;
    current = g;
    pthread_mutex_unlock(&current_lock);
    if (old)
        generation_unref(old);
}
