/* A deliberately wrong plugin, compiled several times with different
 * -D flags to exercise each of the loader's refusals:
 *   PLUGIN_MAJOR / PLUGIN_MINOR  the plugin descriptor's ABI version
 *   CHANNEL_NAME                 its one channel's name
 *   NO_ENTRY                     export something other than the entry */
#include <herald/plugin.h>

#include <stddef.h>

#ifndef PLUGIN_MAJOR
#define PLUGIN_MAJOR HERALD_ABI_MAJOR
#endif
#ifndef PLUGIN_MINOR
#define PLUGIN_MINOR HERALD_ABI_MINOR
#endif
#ifndef CHANNEL_NAME
#define CHANNEL_NAME "bad"
#endif

static void *bad_configure(const herald_host *host, const char *receiver,
                           const herald_option_value *values, char *err, size_t err_cap)
{
    (void)host, (void)receiver, (void)values, (void)err, (void)err_cap;
    return NULL;
}

static int bad_prepare(void *instance, const herald_message *msg, herald_request *req,
                       char *err, size_t err_cap)
{
    (void)instance, (void)msg, (void)req, (void)err, (void)err_cap;
    return -1;
}

static void bad_classify(void *instance, const herald_response *resp, herald_verdict *out)
{
    (void)instance, (void)resp;
    out->kind = HERALD_FAIL;
}

static void bad_destroy(void *instance) { (void)instance; }

static const herald_channel channel = {
    .abi = HERALD_ABI_HEADER_INIT(herald_channel),
    .name = CHANNEL_NAME,
    .description = "refused by the loader",
    .formats = HERALD_FORMAT_TEXT,
    .default_template = "bad",
    .configure = bad_configure,
    .prepare = bad_prepare,
    .classify = bad_classify,
    .destroy = bad_destroy,
};

static const herald_channel *const channels[] = {&channel};

static const herald_plugin plugin = {
    .abi = {PLUGIN_MAJOR, PLUGIN_MINOR, (uint32_t)sizeof(herald_plugin)},
    .name = "bad",
    .version = "0.0.0",
    .channels = channels,
    .channels_len = 1,
};

#ifdef NO_ENTRY
HERALD_EXPORT const herald_plugin *not_the_entry(void);
HERALD_EXPORT const herald_plugin *not_the_entry(void) { return &plugin; }
#else
HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void) { return &plugin; }
#endif
