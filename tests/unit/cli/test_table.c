/* The command line's tables: alignment, cutting with "…", CJK widths,
 * times in a zone with its offset, humanised durations. */
#include "harness.h"

#include "cli/table.h"
#include "cli/timefmt.h"

static char *printed(const table *t)
{
    strbuf out = STRBUF_INIT;
    table_print(t, &out);
    return sb_take(&out);
}

TEST(columns_align_under_their_headers)
{
    static const table_column columns[] = {{"ID", 0, 1}, {"NAME", 0, 0}, {"COUNT", 0, 1}};
    table t = TABLE_INIT(columns);
    table_add_row(&t, (const char *[]){"7", "HostDown", "3"});
    table_add_row(&t, (const char *[]){"1042", "Up", "12"});
    char *text = printed(&t);
    CHECK_STR(text, "  ID  NAME      COUNT\n"
                    "   7  HostDown      3\n"
                    "1042  Up           12\n");
    free(text);
    table_free(&t);
}

TEST(long_cells_are_cut_with_an_ellipsis_and_kept_on_one_line)
{
    static const table_column columns[] = {{"ERROR", 10, 0}, {"X", 0, 0}};
    table t = TABLE_INIT(columns);
    table_add_row(&t, (const char *[]){"errcode 310000: sign not match", "a"});
    table_add_row(&t, (const char *[]){"two\nlines", NULL});
    char *text = printed(&t);
    CHECK_STR(text, "ERROR       X\n"
                    "errcode 3…  a\n"
                    "two lines\n");
    free(text);
    table_free(&t);
}

TEST(wide_characters_take_two_columns)
{
    CHECK_INT(text_width("【故障】磁盘"), 12);
    CHECK_INT(text_width("abc"), 3);
    CHECK_INT(text_width("…"), 1);
    char *cut = text_cut("【故障】磁盘将满", 7);
    CHECK_STR(cut, "【故障…"); /* 6 columns and the ellipsis: a wide one would pass 7 */
    free(cut);
    cut = text_cut("short", 10);
    CHECK_STR(cut, "short");
    free(cut);
    static const table_column columns[] = {{"NAME", 0, 0}, {"N", 0, 1}};
    table t = TABLE_INIT(columns);
    table_add_row(&t, (const char *[]){"磁盘", "1"});
    table_add_row(&t, (const char *[]){"Disk", "2"});
    char *text = printed(&t);
    CHECK_STR(text, "NAME  N\n磁盘  1\nDisk  2\n");
    free(text);
    table_free(&t);
}

TEST(bytes_that_are_not_utf8_do_not_overrun)
{
    CHECK_INT(text_width("a\xe4"), 2);
    char *cut = text_cut("\xf0\x9f", 0);
    CHECK_INT(strlen(cut), 2);
    free(cut);
}

TEST(times_show_the_zone_and_its_offset)
{
    char err[256], text[LOCAL_TIME_SIZE];
    tz_zone *shanghai = tz_load("Asia/Shanghai", err, sizeof err);
    if (!shanghai)
        FAIL_AT("tz_load: %s", err);
    format_local_time(shanghai, 1795238566390LL, text, sizeof text);
    CHECK_STR(text, "2026-11-21 13:22:46 +08:00");
    tz_zone *kolkata = tz_load("-05:30", err, sizeof err);
    if (!kolkata)
        FAIL_AT("tz_load: %s", err);
    format_local_time(kolkata, 1795238566390LL, text, sizeof text);
    CHECK_STR(text, "2026-11-20 23:52:46 -05:30");
    format_local_time(NULL, 1795238566390LL, text, sizeof text);
    CHECK_STR(text, "2026-11-21 05:22:46 +00:00");
    format_local_time(shanghai, 0, text, sizeof text);
    CHECK_STR(text, "-");
    tz_free(shanghai);
    tz_free(kolkata);
}

TEST(durations_are_humanised)
{
    static const struct {
        int64_t ms;
        const char *text;
    } cases[] = {
        {0, "0s"},           {999, "0s"},          {-5000, "0s"},        {45000, "45s"},
        {192000, "3m12s"},   {3600000, "1h"},      {7505000, "2h5m"},    {7205000, "2h"},
        {367200000, "4d6h"}, {86400000, "1d"},     {86460000, "1d"},
    };
    char text[DURATION_SIZE];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        format_duration(cases[i].ms, text, sizeof text);
        CHECK_STR(text, cases[i].text);
    }
}

RUN_TESTS(CASE(columns_align_under_their_headers),
          CASE(long_cells_are_cut_with_an_ellipsis_and_kept_on_one_line),
          CASE(wide_characters_take_two_columns), CASE(bytes_that_are_not_utf8_do_not_overrun),
          CASE(times_show_the_zone_and_its_offset), CASE(durations_are_humanised))
