/* A small unit-test harness. Each test binary lists its cases with
 * TEST(name) and runs them with RUN_TESTS(...); it prints one line per case
 * ("ok name" / "FAIL name: file:line: what") and ends with
 * "N passed, N failed", exiting 1 if anything failed. tests/run adds the
 * per-binary counts together. */
#ifndef HERALD_TEST_HARNESS_H
#define HERALD_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

extern int harness_case_failed;

#define TEST(name) static void test_##name(void)
#define CASE(name) {#name, test_##name}

#define FAIL_AT(...)                                                        \
    do {                                                                    \
        printf("    %s:%d: ", __FILE__, __LINE__);                          \
        printf(__VA_ARGS__);                                                \
        printf("\n");                                                       \
        harness_case_failed = 1;                                            \
        return;                                                             \
    } while (0)

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond))                                                        \
            FAIL_AT("check failed: %s", #cond);                             \
    } while (0)

#define CHECK_INT(actual, expected)                                         \
    do {                                                                    \
        long long a_ = (long long)(actual), e_ = (long long)(expected);     \
        if (a_ != e_)                                                       \
            FAIL_AT("%s == %lld, expected %lld", #actual, a_, e_);          \
    } while (0)

#define CHECK_STR(actual, expected)                                         \
    do {                                                                    \
        const char *a_ = (actual), *e_ = (expected);                        \
        if (!a_ || strcmp(a_, e_) != 0)                                     \
            FAIL_AT("%s == \"%s\", expected \"%s\"", #actual,               \
                    a_ ? a_ : "(null)", e_);                                \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                    \
    do {                                                                    \
        const char *h_ = (haystack), *n_ = (needle);                        \
        if (!h_ || !strstr(h_, n_))                                         \
            FAIL_AT("%s == \"%s\" does not contain \"%s\"", #haystack,      \
                    h_ ? h_ : "(null)", n_);                                \
    } while (0)

#define RUN_TESTS(...)                                                      \
    int harness_case_failed;                                                \
    int main(void)                                                          \
    {                                                                       \
        static const test_case cases_[] = {__VA_ARGS__};                    \
        int passed_ = 0, failed_ = 0;                                       \
        for (size_t i_ = 0; i_ < sizeof cases_ / sizeof cases_[0]; i_++) {  \
            harness_case_failed = 0;                                        \
            cases_[i_].fn();                                                \
            printf("%s %s\n", harness_case_failed ? "FAIL" : "ok",          \
                   cases_[i_].name);                                        \
            if (harness_case_failed)                                        \
                failed_++;                                                  \
            else                                                            \
                passed_++;                                                  \
            fflush(stdout);                                                 \
        }                                                                   \
        printf("%d passed, %d failed\n", passed_, failed_);                 \
        fflush(stdout); /* before LeakSanitizer's exit-time report */       \
        return failed_ ? 1 : 0;                                             \
    }

#endif
