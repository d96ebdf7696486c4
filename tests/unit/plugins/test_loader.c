/* The plugin loader against the real plugins and deliberately bad ones. */
#include "harness.h"
#include "plugin/loader.h"
#include "testutil.h"

TEST(loads_real_plugins_and_finds_channels)
{
    plugin_set set = {0};
    char err[512] = "";
    CHECK_INT(plugins_load_file(&set, DINGTALK_SO, err, sizeof err), 0);
    CHECK_INT(plugins_load_file(&set, CONSOLE_SO, err, sizeof err), 0);
    CHECK_INT(set.len, 2);
    const loaded_plugin *from = NULL;
    const herald_channel *signed_robot = plugins_find_channel(&set, "dingtalk", &from);
    CHECK(signed_robot != NULL);
    CHECK_STR(from->path, DINGTALK_SO);
    CHECK_STR(from->plugin->name, "dingtalk");
    CHECK_STR(from->plugin->version, "0.1.0");
    CHECK_INT(signed_robot->max_body_bytes, 20000);
    CHECK_INT(signed_robot->rate_per_minute, 20);
    CHECK_STR(signed_robot->default_template, "dingtalk");
    CHECK(plugins_find_channel(&set, "dingtalk_keyword", NULL) != NULL);
    const herald_channel *console = plugins_find_channel(&set, "console", &from);
    CHECK(console != NULL);
    CHECK_STR(from->plugin->name, "console");
    CHECK(plugins_find_channel(&set, "wecom", NULL) == NULL);
    plugins_free(&set);
    CHECK_INT(set.len, 0);
}

TEST(load_dir_descends_one_level_in_name_order)
{
    plugin_set set = {0};
    char err[512] = "";
    CHECK_INT(plugins_load_dir(&set, PLUGINS_BUILD_DIR, err, sizeof err), 0);
    /* Both live one level down, in plugins/console/ and plugins/dingtalk/. */
    CHECK(plugins_find_channel(&set, "console", NULL) != NULL);
    CHECK(plugins_find_channel(&set, "dingtalk", NULL) != NULL);
    int sorted = 1;
    for (size_t i = 1; i < set.len; i++)
        sorted &= strcmp(set.items[i - 1].path, set.items[i].path) < 0;
    plugins_free(&set);
    CHECK(sorted);
}

TEST(load_dir_reports_missing_dir)
{
    plugin_set set = {0};
    char err[512] = "";
    CHECK_INT(plugins_load_dir(&set, "/nonexistent/herald-plugins", err, sizeof err), -1);
    CHECK_CONTAINS(err, "/nonexistent/herald-plugins");
    CHECK_CONTAINS(err, "No such file");
    plugins_free(&set);
}

/* A plugin_dir with nothing in it loads no plugin (found by the fuzzer:
 * it sorted an empty list, which UBSan reports). */
TEST(load_dir_of_nothing_loads_nothing)
{
    char *dir = test_tmpdir();
    plugin_set set = {0};
    char err[512] = "";
    int rc = plugins_load_dir(&set, dir, err, sizeof err);
    test_rmtree(dir);
    free(dir);
    CHECK_INT(rc, 0);
    CHECK_INT(set.len, 0);
    plugins_free(&set);
}

TEST(refuses_other_major)
{
    plugin_set set = {0};
    char err[512] = "";
    CHECK_INT(plugins_load_file(&set, ABI_MAJOR2_SO, err, sizeof err), -1);
    CHECK_CONTAINS(err, ABI_MAJOR2_SO);
    char expected[128];
    snprintf(expected, sizeof expected, "built for plugin ABI 2.%d, this herald speaks %d.%d",
             HERALD_ABI_MINOR, HERALD_ABI_MAJOR, HERALD_ABI_MINOR);
    CHECK_CONTAINS(err, expected);
    CHECK_CONTAINS(err, "rebuild it against this herald's SDK");
    CHECK_INT(set.len, 0);
    plugins_free(&set);
}

TEST(refuses_newer_minor)
{
    plugin_set set = {0};
    char err[512] = "";
    CHECK_INT(plugins_load_file(&set, ABI_MINOR_NEWER_SO, err, sizeof err), -1);
    char expected[128];
    snprintf(expected, sizeof expected, "built for plugin ABI %d.%d, this herald speaks %d.%d",
             HERALD_ABI_MAJOR, HERALD_ABI_MINOR + 1, HERALD_ABI_MAJOR, HERALD_ABI_MINOR);
    CHECK_CONTAINS(err, expected);
    CHECK_CONTAINS(err, ABI_MINOR_NEWER_SO);
    CHECK_INT(set.len, 0);
    plugins_free(&set);
}

TEST(refuses_missing_entry_symbol)
{
    plugin_set set = {0};
    char err[512] = "";
    CHECK_INT(plugins_load_file(&set, NO_ENTRY_SO, err, sizeof err), -1);
    CHECK_CONTAINS(err, NO_ENTRY_SO);
    CHECK_CONTAINS(err, "no herald_plugin_entry symbol");
    CHECK_CONTAINS(err, "undefined symbol");
    CHECK_INT(set.len, 0);
    plugins_free(&set);
}

TEST(refuses_unloadable_file)
{
    plugin_set set = {0};
    char err[512] = "";
    CHECK_INT(plugins_load_file(&set, "/nonexistent/x.so", err, sizeof err), -1);
    CHECK_CONTAINS(err, "/nonexistent/x.so: cannot load: ");
    CHECK_CONTAINS(err, "No such file");
    plugins_free(&set);
}

TEST(refuses_duplicate_channel_naming_both_files)
{
    plugin_set set = {0};
    char err[512] = "";
    CHECK_INT(plugins_load_file(&set, CONSOLE_SO, err, sizeof err), 0);
    CHECK_INT(plugins_load_file(&set, DUP_CONSOLE_SO, err, sizeof err), -1);
    CHECK_CONTAINS(err, "channel \"console\" is defined by both");
    CHECK_CONTAINS(err, CONSOLE_SO);
    CHECK_CONTAINS(err, DUP_CONSOLE_SO);
    CHECK_INT(set.len, 1);
    plugins_free(&set);
}

TEST(loading_one_file_twice_is_a_duplicate)
{
    plugin_set set = {0};
    char err[512] = "";
    CHECK_INT(plugins_load_file(&set, DINGTALK_SO, err, sizeof err), 0);
    CHECK_INT(plugins_load_file(&set, DINGTALK_SO, err, sizeof err), -1);
    CHECK_CONTAINS(err, "channel \"dingtalk\" is defined by both");
    CHECK_INT(set.len, 1);
    plugins_free(&set);
}

RUN_TESTS(CASE(loads_real_plugins_and_finds_channels),
          CASE(load_dir_descends_one_level_in_name_order), CASE(load_dir_reports_missing_dir),
          CASE(load_dir_of_nothing_loads_nothing),
          CASE(refuses_other_major), CASE(refuses_newer_minor),
          CASE(refuses_missing_entry_symbol), CASE(refuses_unloadable_file),
          CASE(refuses_duplicate_channel_naming_both_files),
          CASE(loading_one_file_twice_is_a_duplicate))
