/* JSON string escaping: every byte that JSON forbids raw is escaped, every
 * other byte (UTF-8 included) is copied, and cJSON reads back the input.
 * A buffer with a maximum size keeps what fits and says it was cut. */
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

TEST(a_capped_buffer_keeps_what_fits_and_says_it_was_cut)
{
    strbuf sb = STRBUF_MAX(8);
    sb_puts(&sb, "abcde");
    CHECK(!sb.truncated);
    sb_append(&sb, "fgh", 3); /* exactly full is not cut */
    CHECK(!sb.truncated);
    CHECK_STR(sb_str(&sb), "abcdefgh");
    sb_putc(&sb, 'i');
    CHECK(sb.truncated);
    CHECK_INT(sb.len, 8);
    CHECK_STR(sb_str(&sb), "abcdefgh");
    CHECK(sb.cap <= 9); /* nothing past the maximum is allocated */
    sb_free(&sb);
    CHECK_INT(sb.max, 8);
    CHECK(!sb.truncated);
}

TEST(an_append_across_the_cap_keeps_its_start_then_nothing_more)
{
    strbuf sb = STRBUF_MAX(6);
    sb_puts(&sb, "1234");
    sb_puts(&sb, "5678");
    CHECK(sb.truncated);
    CHECK_STR(sb_str(&sb), "123456");
    sb_puts(&sb, "9");
    CHECK_STR(sb_str(&sb), "123456");
    CHECK_INT(sb.len, 6);
    /* emptied, it takes appends again, under the same cap */
    sb_reset(&sb);
    CHECK(!sb.truncated);
    sb_printf(&sb, "%d-%s", 42, "abcdef");
    CHECK(sb.truncated);
    CHECK_STR(sb_str(&sb), "42-abc");
    CHECK_INT(sb.len, 6);
    sb_free(&sb);
}

TEST(every_kind_of_append_respects_the_cap)
{
    strbuf json = STRBUF_MAX(5);
    sb_json_string(&json, "a\nbcdef", 8);
    CHECK(json.truncated);
    CHECK_INT(json.len, 5);
    CHECK_INT(strlen(sb_str(&json)), 5); /* still NUL-terminated at the cap */
    sb_free(&json);
    strbuf file = STRBUF_MAX(10);
    CHECK_INT(sb_read_file(&file, SOURCE_ROOT "/tests/unit/util/test_strbuf.c"), 0);
    CHECK(file.truncated);
    CHECK_STR(sb_str(&file), "/* JSON st");
    char *taken = sb_take(&file);
    CHECK_STR(taken, "/* JSON st");
    free(taken);
    CHECK(!file.truncated);
    CHECK_INT(file.max, 10);
}

TEST(an_uncapped_buffer_grows_without_limit)
{
    strbuf sb = STRBUF_INIT;
    for (int i = 0; i < 10000; i++)
        sb_puts(&sb, "0123456789");
    CHECK(!sb.truncated);
    CHECK_INT(sb.len, 100000);
    sb_free(&sb);
}

/* A format is written into the room there is when it fits, and again
 * after growing when it does not: at the room's edge, one byte either
 * side of it, and past it, the text and its NUL come out whole. */
TEST(a_format_fits_the_room_or_grows_it)
{
    for (size_t extra = 0; extra < 4; extra++) {
        strbuf sb = STRBUF_INIT;
        sb_putc(&sb, 'x'); /* a first block of 64 bytes */
        size_t room = sb.cap - sb.len - 1;
        char want[200];
        memset(want, 'y', sizeof want);
        size_t len = room - 1 + extra;
        sb_printf(&sb, "%.*s", (int)len, want);
        CHECK_INT(sb.len, len + 1);
        CHECK(sb.data[0] == 'x' && sb.data[len] == 'y' && sb.data[len + 1] == '\0');
        CHECK(strspn(sb.data + 1, "y") == len);
        sb_printf(&sb, "%d", 7);
        CHECK(sb.data[len + 1] == '7' && sb.data[len + 2] == '\0');
        sb_free(&sb);
    }
}

RUN_TESTS(CASE(short_escapes_and_plain_bytes), CASE(other_control_bytes_become_unicode_escapes),
          CASE(every_byte_reads_back), CASE(a_capped_buffer_keeps_what_fits_and_says_it_was_cut),
          CASE(an_append_across_the_cap_keeps_its_start_then_nothing_more),
          CASE(every_kind_of_append_respects_the_cap), CASE(an_uncapped_buffer_grows_without_limit),
          CASE(a_format_fits_the_room_or_grows_it))
