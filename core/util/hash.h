/* A digest that names something without showing it. */
#ifndef HERALD_HASH_H
#define HERALD_HASH_H

#include <stddef.h>

#include <openssl/evp.h>

/* 128 bits of SHA-256 of data as 32 lowercase hex digits and a NUL: a
 * name for something on disk (a dedup stream, a robot) that does not
 * show what it names. */
#define SHA256_HEX128_SIZE 33
void sha256_hex128(const void *data, size_t len, char out[SHA256_HEX128_SIZE]);

/* SHA-256 as fetched from OpenSSL's providers once: EVP_sha256() makes
 * OpenSSL look it up again at every digest or HMAC, a lock and a search
 * that cost more than hashing a short text. */
const EVP_MD *hash_sha256(void);

/* HMAC-SHA256 of data under key (either may be empty, and NULL when it
 * is). HMAC() fetches the MAC and its digest by name at every call,
 * which was a twentieth of the dispatcher's time; this fetches once. */
void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                 unsigned char out[32]);

#endif
