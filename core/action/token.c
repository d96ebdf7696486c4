#include "action/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/hash.h"
#include "util/strbuf.h"

/* Signed with the payload: a token of another purpose made with the same
 * key could never pass for an action link. */
#define SIGNING_CONTEXT "herald-action-v1."
#define SIGNATURE_BYTES 32
/* Far longer than any link a message carries (50 fingerprints and a
 * group's labels): anything longer is refused before it is decoded. */
#define TOKEN_MAX 8192

const char *action_kind_name(action_kind kind)
{
    return kind == ACTION_SILENCE ? "silence" : "ack";
}

int action_kind_parse(const char *text, action_kind *out)
{
    if (text && strcmp(text, "silence") == 0)
        *out = ACTION_SILENCE;
    else if (text && strcmp(text, "ack") == 0)
        *out = ACTION_ACK;
    else
        return -1;
    return 0;
}

int action_new_nonce(char out[ACTION_NONCE_HEX + 1])
{
    unsigned char raw[ACTION_NONCE_HEX / 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int action_key_generate(int64_t id, int64_t created_ms, action_key *out)
{
    out->id = id;
    out->created_ms = created_ms;
    return RAND_bytes(out->secret, sizeof out->secret) == 1 ? 0 : -1;
}

const action_key *action_keyring_current(const action_keyring *ring)
{
    return ring->len ? &ring->keys[ring->len - 1] : NULL;
}

void action_keyring_free(action_keyring *ring)
{
    if (ring->keys)
        OPENSSL_cleanse(ring->keys, ring->len * sizeof *ring->keys);
    free(ring->keys);
    *ring = (action_keyring){0};
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *action_base64url_encode(const unsigned char *data, size_t len)
{
    char *out = xcalloc(len / 3 * 4 + 5, 1);
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)data[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64url_value(char c)
{
    const char *at = c ? strchr(b64url, c) : NULL;
    return at ? (int)(at - b64url) : -1;
}

long action_base64url_decode(const char *text, size_t len, unsigned char *out, size_t cap)
{
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(text[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* The leftover bits of a canonical encoding are zero: another spelling
     * of the same bytes is a changed token too. */
    return acc ? -1 : (long)o;
}

static void sign_payload(const action_key *key, const char *payload, size_t len,
                         unsigned char mac[SIGNATURE_BYTES])
{
    strbuf signed_text = {0};
    sb_puts(&signed_text, SIGNING_CONTEXT);
    sb_append(&signed_text, payload, len);
    hmac_sha256(key->secret, sizeof key->secret, sb_str(&signed_text), signed_text.len, mac);
    sb_free(&signed_text);
}

char *action_token_sign(const action_token *t, const action_key *key)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "k", (double)key->id);
    cJSON_AddStringToObject(o, "a", action_kind_name(t->kind));
    cJSON_AddNumberToObject(o, "d", (double)(t->duration_ms / 1000));
    cJSON *fps = cJSON_AddArrayToObject(o, "f");
    for (size_t i = 0; i < t->fingerprints_len; i++)
        cJSON_AddItemToArray(fps, cJSON_CreateString(t->fingerprints[i]));
    cJSON *m = cJSON_AddObjectToObject(o, "m");
    for (size_t i = 0; i < t->matchers.len; i++)
        cJSON_AddStringToObject(m, t->matchers.items[i].name, t->matchers.items[i].value);
    cJSON_AddStringToObject(o, "r", t->receiver ? t->receiver : "");
    cJSON_AddNumberToObject(o, "e", (double)(t->expires_ms / 1000));
    cJSON_AddStringToObject(o, "n", t->nonce);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *payload = action_base64url_encode((const unsigned char *)json, strlen(json));
    free(json);
    unsigned char mac[SIGNATURE_BYTES];
    sign_payload(key, payload, strlen(payload), mac);
    char *signature = action_base64url_encode(mac, sizeof mac);
    strbuf token = {0};
    sb_printf(&token, "%s.%s", payload, signature);
    free(payload);
    free(signature);
    return sb_take(&token);
}

static const action_key *key_for(const action_keyring *ring, int64_t id, int64_t now_ms)
{
    for (size_t i = 0; i < ring->len; i++) {
        if (ring->keys[i].id != id)
            continue;
        int retired_long_ago = i + 1 < ring->len &&
                               now_ms - ring->keys[i + 1].created_ms > ACTION_MAX_TTL_MS;
        return retired_long_ago ? NULL : &ring->keys[i];
    }
    return NULL;
}

static int number_field(const cJSON *o, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v))
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

static const char *string_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The payload as signed: every field there and of its type. */
static int read_payload(const cJSON *o, action_token *t)
{
    int64_t duration_s, expires_s;
    const char *nonce = string_field(o, "n"), *receiver = string_field(o, "r");
    const cJSON *fps = cJSON_GetObjectItemCaseSensitive(o, "f");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "m");
    if (number_field(o, "k", &t->key_id) || number_field(o, "d", &duration_s) ||
        number_field(o, "e", &expires_s) || action_kind_parse(string_field(o, "a"), &t->kind) ||
        !nonce || strlen(nonce) != ACTION_NONCE_HEX || !receiver || !cJSON_IsArray(fps) ||
        !cJSON_IsObject(m))
        return -1;
    t->duration_ms = duration_s * 1000;
    t->expires_ms = expires_s * 1000;
    memcpy(t->nonce, nonce, sizeof t->nonce);
    t->receiver = xstrdup(receiver);
    const cJSON *item;
    cJSON_ArrayForEach(item, fps) {
        if (!cJSON_IsString(item))
            return -1;
        t->fingerprints = xrealloc(t->fingerprints, (t->fingerprints_len + 1) * sizeof(char *));
        t->fingerprints[t->fingerprints_len++] = xstrdup(item->valuestring);
    }
    cJSON_ArrayForEach(item, m) {
        if (!cJSON_IsString(item))
            return -1;
        labelset_set(&t->matchers, item->string, item->valuestring);
    }
    return 0;
}

action_verdict action_token_verify(const char *token, const action_keyring *ring,
                                   int64_t now_ms, action_token *out)
{
    *out = (action_token){0};
    size_t len = strnlen(token, TOKEN_MAX + 1);
    const char *dot = memchr(token, '.', len);
    if (len > TOKEN_MAX || !dot)
        return ACTION_TAMPERED;
    size_t payload_len = (size_t)(dot - token);
    unsigned char given[SIGNATURE_BYTES + 1];
    if (action_base64url_decode(dot + 1, len - payload_len - 1, given, sizeof given) !=
        SIGNATURE_BYTES)
        return ACTION_TAMPERED;
    unsigned char *json = xcalloc(payload_len + 1, 1);
    long json_len = action_base64url_decode(token, payload_len, json, payload_len);
    cJSON *o = json_len > 0 ? cJSON_ParseWithLength((const char *)json, (size_t)json_len) : NULL;
    free(json);
    /* Which key signed it is read before the signature is checked, and
     * nothing else is. */
    int64_t key_id = 0;
    const action_key *key = o && !number_field(o, "k", &key_id) ? key_for(ring, key_id, now_ms)
                                                                 : NULL;
    unsigned char expected[SIGNATURE_BYTES];
    if (key)
        sign_payload(key, token, payload_len, expected);
    if (!key || CRYPTO_memcmp(expected, given, SIGNATURE_BYTES) != 0 || read_payload(o, out)) {
        cJSON_Delete(o);
        action_token_free(out);
        return ACTION_TAMPERED;
    }
    cJSON_Delete(o);
    return now_ms >= out->expires_ms ? ACTION_EXPIRED : ACTION_VALID;
}

void action_token_free(action_token *t)
{
    for (size_t i = 0; i < t->fingerprints_len; i++)
        free(t->fingerprints[i]);
    free(t->fingerprints);
    labelset_free(&t->matchers);
    free(t->receiver);
    *t = (action_token){0};
}
