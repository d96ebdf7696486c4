/* Signed action links: a token names what a person may do to which
 * alerts (silence them for a while, or acknowledge them), for how long
 * the link is good and which receiver the alerts went to, and carries
 * an HMAC-SHA256 over all of it with a key kept in the store. The token
 * is URL-safe (base64url, no padding): "<payload>.<signature>", the
 * payload a small JSON object naming its key by id. */
#ifndef HERALD_ACTION_TOKEN_H
#define HERALD_ACTION_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "alert/alert.h"

#define ACTION_KEY_BYTES 32
#define ACTION_NONCE_HEX 32
/* What a link is good for unless the template says otherwise, and at
 * most: a key retired by a rotation is still accepted this long, so
 * every link signed with it can still be followed until it expires. */
#define ACTION_DEFAULT_TTL_MS (7LL * 86400 * 1000)
#define ACTION_MAX_TTL_MS (30LL * 86400 * 1000)
/* A group link names at most so many alerts (its matchers name the rest). */
#define ACTION_MAX_FINGERPRINTS 50

typedef enum action_kind { ACTION_SILENCE, ACTION_ACK } action_kind;

typedef struct action_key {
    int64_t id;
    unsigned char secret[ACTION_KEY_BYTES];
    int64_t created_ms;
} action_key;

/* The keys in the store, newest (the one that signs) last. */
typedef struct action_keyring {
    action_key *keys;
    size_t len;
} action_keyring;

typedef struct action_token {
    action_kind kind;
    int64_t duration_ms;         /* silence: how long; 0 for ack */
    char **fingerprints;
    size_t fingerprints_len;
    labelset matchers;           /* equality matchers: the alert's labels, or the group's */
    char *receiver;              /* who got the alerts, and gets the confirmation */
    int64_t expires_ms;
    char nonce[ACTION_NONCE_HEX + 1]; /* tells the uses of one link apart */
    int64_t key_id;
} action_token;

typedef enum action_verdict {
    ACTION_VALID = 0,
    ACTION_TAMPERED,             /* malformed, unknown key, or a signature that does not match */
    ACTION_EXPIRED,
} action_verdict;

const char *action_kind_name(action_kind kind);
/* "silence" or "ack": 0, else -1. */
int action_kind_parse(const char *text, action_kind *out);
/* A fresh random nonce (OpenSSL RAND_bytes); -1 when it has none. */
int action_new_nonce(char out[ACTION_NONCE_HEX + 1]);
/* A fresh random key; -1 when RAND_bytes fails. */
int action_key_generate(int64_t id, int64_t created_ms, action_key *out);
/* The newest key, which signs; NULL when there is none. */
const action_key *action_keyring_current(const action_keyring *ring);
void action_keyring_free(action_keyring *ring);

/* The token for t, signed with key (t->key_id is taken from it). The
 * caller frees it. */
char *action_token_sign(const action_token *t, const action_key *key);
/* Checks the signature in constant time against the ring's key the
 * token names (a key a newer one replaced more than ACTION_MAX_TTL_MS
 * ago is refused), then the expiry at now_ms. On ACTION_VALID and
 * ACTION_EXPIRED *out is filled (free with action_token_free); on
 * ACTION_TAMPERED nothing is. */
action_verdict action_token_verify(const char *token, const action_keyring *ring,
                                   int64_t now_ms, action_token *out);
void action_token_free(action_token *t);

/* base64url without padding; the decode refuses anything else and
 * returns the length, or -1. */
char *action_base64url_encode(const unsigned char *data, size_t len);
long action_base64url_decode(const char *text, size_t len, unsigned char *out, size_t cap);

#endif
