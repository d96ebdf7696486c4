#include "store/content.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

int64_t store_content_id(const char *labels_json, const char *annotations_json)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    static const char separator = '\0';
    /* the NUL keeps {"a":"b"}+{} and {"a":"b"}{}+"" apart */
    if (!ctx || !EVP_DigestInit_ex(ctx, hash_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, labels_json, strlen(labels_json)) ||
        !EVP_DigestUpdate(ctx, &separator, 1) ||
        !EVP_DigestUpdate(ctx, annotations_json, strlen(annotations_json)) ||
        !EVP_DigestFinal_ex(ctx, digest, &digest_len))
        abort();
    EVP_MD_CTX_free(ctx);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | digest[i];
    return (int64_t)(id & INT64_MAX);
}
