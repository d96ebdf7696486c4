/* Configuration validation: every error names the file, the key path and
 * what was expected. */
#include "harness.h"

#include "config/conf.h"
#include "fixtures.h"
#include "util/units.h"

#include <unistd.h>

/* Loads `body`, which must be valid; err says why when it is not. */
static int load_valid(const fixture *fx, const char *body, config *c, char *err, size_t cap)
{
    char *path = fixture_config(fx, NULL, NULL, body);
    int rc = config_load(path, c, err, cap);
    free(path);
    return rc;
}

#define LOAD_VALID(fx, body, c)                                                            \
    do {                                                                                   \
        char err_[1024];                                                                   \
        if (load_valid(fx, body, c, err_, sizeof err_))                                    \
            FAIL_AT("%s", err_);                                                           \
    } while (0)

/* Loads `body` and expects it to fail with `expected` in the message. */
static int fails_with(const fixture *fx, const char *body, const char *expected, char *err,
                      size_t cap)
{
    char *path = fixture_config(fx, NULL, NULL, body);
    config c;
    int rc = config_load(path, &c, err, cap);
    free(path);
    if (rc == 0) {
        config_free(&c);
        snprintf(err, cap, "(loaded without error)");
        return 0;
    }
    return strstr(err, expected) != NULL && strstr(err, "herald.lua:") != NULL;
}

#define CHECK_FAILS(fx, body, expected)                                                    \
    do {                                                                                   \
        char err_[1024] = "";                                                              \
        if (!fails_with(fx, body, expected, err_, sizeof err_))                            \
            FAIL_AT("expected an error containing \"%s\", got \"%s\"", expected, err_);    \
    } while (0)

static const char *const console_receivers =
    "default_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }\n";

FIXTURE_TEST(valid_config_loads)
{
    setenv("HERALD_TEST_SECRET", "SECtestsecret0123456789", 1);
    config c;
    LOAD_VALID(fx,
        "listen = \"127.0.0.1:18060\"\ntimezone = \"Asia/Shanghai\"\ndefault_receiver = \"console\"\n"
        "max_body = \"2MiB\"\nlua = { timeout = \"250ms\", memory = \"16MiB\" }\n"
        "delivery = { timeout = \"5s\", retry_initial = \"500ms\", retry_max_delay = \"1m\", max_age = \"2h\",\n"
        "             max_in_flight = 32, max_unrecorded = 100 }\n"
        "receivers = {\n"
        "  console = { channel = \"console\" },\n"
        "  ops = { channel = \"dingtalk\", url = \"https://oapi.dingtalk.com/robot/send?access_token=abc\",\n"
        "          secret = env(\"HERALD_TEST_SECRET\"), split = \"alert\", rate_per_second = 2,\n"
        "          mentions = { mobiles = { \"13800000000\" }, all = false } },\n"
        "}\n", &c);
    CHECK_STR(c.listen, "127.0.0.1:18060");
    CHECK_INT(c.max_body_bytes, 2 << 20);
    CHECK_INT(c.lua.timeout_ms, 250);
    CHECK_INT(c.lua.memory_bytes, 16 << 20);
    CHECK_INT(c.delivery.max_age_ms, 2 * 3600 * 1000);
    CHECK_INT(c.delivery.retry_initial_ms, 500);
    CHECK_INT(c.delivery.max_in_flight, 32);
    CHECK_INT(c.delivery.max_unrecorded, 100);
    CHECK_INT(c.receivers_len, 2);
    CHECK_STR(c.receivers[0].name, "console"); /* sorted */
    const receiver *ops = config_receiver(&c, "ops");
    CHECK(ops != NULL);
    CHECK_STR(ops->template_name, "dingtalk"); /* the channel's default */
    CHECK_INT(ops->split_per_alert, 1);
    CHECK_INT(ops->rate.per_minute, 20); /* the channel's */
    CHECK_INT(ops->rate.per_second, 2);
    CHECK_INT(ops->mentions.mobiles_len, 1);
    CHECK_STR(ops->mentions.mobiles[0], "13800000000");
    CHECK(ops->instance != NULL);
    config_free(&c);
}

/* Unset, the ingest workers are as many as the processors, from 2 to 16:
 * they only compute, and each costs a Lua state and a malloc arena. */
FIXTURE_TEST(http_threads_default_to_the_processors)
{
    config c;
    LOAD_VALID(fx, console_receivers, &c);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_INT(c.http_threads, online < 2 ? 2 : online > 16 ? 16 : online);
    config_free(&c);
    LOAD_VALID(fx, "http_threads = 5\n" "default_receiver = \"console\"\n"
                   "receivers = { console = { channel = \"console\" } }\n", &c);
    CHECK_INT(c.http_threads, 5);
    config_free(&c);
}

FIXTURE_TEST(unknown_top_level_key)
{
    CHECK_FAILS(fx, "listn = \"x\"\ndefault_receiver = \"console\"\nreceivers = {}",
                "listn: unknown key (expected one of: listen,");
}

/* Found by tests/fuzz/fuzz_config: no names reached qsort as a NULL
 * array, undefined behaviour that UBSan reports. */
FIXTURE_TEST(empty_receivers_table)
{
    CHECK_FAILS(fx, "default_receiver = \"console\"\nreceivers = {}",
                "receivers: must define at least one receiver");
}

/* The DSN is kept for the store, checked, and never quoted back. */
FIXTURE_TEST(store_section_is_validated)
{
    char body[512];
    config c;
    snprintf(body, sizeof body,
             "store = { backend = \"postgresql\", dsn = \"host=db password=s3cret dbname=h\" }\n%s",
             console_receivers);
    LOAD_VALID(fx, body, &c);
    CHECK_STR(c.store_dsn, "host=db password=s3cret dbname=h");
    char shown[128];
    config_store_describe(&c, shown, sizeof shown);
    CHECK_STR(shown, "postgresql://db/h");
    config_free(&c);
    snprintf(body, sizeof body, "store = { backend = \"sqlite\" }\n%s", console_receivers);
    LOAD_VALID(fx, body, &c);
    CHECK(c.store_dsn == NULL);
    config_free(&c);

    snprintf(body, sizeof body, "store = { backend = \"mysql\" }\n%s", console_receivers);
    CHECK_FAILS(fx, body, "store.backend: expected \"sqlite\" or \"postgresql\"");
    snprintf(body, sizeof body, "store = { dsn = \"host=db\" }\n%s", console_receivers);
    CHECK_FAILS(fx, body, "store.dsn: only for backend = \"postgresql\"");
    snprintf(body, sizeof body, "store = { backend = \"postgresql\" }\n%s", console_receivers);
    CHECK_FAILS(fx, body, "store.dsn: missing");
    snprintf(body, sizeof body, "store = { backend = \"postgresql\", dsn = \"\" }\n%s",
             console_receivers);
    CHECK_FAILS(fx, body, "store.dsn: must not be empty");
    snprintf(body, sizeof body, "store = { backend = \"postgresql\", port = 5432 }\n%s",
             console_receivers);
    CHECK_FAILS(fx, body, "store.port: unknown key");
    /* libpq's own message would quote the string, password and all */
    char err[1024] = "";
    snprintf(body, sizeof body,
             "store = { backend = \"postgresql\", dsn = \"password=s3cret oops\" }\n%s",
             console_receivers);
    CHECK(fails_with(fx, body, "store.dsn: not a libpq connection string", err, sizeof err));
    CHECK(strstr(err, "s3cret") == NULL);
}

/* How long a replica's claim outlives its renewal: 30 s unless set. */
FIXTURE_TEST(store_lease_is_read_and_bounded)
{
    char body[512];
    config c;
    snprintf(body, sizeof body, "store = { backend = \"postgresql\", dsn = \"host=db\" }\n%s",
             console_receivers);
    LOAD_VALID(fx, body, &c);
    CHECK_INT(c.store_lease_ms, 30000);
    config_free(&c);
    snprintf(body, sizeof body,
             "store = { backend = \"postgresql\", dsn = \"host=db\", lease = \"5s\" }\n%s",
             console_receivers);
    LOAD_VALID(fx, body, &c);
    CHECK_INT(c.store_lease_ms, 5000);
    config_free(&c);
    snprintf(body, sizeof body,
             "store = { backend = \"postgresql\", dsn = \"host=db\", lease = \"1s\" }\n%s",
             console_receivers);
    CHECK_FAILS(fx, body, "store.lease: must be at least 3s");
}

FIXTURE_TEST(wrong_types)
{
    CHECK_FAILS(fx, "listen = 8060\ndefault_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }",
                "listen: expected a string, got an integer");
    CHECK_FAILS(fx, "default_receiver = \"console\"\nreceivers = \"all\"", "receivers: expected a table, got a string");
    CHECK_FAILS(fx, "http_threads = \"4\"\ndefault_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }",
                "http_threads: expected an integer, got a string");
    CHECK_FAILS(fx, "max_body = \"lots\"\ndefault_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }",
                "max_body: expected a size such as \"1MiB\"");
    CHECK_FAILS(fx, "delivery = { max_age = \"a day\" }\ndefault_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }",
                "delivery.max_age: expected a duration");
    CHECK_FAILS(fx, "delivery = { max_unrecorded = 0 }\ndefault_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }",
                "delivery.max_unrecorded: expected an integer from 1 to 65536");
    CHECK_FAILS(fx, "lua = { timout = 1 }\ndefault_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }",
                "lua.timout: unknown key (expected one of: timeout, memory)");
    CHECK_FAILS(fx, "default_receiver = \"console\"\nreceivers = { console = { channel = \"console\", "
                "mentions = { mobiles = { 138 } } } }",
                "receivers.console.mentions.mobiles[1]: expected a string, got an integer");
    CHECK_FAILS(fx, "default_receiver = \"console\"\nreceivers = { console = { channel = \"console\", rate_per_second = -1 } }",
                "receivers.console.rate_per_second: expected an integer from 0 to 10000, got -1");
    CHECK_FAILS(fx, "default_receiver = \"console\"\nreceivers = { console = { channel = \"console\", split = \"each\" } }",
                "receivers.console.split: expected \"group\" or \"alert\"");
}

FIXTURE_TEST(missing_required_option_names_the_unset_variable)
{
    unsetenv("HERALD_TEST_UNSET_SECRET");
    CHECK_FAILS(fx, "default_receiver = \"ops\"\nreceivers = { ops = { channel = \"dingtalk\", "
                "url = \"https://oapi.dingtalk.com/robot/send?access_token=abc\", "
                "secret = env(\"HERALD_TEST_UNSET_SECRET\") } }",
                "receivers.ops.secret: missing: set secret, or secrets (a list, one per robot) "
                "(unset environment variables: HERALD_TEST_UNSET_SECRET)");
}

FIXTURE_TEST(auth_section_is_validated)
{
    const char *tail = "\ndefault_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }";
    char body[512];
    static const struct {
        const char *auth, *expected;
    } cases[] = {
        {"auth = {}", "auth: expected bearer_token, or username and password"},
        {"auth = \"secret\"", "auth: expected a table, got a string"},
        {"auth = { token = \"x\" }", "auth.token: unknown key (expected one of: bearer_token, username, password)"},
        {"auth = { bearer_token = \"\" }", "auth.bearer_token: must not be empty"},
        {"auth = { bearer_token = 42 }", "auth.bearer_token: expected a string, got an integer"},
        {"auth = { username = \"am\" }", "auth.password: missing: expected a string"},
        {"auth = { password = \"pw\" }", "auth.username: missing: a password needs its username"},
        {"auth = { username = \"a:m\", password = \"pw\" }", "auth.username: must not contain ':'"},
        {"auth = { bearer_token = env(\"HERALD_TEST_UNSET_TOKEN\") }",
         "auth: expected bearer_token, or username and password (unset environment variables: "
         "HERALD_TEST_UNSET_TOKEN)"},
    };
    unsetenv("HERALD_TEST_UNSET_TOKEN");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(body, sizeof body, "%s%s", cases[i].auth, tail);
        CHECK_FAILS(fx, body, cases[i].expected);
    }
}

FIXTURE_TEST(auth_keeps_digests_not_secrets)
{
    setenv("HERALD_TEST_TOKEN", "tok-3f9a1c", 1);
    config c;
    LOAD_VALID(fx, "auth = { bearer_token = env(\"HERALD_TEST_TOKEN\"), username = \"am\",\n"
               "         password = \"pw-77\" }\n"
               "default_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }",
               &c);
    CHECK_INT(c.auth.bearer, 1);
    CHECK_INT(c.auth.basic, 1);
    CHECK_INT(auth_check(&c.auth, "Bearer tok-3f9a1c"), AUTH_OK);
    CHECK_INT(auth_check(&c.auth, "Basic YW06cHctNzc="), AUTH_OK); /* am:pw-77 */
    CHECK_INT(auth_check(&c.auth, "Bearer pw-77"), AUTH_WRONG);
    CHECK_INT(auth_check(&c.auth, NULL), AUTH_MISSING);
    CHECK(memmem(&c.auth, sizeof c.auth, "tok-3f9a1c", 10) == NULL);
    config_free(&c);
}

/* The defaults fit keep-alive pools; max 0 is sized from the file
 * descriptors at start. */
FIXTURE_TEST(connections_section_is_read)
{
    static const struct {
        const char *section;
        unsigned max, per_address;
        int64_t head_ms, body_ms;
    } cases[] = {
        {"", 0, 128, 10000, 60000},
        {"connections = { max = 5000, per_address = 32, head_timeout = \"2s\", "
         "body_timeout = \"90s\" }\n", 5000, 32, 2000, 90000},
        /* the default per_address shrinks under a small max */
        {"connections = { max = 20 }\n", 20, 20, 10000, 60000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "%s%s", cases[i].section, console_receivers);
        config c;
        LOAD_VALID(fx, body, &c);
        CHECK_INT(c.connections.max, cases[i].max);
        CHECK_INT(c.connections.per_address, cases[i].per_address);
        CHECK_INT(c.connections.head_timeout_ms, cases[i].head_ms);
        CHECK_INT(c.connections.body_timeout_ms, cases[i].body_ms);
        config_free(&c);
    }
}

FIXTURE_TEST(connections_section_is_validated)
{
    static const struct {
        const char *section, *expected;
    } cases[] = {
        {"connections = 100", "connections: expected a table, got an integer"},
        {"connections = { per_ip = 10 }",
         "connections.per_ip: unknown key (expected one of: max, per_address, head_timeout, "
         "body_timeout)"},
        {"connections = { max = 10 }", "connections.max: expected an integer from 16 to 1000000, got 10"},
        {"connections = { max = \"many\" }", "connections.max: expected an integer, got a string"},
        {"connections = { per_address = 0 }",
         "connections.per_address: expected an integer from 1 to 1000000, got 0"},
        {"connections = { max = 100, per_address = 200 }",
         "connections.per_address: 200 is more than connections.max (100)"},
        {"connections = { head_timeout = \"soon\" }", "connections.head_timeout: expected a duration"},
        {"connections = { head_timeout = \"500ms\" }", "connections.head_timeout: expected from 1s to 1h"},
        {"connections = { body_timeout = \"2h\" }", "connections.body_timeout: expected from 1s to 1h"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "%s\n%s", cases[i].section, console_receivers);
        CHECK_FAILS(fx, body, cases[i].expected);
    }
}

FIXTURE_TEST(unknown_channel_option)
{
    CHECK_FAILS(fx, "default_receiver = \"ops\"\nreceivers = { ops = { channel = \"dingtalk\", "
                "url = \"https://oapi.dingtalk.com/robot/send?access_token=abc\", secret = \"SECx\", "
                "secert = \"SECx\" } }",
                "receivers.ops.secert: unknown key");
}

FIXTURE_TEST(channel_rejects_a_value)
{
    CHECK_FAILS(fx, "default_receiver = \"ops\"\nreceivers = { ops = { channel = \"dingtalk\", "
                "url = \"ftp://example.com\", secret = \"SECx\" } }",
                "receivers.ops.url: ");
}

FIXTURE_TEST(unknown_channel_and_template)
{
    CHECK_FAILS(fx, "default_receiver = \"x\"\nreceivers = { x = { channel = \"pager\" } }",
                "receivers.x.channel: unknown channel \"pager\" (plugins in ");
    CHECK_FAILS(fx, "default_receiver = \"x\"\nreceivers = { x = { channel = \"console\", template = \"nope\" } }",
                "receivers.x.template: no template \"nope\" in ");
    CHECK_FAILS(fx, "default_receiver = \"x\"\nreceivers = { x = { template = \"console\" } }",
                "receivers.x.channel: missing: expected a string");
}

FIXTURE_TEST(default_receiver_must_exist)
{
    CHECK_FAILS(fx, "default_receiver = \"ops\"\nreceivers = { console = { channel = \"console\" } }",
                "default_receiver: no receiver named \"ops\"");
    CHECK_FAILS(fx, "receivers = { console = { channel = \"console\" } }",
                "default_receiver: missing: expected a string");
}

FIXTURE_TEST(relative_paths_resolve_against_the_config_and_must_exist)
{
    strbuf body = STRBUF_INIT;
    sb_printf(&body, "%sroute = \"scripts/missing.lua\"\n", console_receivers);
    CHECK_FAILS(fx, sb_str(&body), "/scripts/missing.lua: No such file or directory");
    sb_reset(&body);
    sb_printf(&body, "%stemplates = \"no-such-dir\"\n", console_receivers);
    CHECK_FAILS(fx, sb_str(&body), "templates: ");
    sb_free(&body);
}

FIXTURE_TEST(bad_timezone)
{
    strbuf body = STRBUF_INIT;
    sb_printf(&body, "%stimezone = \"Mars/Olympus\"\n", console_receivers);
    CHECK_FAILS(fx, sb_str(&body), "timezone: ");
    sb_free(&body);
}

FIXTURE_TEST(lua_errors_name_file_and_line)
{
    CHECK_FAILS(fx, "default_receiver = \"console\"\nreceivers = {\n", "herald.lua:");
    /* fixture_config puts three lines of paths before the body. */
    CHECK_FAILS(fx, "local x = nil\nx.y = 1\n", "herald.lua:5:");
}

FIXTURE_TEST(config_runs_in_the_sandbox)
{
    CHECK_FAILS(fx, "io.open(\"/etc/passwd\")\n", "herald.lua:4: attempt to index a nil value (global 'io')");
    CHECK_FAILS(fx, "os.execute(\"true\")\n", "herald.lua:4: attempt to call a nil value (field 'execute')");
}

TEST(units)
{
    int64_t ms;
    size_t bytes;
    CHECK_INT(parse_duration_ms("1500ms", &ms), 0);
    CHECK_INT(ms, 1500);
    CHECK_INT(parse_duration_ms("24h", &ms), 0);
    CHECK_INT(ms, 86400000);
    CHECK_INT(parse_duration_ms("10", &ms), 0);
    CHECK_INT(ms, 10000);
    CHECK_INT(parse_duration_ms("10 s", &ms), -1);
    CHECK_INT(parse_duration_ms("-1s", &ms), -1);
    CHECK_INT(parse_duration_ms("nan", &ms), -1);
    CHECK_INT(parse_duration_ms("inf", &ms), -1);
    CHECK_INT(parse_size_bytes("nanMiB", &bytes), -1);
    CHECK_INT(parse_size_bytes("1MiB", &bytes), 0);
    CHECK_INT(bytes, 1048576);
    CHECK_INT(parse_size_bytes("512KiB", &bytes), 0);
    CHECK_INT(bytes, 524288);
    CHECK_INT(parse_size_bytes("1 MiB", &bytes), -1);
}

FIXTURE_TEST(action_links_settings)
{
    const char *tail = "\ndefault_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }";
    char body[512];
    static const struct {
        const char *keys, *expected;
    } cases[] = {
        {"external_url = \"herald.example.com\"", "external_url: expected an http:// or https:// URL"},
        {"alertmanager = \"http://am:9093\"", "alertmanager: expected a table, got a string"},
        {"alertmanager = {}", "alertmanager.url: missing"},
        {"alertmanager = { url = \"am:9093\" }", "alertmanager.url: expected an http:// or https:// URL"},
        {"alertmanager = { url = \"http://am:9093\", token = \"x\" }", "alertmanager.token: unknown key"},
        {"alertmanager = { url = \"http://am\", auth = {} }",
         "alertmanager.auth: expected bearer_token, or username and password"},
        {"alertmanager = { url = \"http://am\", auth = { bearer_token = \"t\", username = \"u\","
         " password = \"p\" } }", "alertmanager.auth: expected bearer_token or username, not both"},
        {"alertmanager = { url = \"http://am\", auth = { username = \"u\" } }",
         "alertmanager.auth.password: missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(body, sizeof body, "%s%s", cases[i].keys, tail);
        CHECK_FAILS(fx, body, cases[i].expected);
    }
    config c;
    snprintf(body, sizeof body, "external_url = \"https://h.example/\"\nalertmanager = { url = "
             "\"http://am:9093/\", auth = { username = \"u\", password = \"p\" } }%s", tail);
    LOAD_VALID(fx, body, &c);
    CHECK_STR(c.external_url, "https://h.example/");
    CHECK_STR(c.alertmanager_url, "http://am:9093");
    CHECK_STR(c.alertmanager_authorization, "Basic dTpw");
    config_free(&c);
    snprintf(body, sizeof body, "alertmanager = { url = \"http://am:9093\", auth = { bearer_token"
             " = \"tok\" } }%s", tail);
    LOAD_VALID(fx, body, &c);
    CHECK_STR(c.alertmanager_authorization, "Bearer tok");
    CHECK(c.external_url == NULL);
    config_free(&c);
}

RUN_TESTS(CASE(valid_config_loads), CASE(http_threads_default_to_the_processors), CASE(action_links_settings), CASE(unknown_top_level_key), CASE(empty_receivers_table),
          CASE(wrong_types), CASE(store_section_is_validated), CASE(store_lease_is_read_and_bounded),
          CASE(missing_required_option_names_the_unset_variable), CASE(auth_section_is_validated),
          CASE(auth_keeps_digests_not_secrets), CASE(connections_section_is_read),
          CASE(connections_section_is_validated), CASE(unknown_channel_option),
          CASE(channel_rejects_a_value), CASE(unknown_channel_and_template),
          CASE(default_receiver_must_exist),
          CASE(relative_paths_resolve_against_the_config_and_must_exist), CASE(bad_timezone),
          CASE(lua_errors_name_file_and_line), CASE(config_runs_in_the_sandbox), CASE(units))
