/* A channel whose classify() forgets to set a verdict, for
 * tests/e2e/test_delivery.py: herald must take that as a retry, never as
 * a delivery (HERALD_OK is 0, what an untouched verdict would read). */
#include <herald/plugin.h>

#include <stdlib.h>
#include <string.h>

typedef struct target {
    const herald_host *host;
    char *url;
} target;

static void *no_verdict_configure(const herald_host *host, const char *receiver,
                                  const herald_option_value *values, char *err, size_t err_cap)
{
    (void)receiver, (void)err, (void)err_cap;
    target *t = calloc(1, sizeof *t);
    size_t size = strlen(values[0].string) + 1;
    char *url = malloc(size);
    if (!t || !url) {
        free(t);
        free(url);
        return NULL;
    }
    memcpy(url, values[0].string, size);
    t->host = host;
    t->url = url;
    return t;
}

static int no_verdict_prepare(void *instance, const herald_message *msg, herald_request *req,
                              char *err, size_t err_cap)
{
    (void)err, (void)err_cap;
    const target *t = instance;
    t->host->request_set_url(req, t->url);
    t->host->request_set_body(req, msg->title, strlen(msg->title));
    return 0;
}

static void no_verdict_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    (void)instance, (void)resp, (void)out;
}

static void no_verdict_destroy(void *instance)
{
    target *t = instance;
    if (t)
        free(t->url);
    free(t);
}

static const herald_option_spec options[] = {
    {"url", HERALD_OPTION_STRING, 1, 0, "where to POST the title"},
};

static const herald_channel channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = "no_verdict",
    .description = "a test channel whose classify sets no verdict",
    .formats = HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN,
    .default_template = "console",
    .options = options,
    .options_len = 1,
    .configure = no_verdict_configure,
    .prepare = no_verdict_prepare,
    .classify = no_verdict_classify,
    .destroy = no_verdict_destroy,
};

static const herald_channel *const channels[] = {&channel};

static const herald_plugin plugin = {
    .abi = HERALD_ABI_HEADER_INIT(herald_plugin),
    .name = "no_verdict",
    .version = "0.0.0",
    .channels = channels,
    .channels_len = 1,
};

HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
