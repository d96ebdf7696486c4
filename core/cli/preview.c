/* render and route: what a payload would become, without sending. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "action/links.h"
#include "alert/ingest.h"
#include "daemon/action_keys.h"
#include "notification/rendered.h"
#include "pipeline/pipeline.h"
#include "pipeline/render.h"
#include "pipeline/route.h"
#include "plugin/host.h"
#include "plugin/loader.h"
#include "util/clock.h"
#include "util/error.h"

/* The payload (its text kept in `body`, which batch->source points at)
 * and a script state, for render and route. Returns 0 or an exit code. */
int open_payload(const char *path, generation *g, strbuf *body, alert_batch *batch,
                        script_state *s)
{
    if (sb_read_file(body, path)) {
        char why[ERRNO_TEXT_SIZE];
        fprintf(stderr, "herald: --payload %s: %s\n", path, errno_text(errno, why, sizeof why));
        return EXIT_INVALID;
    }
    char err[1024];
    if (ingest_any(sb_str(body), body->len, wall_ms() / 1000.0, batch, err, sizeof err)) {
        fprintf(stderr, "herald: %s: %s\n", path, err);
        return EXIT_INVALID;
    }
    batch->source = sb_str(body);
    batch->source_len = body->len;
    if (script_open(s, g, err, sizeof err)) {
        fprintf(stderr, "herald: %s\n", err);
        alert_batch_free(batch);
        return EXIT_INVALID;
    }
    return 0;
}

const receiver *find_receiver(const generation *g, const char *name)
{
    const receiver *r = config_receiver(&g->conf, name);
    if (!r) {
        fprintf(stderr, "herald: --receiver: no receiver named \"%s\" in %s (have:", name,
                g->conf.path);
        for (size_t i = 0; i < g->conf.receivers_len; i++)
            fprintf(stderr, " %s", g->conf.receivers[i].name);
        fprintf(stderr, ")\n");
    }
    return r;
}

static void print_mentions(const mention_set *m)
{
    for (size_t i = 0; i < m->mobiles_len; i++)
        printf(" @%s", m->mobiles[i]);
    for (size_t i = 0; i < m->user_ids_len; i++)
        printf(" @%s", m->user_ids[i]);
    if (m->all)
        printf(" @all");
}

static int print_render(script_state *s, const receiver *r, const alert_batch *batch,
                        const alert **alerts, const mention_set *extras, size_t len,
                        size_t part, size_t parts)
{
    mention_set mentions = {0};
    mention_set_merge(&mentions, &r->mentions);
    for (size_t i = 0; i < len; i++)
        mention_set_merge(&mentions, &extras[i]);
    render_input in = {r, batch, alerts, len, &mentions, part, parts, NULL, NULL};
    rendered msg;
    char err[1024];
    int rc = render_template(s, &in, &msg, err, sizeof err);
    mention_set_free(&mentions);
    if (rc) {
        fprintf(stderr, "herald: template %s: %s\n", r->template_name, err);
        return EXIT_INVALID;
    }
    printf("--- message: receiver %s, channel %s, template %s ---\n", r->name, r->channel_name,
           r->template_name);
    printf("format: %s\ntitle: %s\nmentions:", format_name(msg.format), msg.title);
    print_mentions(&msg.mentions);
    printf("\n\n%s\n", msg.text);
    herald_message m;
    rendered_as_message(&msg, r->name, render_status(alerts, len), len, &m);
    if (channel_needs_payload(r->channel, r->instance)) {
        m.payload = batch->source;
        m.payload_len = batch->source_len;
    }
    herald_request req;
    request_init(&req);
    rc = r->channel->prepare(r->instance, &m, &req, err, sizeof err);
    if (rc == 0) {
        char *url = request_redacted_url(&req);
        printf("\n--- request (%zu bytes; secrets in the URL redacted) ---\n%s %s\n", req.body.len,
               req.method ? req.method : "POST", url);
        if (req.mail_from)
            printf("MAIL FROM: %s\n", req.mail_from);
        for (size_t i = 0; i < req.recipients_len; i++)
            printf("RCPT TO: %s\n", req.recipients[i]);
        free(url);
        /* Header values may be secrets (an Authorization a receiver sets):
         * only the content type is shown. */
        for (size_t i = 0; i < req.headers_len; i++) {
            const char *colon = strchr(req.headers[i], ':');
            int shown = colon && strncasecmp(req.headers[i], "Content-Type:", 13) == 0;
            if (shown || !colon)
                printf("%s\n", req.headers[i]);
            else
                printf("%.*s: …\n", (int)(colon - req.headers[i]), req.headers[i]);
        }
        printf("\n%s\n", sb_str(&req.body));
    } else {
        fprintf(stderr, "herald: channel %s cannot prepare this message: %s\n", r->channel_name, err);
    }
    request_free(&req);
    rendered_free(&msg);
    return rc ? EXIT_INVALID : 0;
}

int cmd_render(const cli *c, generation *g)
{
    const receiver *r = find_receiver(g, c->receiver);
    strbuf body = STRBUF_INIT;
    alert_batch batch;
    script_state s;
    if (!r || open_payload(c->payload, g, &body, &batch, &s)) {
        sb_free(&body);
        return EXIT_INVALID;
    }
    /* The links as the daemon would make them (a store not made yet makes
     * none: logged). */
    store_location where = {g->conf.data_dir, g->conf.store_dsn};
    daemon_action_links(&where, &g->conf);
    const alert **alerts = xcalloc(batch.len ? batch.len : 1, sizeof *alerts);
    mention_set *extras = xcalloc(batch.len ? batch.len : 1, sizeof *extras);
    for (size_t i = 0; i < batch.len; i++)
        alerts[i] = &batch.alerts[i];
    /* The route's mentions too: the preview is the request herald sends. */
    pipeline_route_mentions(&s, &batch, r, extras);
    int rc = 0;
    if (r->split_per_alert) {
        for (size_t i = 0; i < batch.len && rc == 0; i++)
            rc = print_render(&s, r, &batch, &alerts[i], &extras[i], 1, 0, 0);
    } else {
        /* In the parts serving would send, when it is too long for one. */
        pipeline_parts parts;
        pipeline_split(&s, &batch, r, alerts, extras, batch.len, &parts);
        for (size_t i = 0, from = 0; i < parts.len && rc == 0; from += parts.sizes[i++])
            rc = print_render(&s, r, &batch, alerts + from, extras + from, parts.sizes[i],
                              parts.len > 1 ? i + 1 : 0, parts.len > 1 ? parts.len : 0);
        free(parts.sizes);
    }
    for (size_t i = 0; i < batch.len; i++)
        mention_set_free(&extras[i]);
    free(alerts);
    free(extras);
    script_close(&s);
    alert_batch_free(&batch);
    sb_free(&body);
    action_links_reset();
    return rc;
}

int cmd_route(const cli *c, generation *g)
{
    const receiver *def = config_receiver(&g->conf, g->conf.default_receiver);
    if (c->receiver && !(def = find_receiver(g, c->receiver)))
        return EXIT_INVALID;
    strbuf body = STRBUF_INIT;
    alert_batch batch;
    script_state s;
    if (open_payload(c->payload, g, &body, &batch, &s)) {
        sb_free(&body);
        return EXIT_INVALID;
    }
    char err[1024];
    int rc = 0;
    /* As POST /webhook or /webhook/<receiver> would route it. */
    const route_request request = {"webhook", c->receiver};
    for (size_t i = 0; i < batch.len; i++) {
        const alert *a = &batch.alerts[i];
        printf("%s %s {", a->fingerprint, alert_status_name(a->status));
        for (size_t l = 0; l < a->labels.len; l++)
            printf("%s%s=\"%s\"", l ? ", " : "", a->labels.items[l].name, a->labels.items[l].value);
        printf("}\n");
        route_result routes;
        if (route_alert(&s, a, def, &request, &routes, err, sizeof err)) {
            printf("  -> %s (route error: %s)\n", def->name, err);
            rc = EXIT_INVALID;
            continue;
        }
        if (routes.len == 0)
            printf("  -> muted (no receiver)\n");
        for (size_t t = 0; t < routes.len; t++) {
            const route_target *target = &routes.items[t];
            mention_set all = {0};
            mention_set_merge(&all, &target->receiver->mentions);
            mention_set_merge(&all, &target->mentions);
            printf("  -> %s (channel %s)", target->receiver->name, target->receiver->channel_name);
            if (all.mobiles_len || all.user_ids_len || all.all) {
                printf(" mentions");
                print_mentions(&all);
            }
            const escalation *e = &target->escalate;
            for (size_t k = 0; k < e->len; k++)
                printf("%s %s after %s", k ? "," : " escalates to", e->steps[k].to->name,
                       e->steps[k].after);
            printf("\n");
            mention_set_free(&all);
        }
        route_result_free(&routes);
    }
    script_close(&s);
    alert_batch_free(&batch);
    sb_free(&body);
    return rc;
}
