/* Shared by the libFuzzer harnesses (tests/fuzz/README.md). A harness
 * checks what the code under test promises; a promise broken is an abort,
 * which libFuzzer reports as a crash and saves the input for. */
#ifndef HERALD_FUZZ_H
#define HERALD_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                        \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: broken promise: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            abort();                                                                 \
        }                                                                            \
    } while (0)

/* What every refusal promises (util/error.h): a message was written and
 * it ends within its buffer. */
static inline void fuzz_check_refusal(const char *err, size_t err_cap, const char *what)
{
    FUZZ_CHECK(memchr(err, '\0', err_cap) != NULL, "%s: message not terminated", what);
    FUZZ_CHECK(err[0] != '\0' && err[0] != '\x01', "%s: refused without a message", what);
}

/* A buffer for err that shows whether the callee wrote it. */
#define FUZZ_ERR_INIT(err) memset((err), '\x01', sizeof(err))

#endif
