/* libFuzzer harness: the configuration loader (config/conf.h) on any file.
 * The input is written as conf/herald.lua in a scratch directory that
 * holds the repository's scripts/ and templates/ (symbolic links), after
 * one line naming the build's plugins, so that the bundled configuration
 * loads as it does from the repository. A load succeeds or fails with a
 * message; nothing else. The fuzz tree's sandbox deadline is 10 ms
 * (meson.build), so a looping file costs little. */
#include "fuzz.h"

#include <unistd.h>

#include "config/conf.h"
#include "plugin/loader.h"
#include "testutil.h"
#include "util/log.h"

static char *workdir;
static char *conf_path;
static char *plugin_line;
/* The plugins stay loaded between inputs: each load's dlclose then only
 * drops a reference, and a module libFuzzer counts coverage in is never
 * unmapped under it. */
static plugin_set resident;

static void clean_up(void)
{
    plugins_free(&resident);
    test_rmtree(workdir);
    free(workdir);
    free(conf_path);
    free(plugin_line);
}

static void link_into_workdir(const char *name)
{
    strbuf target = STRBUF_INIT, link = STRBUF_INIT;
    sb_printf(&target, "%s/%s", SOURCE_ROOT, name);
    sb_printf(&link, "%s/%s", workdir, name);
    FUZZ_CHECK(symlink(sb_str(&target), sb_str(&link)) == 0, "cannot link %s", sb_str(&link));
    sb_free(&target);
    sb_free(&link);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* the warnings and print()s of fuzzed inputs would bury libFuzzer's output */
    log_set_level(HERALD_LOG_ERROR);
    workdir = test_tmpdir();
    link_into_workdir("scripts");
    link_into_workdir("templates");
    strbuf path = STRBUF_INIT;
    sb_printf(&path, "%s/conf", workdir);
    FUZZ_CHECK(mkdir(sb_str(&path), 0755) == 0, "cannot make %s", sb_str(&path));
    sb_puts(&path, "/herald.lua");
    conf_path = sb_take(&path);
    strbuf line = STRBUF_INIT;
    sb_printf(&line, "plugin_dir = '%s/plugins'\n", BUILD_ROOT);
    plugin_line = sb_take(&line);
    char err[1024];
    FUZZ_CHECK(plugins_load_dir(&resident, BUILD_ROOT "/plugins", err, sizeof err) == 0, "%s",
               err);
    atexit(clean_up);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(conf_path, "w");
    FUZZ_CHECK(f != NULL, "cannot write %s", conf_path);
    fputs(plugin_line, f);
    fwrite(data, 1, size, f);
    FUZZ_CHECK(fclose(f) == 0, "cannot write %s", conf_path);
    config conf;
    char err[1024];
    FUZZ_ERR_INIT(err);
    if (config_load(conf_path, &conf, err, sizeof err) != 0) {
        fuzz_check_refusal(err, sizeof err, "config_load");
        return 0;
    }
    FUZZ_CHECK(conf.default_receiver && config_receiver(&conf, conf.default_receiver),
               "loaded without its default receiver");
    config_free(&conf);
    return 0;
}
