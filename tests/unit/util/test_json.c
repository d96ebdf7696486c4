/* herald's JSON helpers: the error body is valid UTF-8 JSON whatever the
 * message carries, a key given twice is found at any depth, and named
 * members are found in one pass. */
#include "harness.h"

#include "util/json.h"
#include "util/json_same.h"

static void check_error_body(const char *message, const char *expected)
{
    strbuf out = STRBUF_INIT;
    json_error_body(&out, message);
    if (strcmp(sb_str(&out), expected) != 0) {
        printf("    got %s", sb_str(&out));
        harness_case_failed = 1;
    }
    sb_free(&out);
}

TEST(error_body_escapes_and_replaces_bytes_that_are_not_utf8)
{
    check_error_body("plain", "{\"status\":\"error\",\"error\":\"plain\"}\n");
    check_error_body("q\"\n", "{\"status\":\"error\",\"error\":\"q\\\"\\n\"}\n");
    check_error_body("caf\xc3\xa9", "{\"status\":\"error\",\"error\":\"caf\xc3\xa9\"}\n");
    check_error_body("/webhook/\xff", "{\"status\":\"error\",\"error\":\"/webhook/\xef\xbf\xbd\"}\n");
    /* a cut sequence, an overlong form: one replacement per byte */
    check_error_body("a\xc3", "{\"status\":\"error\",\"error\":\"a\xef\xbf\xbd\"}\n");
    check_error_body("\xc0\xaf", "{\"status\":\"error\",\"error\":\"\xef\xbf\xbd\xef\xbf\xbd\"}\n");
    check_error_body("", "{\"status\":\"error\",\"error\":\"\"}\n");
}

/* The path json_duplicate_key reports for text, or "" for none. */
static void check_duplicate(const char *text, const char *expected)
{
    cJSON *root = json_parse(text, strlen(text));
    if (!root) {
        printf("    does not parse: %s\n", text);
        harness_case_failed = 1;
        return;
    }
    strbuf path = STRBUF_INIT;
    int found = json_duplicate_key(root, &path);
    if (found != (expected[0] != '\0') || strcmp(sb_str(&path), expected) != 0) {
        printf("    %s: got %d \"%s\", expected \"%s\"\n", text, found, sb_str(&path), expected);
        harness_case_failed = 1;
    }
    sb_free(&path);
    cJSON_Delete(root);
}

TEST(duplicate_keys_at_every_level)
{
    check_duplicate("{\"a\":1,\"b\":2,\"a\":3}", "a");
    check_duplicate("{\"a\":{\"x\":1,\"y\":{\"z\":1,\"z\":2}}}", "a.y.z");
    check_duplicate("[{\"k\":1},{\"k\":1,\"k\":1}]", "[1].k");
    check_duplicate("{\"a\":[[],[{\"b\":[0,{\"c\":1,\"c\":2}]}]]}", "a[1][0].b[1].c");
    check_duplicate("{\"\":1,\"\":2}", "\"\"");
    check_duplicate("{\"a\":{\"\":{\"\":1,\"\":2}}}", "a.\"\".\"\"");
    /* a key that would misread the path, or put a control byte in the
     * message, is written as a JSON string; others as they are */
    check_duplicate("{\"a.b\":{\"x\":1,\"x\":2}}", "\"a.b\".x");
    check_duplicate("{\"a\":{\"[0]\":{\"z\":1,\"z\":2}}}", "a.\"[0]\".z");
    check_duplicate("{\"\\u0001\":[{\"e\":\"\",\"e\":\"\"}]}", "\"\\u0001\"[0].e");
    check_duplicate("{\"q\\\"\":{\"n\\n\":1,\"n\\n\":2}}", "\"q\\\"\".\"n\\n\"");
    check_duplicate("{\"告警\":{\"k\":1,\"k\":2}}", "告警.k");
}

TEST(no_duplicates_means_an_empty_path)
{
    check_duplicate("{}", "");
    check_duplicate("[]", "");
    check_duplicate("7", "");
    check_duplicate("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":1}]}", "");
    check_duplicate("{\"A\":1,\"a\":2}", "");
}

/* A body's tree outgrows the block sized from its text (an array of
 * one-digit numbers is a 64-byte node per two bytes) and is read back
 * whole from the blocks added; trees built meanwhile with cJSON's own
 * calls still come from malloc and are freed alone. */
TEST(document_outgrowing_its_first_block_reads_back_whole)
{
    enum { COUNT = 20000 };
    strbuf text = STRBUF_INIT;
    sb_putc(&text, '[');
    for (int i = 0; i < COUNT; i++)
        sb_printf(&text, "%s%d", i ? "," : "", i % 10);
    sb_puts(&text, "]  \n");
    json_doc doc;
    size_t error_at = 0;
    CHECK_INT(json_doc_parse(&doc, sb_str(&text), text.len, &error_at), 0);
    CHECK_INT(cJSON_GetArraySize(doc.root), COUNT);
    long sum = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, doc.root)
        sum += (long)item->valuedouble;
    CHECK_INT(sum, (long)COUNT / 10 * 45);
    cJSON *built = cJSON_CreateObject();
    cJSON_AddStringToObject(built, "k", "v");
    char *printed = cJSON_PrintUnformatted(built);
    CHECK_STR(printed, "{\"k\":\"v\"}");
    cJSON_free(printed);
    cJSON_Delete(built);
    json_doc_free(&doc);
    CHECK(doc.root == NULL && doc.blocks == NULL);
    sb_free(&text);
}

/* What a body parse refuses, and where it says the text went wrong. */
TEST(document_errors_name_the_byte)
{
    static const struct {
        const char *text;
        size_t at;
    } cases[] = {
        {"{\"a\":1}{\"b\":2}", 7}, /* a second value */
        {"{\"a\":1} x", 8},
        {"{\"a\":[1,2}", 9},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_doc doc;
        size_t error_at = 999;
        CHECK_INT(json_doc_parse(&doc, cases[i].text, strlen(cases[i].text), &error_at), -1);
        CHECK_INT(error_at, cases[i].at);
        CHECK(doc.root == NULL && doc.blocks == NULL);
    }
}

/* A body is read as cJSON reads it: the same tree, the same refusals at
 * the same bytes, for JSON and for what cJSON accepts beyond it. */
TEST(a_body_reads_as_cjson_reads_it)
{
    static const char deep_ok[] = "[[[[[[[[[[1]]]]]]]]]]";
    static const struct {
        const char *text;
        size_t len; /* 0: strlen */
    } cases[] = {
        {"{\"a\":{\"b\":[true,false,null,-0,1.5e3,\"x\"]},\"\":{}}", 0},
        {" \t\r\n\x01\x1f [ \x02 1 , 2 ] \n", 0},
        {"\xEF\xBB\xBF{}", 0},
        {"\xEF\xBB\xBF" "12", 0},
        {"\xEF\xBB\xBF" "1", 0}, /* too short for cJSON to skip the mark */
        {"", 0}, {" ", 0}, {"[", 0}, {"{", 0}, {"[ ", 0}, {"[1, ", 0}, {"[1 ", 0},
        {"{x", 0}, {"{\"a\"", 0}, {"{\"a\":", 0}, {"{\"a\" 1}", 0}, {"{\"a\":1,}", 0},
        {"[1,]", 0}, {"[,1]", 0}, {"]", 0}, {"nul", 0}, {"nullx", 0}, {"truefalse", 0},
        {"-", 0}, {"-x", 0}, {"01", 0}, {"1e", 0}, {"1.5e+", 0}, {"+1", 0}, {"1-2", 0},
        {".5", 0}, {"1.2.3", 0}, {"1e999", 0}, {"-1e999", 0}, {"2147483648", 0},
        {"-2147483649", 0}, {"1.5", 0}, {"-7.9", 0},
        {"1.00000000000000000000000000000000000000000000000000000000000000000000001", 0},
        {"\"\\u00e9\\u4e3b\"", 0}, {"\"\\uD83D\\uDE00\"", 0}, {"\"\\uD83D\"", 0},
        {"\"\\uD83Dx\"", 0}, {"\"\\uD83D\\u0041\"", 0}, {"\"\\uDE00\"", 0},
        {"\"\\uZZZZ\"", 0}, {"\"\\u12\"", 0}, {"\"\\x\"", 0}, {"\"abc", 0},
        {"\"abc\\", 0}, {"\"a\\\"b\"", 0}, {"\"\\/\\b\\f\\n\\r\\t\\\\\"", 0},
        {"[\"a\0b\"]", 7}, {"1\0", 2}, {"[1]\0", 4}, {"{}{}", 0}, {"[1]x", 0},
        {"[1] \n", 0}, {"{\"a\":1 , \"a\":2}", 0}, {deep_ok, 0},
    };
    char why[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        if (!json_reads_as_cjson(cases[i].text, len, why, sizeof why))
            FAIL_AT("case %zu (%s): %s", i, cases[i].text, why);
    }
    /* nested as deep as cJSON allows, and one deeper */
    for (size_t depth = 999; depth <= 1001; depth++) {
        strbuf nested = STRBUF_INIT;
        for (size_t d = 0; d < depth; d++)
            sb_putc(&nested, d % 2 ? '[' : '{'), d % 2 ? (void)0 : sb_puts(&nested, "\"k\":");
        for (size_t d = depth; d-- > 0;)
            sb_putc(&nested, d % 2 ? ']' : '}');
        if (!json_reads_as_cjson(nested.data, nested.len, why, sizeof why))
            FAIL_AT("%zu deep: %s", depth, why);
        sb_free(&nested);
    }
    static const char *const fixtures[] = {"am-firing-1.json", "am-firing-5.json",
                                           "am-resolved-1.json", "am-resolved-5.json",
                                           "wms-firing.json"};
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) {
        strbuf path = STRBUF_INIT, text = STRBUF_INIT;
        sb_printf(&path, "%s/tests/fixtures/%s", SOURCE_ROOT, fixtures[i]);
        CHECK_INT(sb_read_file(&text, sb_str(&path)), 0);
        if (!json_reads_as_cjson(sb_str(&text), text.len, why, sizeof why))
            FAIL_AT("%s: %s", fixtures[i], why);
        sb_free(&path);
        sb_free(&text);
    }
}

/* One pass finds each named member, the first of a name, whatever their
 * order; an absent one, or any in an array, is NULL. */
TEST(members_are_found_by_name_in_one_pass)
{
    static const char *const names[] = {"status", "labels", "absent", "s"};
    const char *text = "{\"labels\":{\"a\":\"b\"},\"s\":1,\"status\":\"firing\","
                       "\"status\":\"resolved\",\"sx\":2}";
    json_doc doc;
    size_t at;
    CHECK_INT(json_doc_parse(&doc, text, strlen(text), &at), 0);
    const cJSON *found[4];
    json_members(doc.root, names, 4, found);
    CHECK(cJSON_IsString(found[0]) && strcmp(found[0]->valuestring, "firing") == 0);
    CHECK(cJSON_IsObject(found[1]));
    CHECK(found[2] == NULL);
    CHECK(cJSON_IsNumber(found[3]) && found[3]->valuedouble == 1);
    json_doc_free(&doc);

    const char *array = "[{\"status\":1}, 2]";
    CHECK_INT(json_doc_parse(&doc, array, strlen(array), &at), 0);
    json_members(doc.root, names, 4, found);
    for (int i = 0; i < 4; i++)
        CHECK(found[i] == NULL);
    json_doc_free(&doc);
}

RUN_TESTS(CASE(error_body_escapes_and_replaces_bytes_that_are_not_utf8),
          CASE(duplicate_keys_at_every_level), CASE(no_duplicates_means_an_empty_path),
          CASE(document_outgrowing_its_first_block_reads_back_whole),
          CASE(document_errors_name_the_byte), CASE(members_are_found_by_name_in_one_pass),
          CASE(a_body_reads_as_cjson_reads_it))
