/* ABI versions across the boundary: a plugin built against the 1.0 header
 * loads and works, reading as absent every channel field added since; and
 * every shipped channel refuses a host table older than the services it
 * calls, naming the one missing. */
#include "plugin_fixture.h"

#include <stddef.h>

static const herald_channel *legacy(void) { return fixture_channel(PLUGIN_1_0_SO, "legacy_text"); }

TEST(plugin_built_against_1_0_loads_with_defaults)
{
    const herald_channel *ch = legacy();
    const herald_plugin *plugin = fixture_plugins.items[0].plugin;
    CHECK_INT(plugin->abi.minor, 0);
    CHECK_INT(ch->abi.minor, 0);
    CHECK(HERALD_HAS_FIELD(herald_channel, ch, destroy));
    CHECK(!HERALD_HAS_FIELD(herald_channel, ch, needs_payload));
    CHECK(ch->abi.size < sizeof(herald_channel));
    CHECK_INT(ch->max_body_bytes, 4000);
    CHECK_INT(ch->rate_per_minute, 30);

    char err[256] = "";
    herald_option_value url = {.present = 1, .string = "http://127.0.0.1:9/in"};
    void *instance = ch->configure(&fixture_host, "ops", &url, err, sizeof err);
    CHECK(instance != NULL);
    CHECK_INT(channel_needs_payload(ch, instance), 0);
    CHECK_INT(channel_targets(ch, instance), 1);
    char key[64];
    channel_target_key(ch, instance, "ops", 0, key, sizeof key);
    CHECK_STR(key, "ops#0");
    CHECK_INT(channel_text_budget(ch, instance), 3000);
    CHECK_INT(channel_rate_per_second(ch), 0);
    ch->destroy(instance);
}

TEST(plugin_built_against_1_0_prepares_and_classifies)
{
    const herald_channel *ch = legacy();
    char err[256] = "";
    herald_option_value url = {.present = 1, .string = "http://127.0.0.1:9/in"};
    void *instance = ch->configure(&fixture_host, "ops", &url, err, sizeof err);
    CHECK(instance != NULL);
    /* Today's message, longer than the plugin knows: it reads its prefix. */
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "[FIRING:1] DiskFull", "db1 95%");
    msg.target = 3;
    herald_request req;
    request_init(&req);
    CHECK_INT(ch->prepare(instance, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, "http://127.0.0.1:9/in");
    CHECK_INT(req.headers_len, 1);
    CHECK_STR(req.headers[0], "Content-Type: text/plain; charset=utf-8");
    CHECK_STR(sb_str(&req.body), "[FIRING:1] DiskFull\n\ndb1 95%");
    request_free(&req);
    herald_verdict verdict = fixture_classify(ch, instance, 503, "busy", NULL);
    CHECK_INT(verdict.kind, HERALD_RETRY);
    CHECK_STR(verdict.reason, "HTTP 503");
    verdict = fixture_classify(ch, instance, 204, "", NULL);
    CHECK_INT(verdict.kind, HERALD_OK);
    ch->destroy(instance);
}

/* Every shipped channel calls services added after 1.0, so each refuses
 * the 1.0 host table; it checks before reading its options, which are
 * all absent here. */
TEST(every_channel_refuses_a_host_table_older_than_it_needs)
{
    plugin_set set = {0};
    char err[512] = "";
    CHECK_INT(plugins_load_dir(&set, PLUGINS_BUILD_DIR, err, sizeof err), 0);
    herald_host host_1_0 = *host_table();
    host_1_0.abi.size = offsetof(herald_host, json_lookup);
    size_t tried = 0;
    for (size_t p = 0; p < set.len; p++) {
        const herald_plugin *plugin = set.items[p].plugin;
        for (size_t c = 0; c < plugin->channels_len; c++, tried++) {
            const herald_channel *ch = plugin->channels[c];
            herald_option_value *absent = calloc(ch->options_len + 1, sizeof *absent);
            err[0] = '\0';
            void *instance = ch->configure(&host_1_0, "ops", absent, err, sizeof err);
            free(absent);
            if (instance) {
                ch->destroy(instance);
                plugins_free(&set);
                FAIL_AT("channel %s accepted the 1.0 host table", ch->name);
            }
            if (!strstr(err, "this herald is too old: its host table has no ")) {
                plugins_free(&set);
                FAIL_AT("channel %s: %s", ch->name, err);
            }
        }
    }
    plugins_free(&set);
    CHECK(tried >= 9);
}

TEST(has_field_follows_the_declared_size)
{
    herald_channel ch = {.abi = HERALD_ABI_HEADER_INIT(herald_channel)};
    CHECK(HERALD_HAS_FIELD(herald_channel, &ch, rate_per_second));
    ch.abi.size = (uint32_t)offsetof(herald_channel, rate_per_second);
    CHECK(!HERALD_HAS_FIELD(herald_channel, &ch, rate_per_second));
    CHECK(HERALD_HAS_FIELD(herald_channel, &ch, instance_needs_payload));
    ch.rate_per_second = 5; /* beyond the declared size: never read */
    CHECK_INT(channel_rate_per_second(&ch), 0);
}

RUN_TESTS(CASE(plugin_built_against_1_0_loads_with_defaults),
          CASE(plugin_built_against_1_0_prepares_and_classifies),
          CASE(every_channel_refuses_a_host_table_older_than_it_needs),
          CASE(has_field_follows_the_declared_size))
