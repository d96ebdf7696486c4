/* A channel plugin as it was built against plugin ABI 1.0: compiled with
 * the 1.0 header kept beside it (herald/plugin.h as first released, byte
 * for byte), so its descriptors are the 1.0 size and say minor 0, and it
 * calls only the host services 1.0 had. test_abi.c loads it into this
 * herald. Channel "legacy_text": the title and text, POSTed to `url`. */
#include <herald/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct legacy {
    const herald_host *host;
    char *url;
} legacy;

static void legacy_destroy(void *instance)
{
    legacy *l = instance;
    if (l)
        free(l->url);
    free(l);
}

static void *legacy_configure(const herald_host *host, const char *receiver,
                              const herald_option_value *values, char *err, size_t err_cap)
{
    (void)receiver;
    legacy *l = calloc(1, sizeof *l);
    if (!l || !values[0].present || !(l->url = malloc(strlen(values[0].string) + 1))) {
        snprintf(err, err_cap, "url: required");
        legacy_destroy(l);
        return NULL;
    }
    strcpy(l->url, values[0].string);
    l->host = host;
    return l;
}

static int legacy_prepare(void *instance, const herald_message *msg, herald_request *req,
                          char *err, size_t err_cap)
{
    (void)err, (void)err_cap;
    const legacy *l = instance;
    herald_buf *body = l->host->buf_new();
    l->host->buf_printf(body, "%s\n\n%s", msg->title, msg->text);
    l->host->request_set_url(req, l->url);
    l->host->request_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    l->host->request_set_body(req, l->host->buf_data(body), l->host->buf_len(body));
    l->host->buf_free(body);
    return 0;
}

static void legacy_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    (void)instance;
    int ok = resp->status >= 200 && resp->status <= 299;
    out->kind = ok ? HERALD_OK : resp->status >= 500 ? HERALD_RETRY : HERALD_FAIL;
    out->retry_after_ms = 0;
    snprintf(out->reason, sizeof out->reason, "HTTP %ld", resp->status);
}

static const herald_option_spec options[] = {
    {"url", HERALD_OPTION_STRING, 1, 1, "where to POST"},
};

static const herald_channel channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "legacy_text",
    .description = "built against plugin ABI 1.0",
    .max_body_bytes = 4000,
    .rate_per_minute = 30,
    .formats = HERALD_FORMAT_TEXT,
    .default_template = "console",
    .options = options,
    .options_len = 1,
    .configure = legacy_configure,
    .prepare = legacy_prepare,
    .classify = legacy_classify,
    .destroy = legacy_destroy,
};

static const herald_channel *const channels[] = {&channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "legacy",
    .version = "1.0.0",
    .channels = channels,
    .channels_len = 1,
};

HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void);
HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
