/* The header checks the gate applies: which Content-Type is JSON, which
 * request a browser sent for another site's page, which raw path holds
 * %00. */
#include "harness.h"

#include "http/request_rules.h"

TEST(application_json_in_any_case_with_parameters)
{
    CHECK(content_type_is_json("application/json"));
    CHECK(content_type_is_json("application/json; charset=utf-8"));
    CHECK(content_type_is_json("Application/JSON;charset=UTF-8"));
    CHECK(content_type_is_json("application/json \t; x=y"));
}

TEST(other_types_are_not_json)
{
    CHECK(!content_type_is_json(NULL));
    CHECK(!content_type_is_json(""));
    CHECK(!content_type_is_json("text/plain"));
    CHECK(!content_type_is_json("application/x-www-form-urlencoded"));
    CHECK(!content_type_is_json("multipart/form-data; boundary=x"));
    CHECK(!content_type_is_json("application/jsonp"));
    CHECK(!content_type_is_json("application/json-seq"));
    CHECK(!content_type_is_json("application/problem+json"));
    CHECK(!content_type_is_json(" application/json"));
}

TEST(no_browser_headers_is_not_cross_site)
{
    CHECK(!request_is_cross_site(NULL, NULL, "127.0.0.1:8060", 0));
    CHECK(!request_is_cross_site(NULL, NULL, NULL, 0));
    CHECK(!request_is_cross_site(NULL, "same-origin", "127.0.0.1:8060", 0));
    CHECK(!request_is_cross_site(NULL, "none", "127.0.0.1:8060", 0));
}

TEST(sec_fetch_site_of_another_site)
{
    CHECK(request_is_cross_site(NULL, "cross-site", "127.0.0.1:8060", 0));
    CHECK(request_is_cross_site(NULL, "same-site", "127.0.0.1:8060", 0));
    CHECK(request_is_cross_site(NULL, "Cross-Site", "127.0.0.1:8060", 0));
    /* a same-origin claim does not excuse a foreign Origin */
    CHECK(request_is_cross_site("http://evil.example", "same-origin", "127.0.0.1:8060", 0));
}

TEST(origin_must_be_herald_own)
{
    CHECK(!request_is_cross_site("http://127.0.0.1:8060", NULL, "127.0.0.1:8060", 0));
    CHECK(!request_is_cross_site("HTTP://Herald.Example", NULL, "herald.example", 0));
    CHECK(!request_is_cross_site("https://herald.example", NULL, "herald.example", 1));
    CHECK(request_is_cross_site("http://herald.example", NULL, "herald.example", 1));
    CHECK(request_is_cross_site("https://herald.example", NULL, "herald.example", 0));
    CHECK(request_is_cross_site("http://127.0.0.1:3000", NULL, "127.0.0.1:8060", 0));
    CHECK(request_is_cross_site("http://127.0.0.1:8060", NULL, NULL, 0));
    CHECK(request_is_cross_site("null", NULL, "127.0.0.1:8060", 0));
    CHECK(request_is_cross_site("", NULL, "127.0.0.1:8060", 0));
}

TEST(percent_00_in_the_path_only)
{
    CHECK(raw_path_has_nul("/webhook/c1%00evil"));
    CHECK(raw_path_has_nul("/webhook/%00"));
    CHECK(!raw_path_has_nul("/webhook/c1"));
    CHECK(!raw_path_has_nul("/webhook/c1%2500"));
    CHECK(!raw_path_has_nul("/webhook/%0"));
    CHECK(!raw_path_has_nul("/api/v1/history?alertname=%00"));
}

RUN_TESTS(CASE(application_json_in_any_case_with_parameters), CASE(other_types_are_not_json),
          CASE(no_browser_headers_is_not_cross_site), CASE(sec_fetch_site_of_another_site),
          CASE(origin_must_be_herald_own), CASE(percent_00_in_the_path_only))
