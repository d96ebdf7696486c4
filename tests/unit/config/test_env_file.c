/* env_file: secrets env() reads at every load, before the environment, from
 * a file only its owner can read; its errors name the file, the line and
 * the key, never a value. */
#include "harness.h"

#include <sys/stat.h>

#include "config/conf.h"
#include "config/env_file.h"
#include "fixtures.h"

#define SECRET "SECenvfile0123456789abcdef"

static char *write_env(const fixture *fx, const char *text, mode_t mode)
{
    char *path = test_write(fx->dir, "secrets.env", text);
    chmod(path, mode);
    return path;
}

FIXTURE_TEST(lines_quotes_comments_and_export)
{
    char *path = write_env(fx,
                           "# a comment\n; another\n\nexport A=1\nB = two words  \r\n"
                           "C=\"quoted \\\"x\\\" \\\\ \\n\"\nD='as is \\n'\nE=\nA=last wins\n",
                           0600);
    env_file f;
    char err[512];
    if (env_file_read(path, &f, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(f.len, 5);
    CHECK_STR(env_file_get(&f, "A"), "last wins");
    CHECK_STR(env_file_get(&f, "B"), "two words");
    CHECK_STR(env_file_get(&f, "C"), "quoted \"x\" \\ \n");
    CHECK_STR(env_file_get(&f, "D"), "as is \\n");
    CHECK_STR(env_file_get(&f, "E"), "");
    CHECK(env_file_get(&f, "F") == NULL);
    env_file_free(&f);
    free(path);
}

/* Reads `text` (mode 0600) and expects `expected` in the error, with
 * the secret nowhere in it. */
static int refused(const fixture *fx, const char *text, mode_t mode, const char *expected,
                   char *err, size_t cap)
{
    char *path = write_env(fx, text, mode);
    env_file f;
    int rc = env_file_read(path, &f, err, cap);
    free(path);
    if (rc == 0) {
        env_file_free(&f);
        snprintf(err, cap, "(read without error)");
        return 0;
    }
    return strstr(err, expected) && strstr(err, "secrets.env") && !strstr(err, SECRET);
}

#define CHECK_REFUSED(fx, text, mode, expected)                                            \
    do {                                                                                   \
        char err_[512] = "";                                                               \
        if (!refused(fx, text, mode, expected, err_, sizeof err_))                         \
            FAIL_AT("expected \"%s\", got \"%s\"", expected, err_);                        \
    } while (0)

FIXTURE_TEST(bad_lines_and_permissions_are_named_without_the_value)
{
    CHECK_REFUSED(fx, "A=1\n" SECRET "\n", 0600, "secrets.env:2: expected NAME=VALUE");
    CHECK_REFUSED(fx, "1A=" SECRET "\n", 0600, "secrets.env:1: \"1A\" is not a variable name");
    CHECK_REFUSED(fx, "A=\"" SECRET "\n", 0600, "secrets.env:1: A: the quoted value has no closing quote");
    CHECK_REFUSED(fx, "A='" SECRET "' x\n", 0600, "secrets.env:1: A: text after the closing quote");
    CHECK_REFUSED(fx, "A=" SECRET "\n", 0644, "readable by every user: chmod o-r it (it holds secrets; mode 0644)");
    CHECK_REFUSED(fx, "A=" SECRET "\n", 0620, "writable by other users");
    /* Group-readable is fine: root:herald 0640 is how a package installs it. */
    char *path = write_env(fx, "A=" SECRET "\n", 0640);
    env_file f;
    char err[512];
    if (env_file_read(path, &f, err, sizeof err))
        FAIL_AT("%s", err);
    env_file_free(&f);
    free(path);
}

/* What env("HERALD_ENVFILE_TEST") gave, with `file` as env_file: the
 * config uses it as its listen address, a value the test can read back. */
static int load_value(const fixture *fx, const char *file, char *value, size_t cap, char *err,
                      size_t err_cap)
{
    strbuf body = STRBUF_INIT;
    sb_printf(&body, "env_file = '%s'\nlisten = env('HERALD_ENVFILE_TEST')\n"
                     "default_receiver = 'console'\nreceivers = { console = { channel = 'console' } }\n",
              file);
    char *path = fixture_config(fx, NULL, NULL, sb_str(&body));
    sb_free(&body);
    config c;
    int rc = config_load(path, &c, err, err_cap);
    free(path);
    if (rc == 0) {
        snprintf(value, cap, "%s", c.listen);
        config_free(&c);
    }
    return rc;
}

FIXTURE_TEST(each_load_reads_the_file_again_and_it_wins_over_the_environment)
{
    setenv("HERALD_ENVFILE_TEST", "127.0.0.1:1001", 1);
    char value[64], err[1024];
    free(write_env(fx, "HERALD_ENVFILE_TEST=127.0.0.1:1002\n", 0600));
    if (load_value(fx, "secrets.env", value, sizeof value, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_STR(value, "127.0.0.1:1002");
    /* Rotated in the file: the next load (a reload) sees the new value. */
    free(write_env(fx, "HERALD_ENVFILE_TEST=127.0.0.1:1003\n", 0600));
    if (load_value(fx, "secrets.env", value, sizeof value, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_STR(value, "127.0.0.1:1003");
    /* Without the name in the file, the environment's value. */
    free(write_env(fx, "OTHER=1\n", 0600));
    if (load_value(fx, "secrets.env", value, sizeof value, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_STR(value, "127.0.0.1:1001");
    unsetenv("HERALD_ENVFILE_TEST");
}

FIXTURE_TEST(env_file_must_come_before_env_and_be_readable)
{
    char err[1024] = "";
    char *path = fixture_config(fx, NULL, NULL,
                                "local early = env('HOME', '')\nenv_file = 'secrets.env'\n"
                                "default_receiver = 'console'\nreceivers = { console = { channel = 'console' } }\n");
    free(write_env(fx, "A=1\n", 0600));
    config c;
    CHECK_INT(config_load(path, &c, err, sizeof err), -1);
    CHECK_CONTAINS(err, "env_file: set after an env() call");
    free(path);
    char value[64];
    CHECK_INT(load_value(fx, "missing.env", value, sizeof value, err, sizeof err), -1);
    CHECK_CONTAINS(err, "env_file: ");
    CHECK_CONTAINS(err, "missing.env: No such file or directory");
}

RUN_TESTS(CASE(lines_quotes_comments_and_export),
          CASE(bad_lines_and_permissions_are_named_without_the_value),
          CASE(each_load_reads_the_file_again_and_it_wins_over_the_environment),
          CASE(env_file_must_come_before_env_and_be_readable))
