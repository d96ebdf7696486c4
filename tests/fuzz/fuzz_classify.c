/* libFuzzer harness: a channel plugin's response classifier. Built once
 * per plugin (meson.build links that plugin's objects, so
 * HERALD_PLUGIN_ENTRY is its entry), it configures each of the plugin's
 * channels as a receiver would and hands every classify() the fuzzed
 * response:
 *
 *   bytes 0-1   the status, big-endian, modulo 1000 (HTTP or SMTP code)
 *   byte 2      bit 0: the response carries a Retry-After header
 *   then        with bit 0, the header's value up to the first '\n';
 *               the rest is the body (any bytes, NULs included)
 *
 * Every classify sets a verdict of one of the three kinds, never "sent"
 * for a status of 400 or more, with a reason that is one line within its
 * buffer and a delay that is not negative. (A
 * reason may quote bytes that are not UTF-8: the service sent them, and
 * herald's JSON shows them as U+FFFD.) */
#include "fuzz.h"

#include "plugin/host.h"

/* The options a receiver of each channel sets, as "name=value"; a list
 * option gets the one value. A channel of the plugin missing here stops
 * the harness, so that a new channel is fuzzed too. */
static const struct {
    const char *channel;
    const char *options[4];
} receivers[] = {
    {"dingtalk", {"url=https://oapi.dingtalk.com/robot/send?access_token=t", "secret=SECfuzz"}},
    {"dingtalk_keyword",
     {"url=https://oapi.dingtalk.com/robot/send?access_token=t", "keyword=告警"}},
    {"wecom", {"url=https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}},
    {"feishu", {"url=https://open.feishu.cn/open-apis/bot/v2/hook/h", "secret=fuzz"}},
    {"slack", {"url=https://hooks.slack.com/services/T0/B0/x"}},
    {"telegram", {"token=123456789:AAfuzz", "chat_id=-1001234567890"}},
    {"email",
     {"url=smtp://127.0.0.1:2525", "from=herald <alerts@example.com>", "to=ops@example.com"}},
    {"webhook", {"url=https://example.com/alerts"}},
};

#define FIXED_NOW_MS 1700000000000LL

typedef struct configured {
    const herald_channel *channel;
    void *instance;
} configured;

static configured instances[4];
static size_t instances_len;

static int64_t fixed_now_ms(void) { return FIXED_NOW_MS; }

/* The value of `spec` among the receiver's "name=value" options. */
static herald_option_value option_value(const herald_option_spec *spec,
                                        const char *const *options, const char **list_item)
{
    herald_option_value v = {0};
    size_t name_len = strlen(spec->name);
    for (size_t i = 0; i < 4 && options[i]; i++) {
        if (strncmp(options[i], spec->name, name_len) != 0 || options[i][name_len] != '=')
            continue;
        const char *text = options[i] + name_len + 1;
        v.present = 1;
        if (spec->type == HERALD_OPTION_STRING_LIST) {
            *list_item = text;
            v.list = list_item;
            v.list_len = 1;
        } else if (spec->type == HERALD_OPTION_INTEGER) {
            v.integer = strtoll(text, NULL, 10);
        } else if (spec->type == HERALD_OPTION_BOOLEAN) {
            v.boolean = strcmp(text, "true") == 0;
        } else {
            v.string = text;
        }
    }
    return v;
}

static void *configure(const herald_channel *ch)
{
    for (size_t r = 0; r < sizeof receivers / sizeof *receivers; r++) {
        if (strcmp(receivers[r].channel, ch->name) != 0)
            continue;
        herald_option_value values[16];
        const char *list_items[16];
        FUZZ_CHECK(ch->options_len <= 16, "%s: more options than the harness holds", ch->name);
        for (size_t i = 0; i < ch->options_len; i++)
            values[i] = option_value(&ch->options[i], receivers[r].options, &list_items[i]);
        char err[512];
        void *instance = ch->configure(host_table(), "fuzz", values, err, sizeof err);
        FUZZ_CHECK(instance != NULL, "%s: %s", ch->name, err);
        return instance;
    }
    FUZZ_CHECK(0, "channel %s has no receiver in fuzz_classify.c", ch->name);
    return NULL;
}

static void clean_up(void)
{
    for (size_t i = 0; i < instances_len; i++)
        instances[i].channel->destroy(instances[i].instance);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Retry-After dates are counted from now: a fixed clock replays. */
    host_set_clock(fixed_now_ms);
    const herald_plugin *plugin = HERALD_PLUGIN_ENTRY();
    FUZZ_CHECK(plugin->channels_len <= 4, "more channels than the harness holds");
    for (size_t i = 0; i < plugin->channels_len; i++)
        instances[instances_len++] =
            (configured){plugin->channels[i], configure(plugin->channels[i])};
    atexit(clean_up);
    return 0;
}

/* The response the dispatcher would hand over for this input. */
static host_response response_from(const uint8_t *data, size_t size)
{
    host_response resp = {0};
    resp.pub.abi = (herald_abi_header)HERALD_ABI_HEADER_INIT(herald_response);
    resp.pub.status = size >= 2 ? ((long)data[0] << 8 | data[1]) % 1000 : 200;
    size_t at = size >= 3 ? 3 : size;
    if (size >= 3 && (data[2] & 1)) {
        const uint8_t *newline = memchr(data + at, '\n', size - at);
        size_t value_len = newline ? (size_t)(newline - data) - at : size - at;
        strbuf line = STRBUF_INIT;
        sb_puts(&line, "Retry-After: ");
        sb_append(&line, data + at, value_len);
        resp.headers = xcalloc(1, sizeof *resp.headers);
        resp.headers[0] = xstrdup(sb_str(&line)); /* cut at a NUL, as a header line is */
        resp.headers_len = 1;
        sb_free(&line);
        at += value_len + (newline != NULL);
    }
    char *body = xmalloc(size - at + 1);
    memcpy(body, data + at, size - at);
    body[size - at] = '\0';
    resp.pub.body = body;
    resp.pub.body_len = size - at;
    return resp;
}

static void check_verdict(const herald_channel *ch, long status, const herald_verdict *v)
{
    /* HTTP 4xx/5xx and SMTP 4xx/5xx: whatever the body says, not sent */
    FUZZ_CHECK(status < 400 || v->kind != HERALD_OK, "%s: status %ld counted as delivered",
               ch->name, status);
    FUZZ_CHECK(v->kind == HERALD_OK || v->kind == HERALD_RETRY || v->kind == HERALD_FAIL,
               "%s: verdict kind %d", ch->name, (int)v->kind);
    FUZZ_CHECK(v->retry_after_ms >= 0, "%s: retry after %ld ms", ch->name, v->retry_after_ms);
    FUZZ_CHECK(memchr(v->reason, '\0', sizeof v->reason) != NULL, "%s: reason not terminated",
               ch->name);
    for (const char *c = v->reason; *c; c++)
        FUZZ_CHECK((unsigned char)*c >= 0x20, "%s: reason is not one line: %s", ch->name,
                   v->reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    host_response resp = response_from(data, size);
    for (size_t i = 0; i < instances_len; i++) {
        /* as the dispatcher hands it over: no kind until classify sets one */
        herald_verdict verdict = {.abi = HERALD_ABI_HEADER_INIT(herald_verdict),
                                  .kind = (herald_verdict_kind)-1};
        instances[i].channel->classify(instances[i].instance, &resp.pub, &verdict);
        check_verdict(instances[i].channel, resp.pub.status, &verdict);
    }
    response_free(&resp);
    return 0;
}
