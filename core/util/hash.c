#include "util/hash.h"

#include <stdio.h>

#include <openssl/evp.h>

void sha256_hex128(const void *data, size_t len, char out[SHA256_HEX128_SIZE])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_Digest(data ? data : "", len, digest, &digest_len, EVP_sha256(), NULL);
    for (size_t i = 0; i < (SHA256_HEX128_SIZE - 1) / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}
