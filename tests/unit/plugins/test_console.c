/* console.so: the exact JSON line, path validation, native bodies. */
#include "plugin_fixture.h"

static const herald_channel *channel(void) { return fixture_channel(CONSOLE_SO, "console"); }

static void *configure(const char *path, char *err, size_t err_cap)
{
    herald_option_value value = {.present = path != NULL, .string = path};
    return channel()->configure(&fixture_host, "ops", &value, err, err_cap);
}

TEST(exact_json_line)
{
    char err[256] = "";
    void *console = configure(NULL, err, sizeof err);
    CHECK(console != NULL);
    static const char *const mobiles[] = {"13800000000"};
    static const char *const users[] = {"lisi", "wang\"wu"};
    herald_message msg = fixture_message(HERALD_FORMAT_MARKDOWN, "[FIRING:2] 磁盘",
                                         "**db1** 95%\n**db2** 97%");
    msg.alert_count = 2;
    msg.mentions.mobiles = mobiles;
    msg.mentions.mobiles_len = 1;
    msg.mentions.user_ids = users;
    msg.mentions.user_ids_len = 2;
    herald_request req;
    request_init(&req);
    CHECK_INT(channel()->prepare(console, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, "file:///dev/stdout");
    CHECK_STR(sb_str(&req.body),
              "{\"time\":\"2023-11-14T22:13:20.000Z\",\"receiver\":\"ops\","
              "\"status\":\"firing\",\"alerts\":2,\"format\":\"markdown\","
              "\"title\":\"[FIRING:2] 磁盘\",\"text\":\"**db1** 95%\\n**db2** 97%\","
              "\"mentions\":{\"mobiles\":[\"13800000000\"],"
              "\"user_ids\":[\"lisi\",\"wang\\\"wu\"],\"all\":false}}");
    CHECK(strchr(sb_str(&req.body), '\n') == NULL);
    request_free(&req);
    channel()->destroy(console);
}

TEST(native_body_embedded_on_one_line)
{
    char err[256] = "";
    void *console = configure("/var/log/herald/out.jsonl", err, sizeof err);
    CHECK(console != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_NATIVE, "",
                                         "{\n  \"msgtype\": \"text\",\n  \"text\": "
                                         "{\"content\": \"a  b\\n\\\"c\\\"\"}\n}\n");
    msg.status = "resolved";
    msg.mentions.all = 1;
    herald_request req;
    request_init(&req);
    CHECK_INT(channel()->prepare(console, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, "file:///var/log/herald/out.jsonl");
    CHECK_STR(sb_str(&req.body),
              "{\"time\":\"2023-11-14T22:13:20.000Z\",\"receiver\":\"ops\","
              "\"status\":\"resolved\",\"alerts\":1,\"format\":\"native\",\"title\":\"\","
              "\"body\":{\"msgtype\":\"text\",\"text\":{\"content\":\"a  b\\n\\\"c\\\"\"}},"
              "\"mentions\":{\"mobiles\":[],\"user_ids\":[],\"all\":true}}");
    request_free(&req);

    herald_message broken = fixture_message(HERALD_FORMAT_NATIVE, "", "{\"a\":");
    request_init(&req);
    CHECK_INT(channel()->prepare(console, &broken, &req, err, sizeof err), -1);
    CHECK_CONTAINS(err, "not valid JSON");
    request_free(&req);
    channel()->destroy(console);
}

TEST(path_validation)
{
    char err[256] = "";
    CHECK(configure("relative/out.jsonl", err, sizeof err) == NULL);
    CHECK_STR(err, "path: must be absolute or \"-\"");
    void *console = configure("-", err, sizeof err);
    CHECK(console != NULL);
    herald_message msg = fixture_message(HERALD_FORMAT_TEXT, "t", "x");
    herald_request req;
    request_init(&req);
    CHECK_INT(channel()->prepare(console, &msg, &req, err, sizeof err), 0);
    CHECK_STR(req.url, "file:///dev/stdout");
    CHECK_CONTAINS(sb_str(&req.body), "\"format\":\"text\",\"title\":\"t\",\"text\":\"x\"");
    request_free(&req);
    channel()->destroy(console);
}

TEST(classify_always_ok)
{
    char err[256] = "";
    void *console = configure(NULL, err, sizeof err);
    herald_verdict v = fixture_classify(channel(), console, 0, "", NULL);
    CHECK_INT(v.kind, HERALD_OK);
    channel()->destroy(console);
}

TEST(descriptor)
{
    const herald_channel *ch = channel();
    CHECK_INT(ch->formats, HERALD_FORMAT_TEXT | HERALD_FORMAT_MARKDOWN | HERALD_FORMAT_HTML |
                               HERALD_FORMAT_NATIVE);
    CHECK_INT(ch->max_body_bytes, 0);
    CHECK_INT(ch->rate_per_minute, 0);
    CHECK_STR(ch->default_template, "console");
    CHECK_INT(ch->options_len, 1);
    CHECK_STR(ch->options[0].name, "path");
    CHECK(!ch->options[0].required);
}

RUN_TESTS(CASE(exact_json_line), CASE(native_body_embedded_on_one_line), CASE(path_validation),
          CASE(classify_always_ok), CASE(descriptor))
