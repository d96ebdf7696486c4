/* libFuzzer harness: herald's reader of request bodies (util/json_doc.c)
 * against cJSON's parser, on any bytes. Each input reads as the same tree
 * as cJSON reads it, or both refuse it at the same byte. */
#include "fuzz.h"

#include "util/json_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    FUZZ_CHECK(json_reads_as_cjson((const char *)data, size, why, sizeof why), "%s", why);
    return 0;
}
