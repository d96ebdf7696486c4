#include "harness.h"

#include "alert/matcher.h"

static const char *const labels = "{\"alertname\":\"HostDown\",\"instance\":\"10.0.3.21:9100\","
                                  "\"project\":\"wms\",\"note\":\"a, \\\"b\\\"\"}";

static int match(const char *text)
{
    matcher_set set = {0};
    char err[256];
    if (matchers_parse(text, &set, err, sizeof err))
        return -1;
    int ok = matchers_match_json(&set, labels);
    matchers_free(&set);
    return ok;
}

static void check_error(const char *text, const char *needle)
{
    matcher_set set = {0};
    char err[256] = "";
    CHECK_INT(matchers_parse(text, &set, err, sizeof err), -1);
    CHECK_INT(set.len, 0);
    CHECK_CONTAINS(err, needle);
}

TEST(equality_and_inequality)
{
    CHECK_INT(match("project=wms"), 1);
    CHECK_INT(match("project=\"erp\""), 0);
    CHECK_INT(match("project!=erp"), 1);
    CHECK_INT(match("project != wms"), 0);
    CHECK_INT(match("alertname=HostDown, project=wms"), 1);
    CHECK_INT(match("{alertname=\"HostDown\",project=\"erp\"}"), 0);
}

TEST(regex_matches_the_whole_value)
{
    CHECK_INT(match("instance=~\"10\\.0\\..*\""), 1);
    CHECK_INT(match("instance=~10"), 0); /* anchored: not a substring search */
    CHECK_INT(match("project!~\"w.s\""), 0);
    CHECK_INT(match("project=~wms|erp"), 1);
}

TEST(missing_label_is_empty)
{
    CHECK_INT(match("team=\"\""), 1);
    CHECK_INT(match("team=~.+"), 0);
    CHECK_INT(match("team!=ops"), 1);
}

TEST(quoted_value_keeps_commas_and_escapes)
{
    CHECK_INT(match("note=\"a, \\\"b\\\"\""), 1);
}

TEST(errors_say_what_is_wrong)
{
    check_error("", "no matcher");
    check_error("=wms", "label name");
    check_error("project wms", "expected =, !=, =~ or !~");
    check_error("project=\"wms", "no closing quote");
    check_error("instance=~\"(\"", "bad regular expression");
    check_error("{project=wms", "closing }");
    check_error("project=\"wms\" team=ops", "expected a comma");
}

RUN_TESTS(CASE(equality_and_inequality), CASE(regex_matches_the_whole_value),
          CASE(missing_label_is_empty), CASE(quoted_value_keeps_commas_and_escapes),
          CASE(errors_say_what_is_wrong))
