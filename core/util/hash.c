#include "util/hash.h"

#include <pthread.h>


/* OpenSSL keeps what it returns until it is unloaded at exit. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void) { sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); }

const EVP_MD *hash_sha256(void)
{
    pthread_once(&sha256_once, fetch_sha256);
    return sha256 ? sha256 : EVP_sha256();
}

void sha256_hex128(const void *data, size_t len, char out[SHA256_HEX128_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_Digest(data ? data : "", len, digest, &digest_len, hash_sha256(), NULL);
    for (size_t i = 0; i < (SHA256_HEX128_SIZE - 1) / 2; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[SHA256_HEX128_SIZE - 1] = '\0';
}
