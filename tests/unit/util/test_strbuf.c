/* JSON string escaping: every byte that JSON forbids raw is escaped, every
 * other byte (UTF-8 included) is copied, and cJSON reads back the input. */
#include "harness.h"

#include <cJSON.h>

#include "util/strbuf.h"

static void check_escaped(const char *text, size_t len, const char *expected)
{
    strbuf sb = STRBUF_INIT;
    sb_puts(&sb, "x=");
    sb_json_string(&sb, text, len);
    CHECK_STR(sb_str(&sb), expected);
    CHECK_INT(sb.len, strlen(expected));
    sb_free(&sb);
}

TEST(short_escapes_and_plain_bytes)
{
    check_escaped("", 0, "x=\"\"");
    check_escaped("a\"b\\c/d", 7, "x=\"a\\\"b\\\\c/d\"");
    check_escaped("\b\f\n\r\t", 5, "x=\"\\b\\f\\n\\r\\t\"");
    check_escaped("主机 10.0.0.1 ✓\x7f", strlen("主机 10.0.0.1 ✓\x7f"),
                  "x=\"主机 10.0.0.1 ✓\x7f\"");
}

TEST(other_control_bytes_become_unicode_escapes)
{
    check_escaped("\x01z\x0b\x1f", 4, "x=\"\\u0001z\\u000b\\u001f\"");
    check_escaped("a\0b", 3, "x=\"a\\u0000b\"");
}

TEST(every_byte_reads_back)
{
    char all[255];
    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)(i < 128 ? i : 'A' + i % 26);
    strbuf sb = STRBUF_INIT;
    sb_json_string(&sb, all, sizeof all);
    cJSON *back = cJSON_ParseWithLength(sb.data, sb.len);
    sb_free(&sb);
    CHECK(cJSON_IsString(back));
    CHECK_INT(strlen(back->valuestring), sizeof all);
    CHECK(memcmp(back->valuestring, all, sizeof all) == 0);
    cJSON_Delete(back);
}

RUN_TESTS(CASE(short_escapes_and_plain_bytes), CASE(other_control_bytes_become_unicode_escapes),
          CASE(every_byte_reads_back))
