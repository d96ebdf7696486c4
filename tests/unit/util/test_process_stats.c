/* The standard process metrics, from /proc. */
#include "harness.h"

#include <fcntl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/process_stats.h"

/* A command name with spaces and parentheses, as a renamed thread or a
 * binary called "a) b" shows it: fields count from the last ')'. */
static const char stat_line[] =
    "4242 (herald (x) y) S 1 4242 4242 0 -1 4194560 1200 0 3 0 250 50 0 0 20 0 5 0 123456 "
    "98765432 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(cpu_memory_and_start_time_come_from_the_stat_fields)
{
    process_stats st = {0};
    char err[256] = "";
    CHECK_INT(process_stats_parse_stat(stat_line, 100, 4096, 1700000000.0, &st, err, sizeof err), 0);
    CHECK(st.cpu_seconds > 2.999 && st.cpu_seconds < 3.001); /* (250 + 50) ticks */
    CHECK_INT(st.resident_bytes, 2048 * 4096);
    CHECK(st.start_time_seconds > 1700001234.559 && st.start_time_seconds < 1700001234.561);
}

TEST(a_stat_line_cut_short_is_an_error_naming_the_file)
{
    process_stats st = {0};
    char err[256] = "";
    CHECK_INT(process_stats_parse_stat("4242 (herald) S 1 2 3", 100, 4096, 0, &st, err, sizeof err),
              -1);
    CHECK_CONTAINS(err, "/proc/self/stat: ");
    CHECK_INT(process_stats_parse_stat("4242 herald S", 100, 4096, 0, &st, err, sizeof err), -1);
    CHECK_CONTAINS(err, "no command name in parentheses");
}

TEST(boot_time_is_the_btime_line)
{
    double boot = 0;
    char err[256] = "";
    CHECK_INT(process_stats_parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n",
                                            &boot, err, sizeof err),
              0);
    CHECK(boot == 1700000000.0);
    CHECK_INT(process_stats_parse_boot_time("cpu  1 2 3\n", &boot, err, sizeof err), -1);
    CHECK_CONTAINS(err, "/proc/stat: no btime line");
}

/* This very process: started moments ago, some memory, the three standard
 * descriptors plus two it opens now. */
TEST(this_process_reads_plausibly)
{
    process_stats before = {0}, after = {0};
    char err[256] = "";
    CHECK_INT(process_stats_read(&before, err, sizeof err), 0);
    int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY);
    CHECK_INT(process_stats_read(&after, err, sizeof err), 0);
    close(a);
    close(b);
    CHECK_INT(after.open_fds, before.open_fds + 2);
    CHECK(before.open_fds >= 3);
    CHECK(after.max_fds >= after.open_fds);
    CHECK(after.resident_bytes > 1024 * 1024);
    struct timeval now;
    gettimeofday(&now, NULL);
    /* started before now, and not before this test binary could have */
    CHECK(after.start_time_seconds <= (double)now.tv_sec + 1);
    CHECK(after.start_time_seconds > (double)now.tv_sec - 60);
    CHECK(after.cpu_seconds >= 0);
}

TEST(the_families_are_the_standard_ones)
{
    process_stats st = {.cpu_seconds = 1.5, .resident_bytes = 3, .open_fds = 4, .max_fds = 5,
                        .start_time_seconds = 1700000000.25};
    strbuf out = STRBUF_INIT;
    process_stats_render(&st, &out);
    const char *text = sb_str(&out);
    CHECK_CONTAINS(text, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.50\n");
    CHECK_CONTAINS(text, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 3\n");
    CHECK_CONTAINS(text, "# TYPE process_open_fds gauge\nprocess_open_fds 4\n");
    CHECK_CONTAINS(text, "# TYPE process_max_fds gauge\nprocess_max_fds 5\n");
    CHECK_CONTAINS(text,
                   "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1700000000.25\n");
    sb_free(&out);
}

RUN_TESTS(CASE(cpu_memory_and_start_time_come_from_the_stat_fields),
          CASE(a_stat_line_cut_short_is_an_error_naming_the_file), CASE(boot_time_is_the_btime_line),
          CASE(this_process_reads_plausibly), CASE(the_families_are_the_standard_ones))
