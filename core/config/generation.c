#include "config/generation.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static int read_source(const char *name, const char *path, source_file *out, char *err,
                       size_t err_cap)
{
    out->name = xstrdup(name);
    out->path = xstrdup(path);
    strbuf sb = STRBUF_INIT;
    if (sb_read_file(&sb, path)) {
        int rc = fail_errno(err, err_cap, errno, "%s", path);
        sb_free(&sb);
        return rc;
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
    free_source(&g->config_text);
    free_source(&g->route);
    free(g->stale_note);
    for (size_t i = 0; i < g->templates_len; i++)
        free_source(&g->templates[i]);
    free(g->templates);
    config_free(&g->conf);
    free(g);
}

static void digest_part(strbuf *parts, const char *name, const char *text, size_t len)
{
    sb_printf(parts, "%zu:%s%zu:", strlen(name), name, len);
    sb_append(parts, text ? text : "", text ? len : 0);
}

void generation_digest(const generation *g, char out[CONFIG_DIGEST_SIZE])
{
    strbuf parts = STRBUF_INIT;
    digest_part(&parts, "config", g->config_text.text, g->config_text.len);
    digest_part(&parts, "route", g->route.text, g->route.len);
    for (size_t i = 0; i < g->templates_len; i++)
        digest_part(&parts, g->templates[i].name, g->templates[i].text, g->templates[i].len);
    sha256_hex128(sb_str(&parts), parts.len, out);
    sb_free(&parts);
}

static unsigned generation_counter;

generation *generation_load(const char *config_path, const char *base_dir, char *err,
                            size_t err_cap)
{
    generation *g = xcalloc(1, sizeof *g);
    atomic_init(&g->refs, 1);
    if (config_load_in(config_path, base_dir, &g->conf, err, err_cap)) {
        free(g);
        return NULL;
    }
    const config *c = &g->conf;
    if (read_source("config", c->path, &g->config_text, err, err_cap) ||
        read_source("route", c->route_path, &g->route, err, err_cap))
        goto fail;
    g->templates = xcalloc(c->template_names_len ? c->template_names_len : 1, sizeof *g->templates);
    for (size_t i = 0; i < c->template_names_len; i++) {
        int rc = read_source(c->template_names[i], c->template_paths[i], &g->templates[i], err,
                             err_cap);
        g->templates_len++;
        if (rc)
            goto fail;
    }
    generation_digest(g, g->config_digest);
    return g;
fail:
    generation_free(g);
    return NULL;
}

void generation_drop_template(generation *g, size_t index)
{
    free_source(&g->templates[index]);
    memmove(&g->templates[index], &g->templates[index + 1],
            (g->templates_len - index - 1) * sizeof *g->templates);
    g->templates_len--;
}

void generation_number(generation *g)
{
    g->number = __atomic_add_fetch(&generation_counter, 1, __ATOMIC_SEQ_CST);
}

void generation_describe(const generation *g, strbuf *report)
{
    const config *c = &g->conf;
    sb_printf(report, "%s: ok\n", c->path);
    sb_printf(report, "  listen      %s\n  auth        %s\n  timezone    %s\n  route       %s\n"
                      "  templates   %s%s%s (%zu)\n",
              c->listen, auth_describe(&c->auth), c->timezone, c->route_path, c->templates_dir,
              c->shipped_templates_dir ? ", then " : "",
              c->shipped_templates_dir ? c->shipped_templates_dir : "", g->templates_len);
    /* Which file each template is, when an operator's may hide a shipped one. */
    for (size_t i = 0; c->shipped_templates_dir && i < g->templates_len; i++)
        sb_printf(report, "    %-16s %s\n", g->templates[i].name, g->templates[i].path);
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
