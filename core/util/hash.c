#include "util/hash.h"

#include <pthread.h>

#include <openssl/evp.h>

/* EVP_sha256() makes OpenSSL look the digest up in its providers at every
 * use, a lock and a search that cost more than hashing a dedup key; the
 * digest is fetched once instead. OpenSSL keeps what it returns. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void) { sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); }

void sha256_hex128(const void *data, size_t len, char out[SHA256_HEX128_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    pthread_once(&sha256_once, fetch_sha256);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_Digest(data ? data : "", len, digest, &digest_len, sha256 ? sha256 : EVP_sha256(), NULL);
    for (size_t i = 0; i < (SHA256_HEX128_SIZE - 1) / 2; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[SHA256_HEX128_SIZE - 1] = '\0';
}
