#include "util/hash.h"

#include <pthread.h>
#include <stdlib.h>

#include <openssl/core_names.h>

/* OpenSSL keeps what it returns until it is unloaded at exit. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void) { sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); }

const EVP_MD *hash_sha256(void)
{
    pthread_once(&sha256_once, fetch_sha256);
    return sha256 ? sha256 : EVP_sha256();
}

/* An HMAC-SHA256 context with no key yet, copied for each MAC: only
 * read once made, so any thread may copy it. */
static EVP_MAC_CTX *hmac_template;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void make_hmac_template(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    hmac_template = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context keeps its own reference */
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!hmac_template || !EVP_MAC_CTX_set_params(hmac_template, params))
        abort(); /* no SHA-256 in OpenSSL: nothing could be signed */
}

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 unsigned char out[32])
{
    /* A NULL key would mean "keep the previous key" to OpenSSL: an empty
     * one has to be a real pointer. */
    static const unsigned char empty[1];
    pthread_once(&hmac_once, make_hmac_template);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(hmac_template);
    size_t out_len = 0;
    if (!ctx || !EVP_MAC_init(ctx, key ? key : empty, key_len, NULL) ||
        !EVP_MAC_update(ctx, data ? data : empty, len) || !EVP_MAC_final(ctx, out, &out_len, 32))
        abort();
    EVP_MAC_CTX_free(ctx);
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
