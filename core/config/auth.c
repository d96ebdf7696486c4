#include "config/auth.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util/hash.h"
#include "util/strbuf.h"

static void digest(const void *data, size_t len, unsigned char out[32])
{
    unsigned int out_len = 0;
    EVP_Digest(data, len, out, &out_len, hash_sha256(), NULL);
}

void auth_set_bearer(inbound_auth *a, const char *token)
{
    digest(token, strlen(token), a->bearer_digest);
    a->bearer = 1;
}

void auth_set_basic(inbound_auth *a, const char *username, const char *password)
{
    strbuf pair = STRBUF_INIT;
    sb_printf(&pair, "%s:%s", username, password);
    digest(pair.data, pair.len, a->basic_digest);
    OPENSSL_cleanse(pair.data, pair.len);
    sb_free(&pair);
    a->basic = 1;
}

int auth_required(const inbound_auth *a) { return a->bearer || a->basic; }

static int matches(const char *secret, size_t len, const unsigned char expected[32])
{
    unsigned char got[32];
    digest(secret, len, got);
    return CRYPTO_memcmp(got, expected, sizeof got) == 0;
}

/* The credentials of "Basic <base64>" decoded, into out (cap bytes);
 * -1 when they are not base64. */
static int decode_basic(const char *b64, size_t len, unsigned char *out, size_t cap)
{
    if (len == 0 || len % 4 || len / 4 * 3 > cap)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts the padding as decoded zero bytes. */
    for (size_t i = len; i > len - 2 && b64[i - 1] == '='; i--)
        n--;
    return n;
}

auth_result auth_check(const inbound_auth *a, const char *authorization)
{
    if (!auth_required(a))
        return AUTH_OK;
    if (!authorization)
        return AUTH_MISSING;
    const char *p = authorization;
    while (*p == ' ')
        p++;
    const char *scheme = p;
    while (*p && *p != ' ')
        p++;
    size_t scheme_len = (size_t)(p - scheme);
    while (*p == ' ')
        p++;
    size_t len = strlen(p);
    while (len && p[len - 1] == ' ')
        len--;
    if (a->bearer && scheme_len == 6 && strncasecmp(scheme, "Bearer", 6) == 0)
        return len && matches(p, len, a->bearer_digest) ? AUTH_OK : AUTH_WRONG;
    if (a->basic && scheme_len == 5 && strncasecmp(scheme, "Basic", 5) == 0) {
        unsigned char pair[768];
        int n = decode_basic(p, len, pair, sizeof pair);
        int ok = n > 0 && matches((const char *)pair, (size_t)n, a->basic_digest);
        OPENSSL_cleanse(pair, sizeof pair);
        return ok ? AUTH_OK : AUTH_WRONG;
    }
    return AUTH_WRONG;
}

const char *auth_challenge(const inbound_auth *a)
{
    return a->basic ? "Basic realm=\"herald\", charset=\"UTF-8\"" : "Bearer realm=\"herald\"";
}

const char *auth_describe(const inbound_auth *a)
{
    if (a->bearer && a->basic)
        return "bearer token or basic";
    if (a->bearer)
        return "bearer token";
    return a->basic ? "basic" : "none";
}
