/* Log lines: one line per message whatever the message holds, so text
 * from a request (a label, a status) cannot forge a line of its own. */
#include "harness.h"

#include <stdio.h>
#include <unistd.h>

#include "util/log.h"

/* Runs log_warn with `text` and returns what reached stderr (static). */
static const char *logged(const char *who, const char *text)
{
    static char out[8192];
    FILE *capture = tmpfile();
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(capture), 2);
    log_warn(who, "got \"%s\"", text);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(capture);
    size_t n = fread(out, 1, sizeof out - 1, capture);
    out[n] = '\0';
    fclose(capture);
    return out;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

TEST(newlines_and_control_bytes_are_escaped)
{
    const char *out = logged("http", "fir\n2026-01-01T00:00:00.000Z error herald: forged\r\x1b[2J");
    CHECK_INT(count_lines(out), 1);
    CHECK_CONTAINS(out, " warn  http: got \"fir\\n2026-01-01T00:00:00.000Z error herald: "
                        "forged\\x0d\\x1b[2J\"\n");
}

TEST(text_and_utf8_pass_unchanged)
{
    const char *out = logged("dingtalk", "主机 10.0.0.1 无法访问 \"quoted\" back\\slash");
    CHECK_INT(count_lines(out), 1);
    CHECK_CONTAINS(out, " warn  dingtalk: got \"主机 10.0.0.1 无法访问 \"quoted\" back\\slash\"\n");
}

TEST(a_plugin_name_cannot_break_the_line_either)
{
    const char *out = logged("evil\nplugin", "x");
    CHECK_INT(count_lines(out), 1);
    CHECK_CONTAINS(out, " evil\\nplugin: got \"x\"\n");
}

TEST(long_messages_stay_one_line)
{
    char big[6000];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *out = logged("http", big);
    CHECK_INT(count_lines(out), 1);
    CHECK(strlen(out) < 4096);
}

RUN_TESTS(CASE(newlines_and_control_bytes_are_escaped), CASE(text_and_utf8_pass_unchanged),
          CASE(a_plugin_name_cannot_break_the_line_either), CASE(long_messages_stay_one_line))
