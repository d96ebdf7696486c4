/* Action links: the token's signature, expiry, keys and URL-safe
 * encoding, and herald.action_url with and without external_url. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "../lua/lua_test_util.h"
#include "action/links.h"
#include "action/token.h"
#include "lua/sandbox.h"

#define DAY_MS (86400 * 1000LL)
/* 2026-11-21T05:00:00Z */
#define NOW_MS 1795237200000LL

static action_key key_of(int64_t id, int64_t created_ms, unsigned char fill)
{
    action_key k = {.id = id, .created_ms = created_ms};
    memset(k.secret, fill, sizeof k.secret);
    return k;
}

static action_token sample(void)
{
    static char fp1[] = "0123456789abcdef", fp2[] = "fedcba9876543210";
    static char *fps[] = {fp1, fp2};
    action_token t = {.kind = ACTION_SILENCE, .duration_ms = 2 * 3600 * 1000,
                      .fingerprints = fps, .fingerprints_len = 2, .receiver = "ops",
                      .expires_ms = NOW_MS + 7 * DAY_MS};
    memcpy(t.nonce, "00112233445566778899aabbccddeeff", sizeof t.nonce);
    return t;
}

static labelset matchers(void)
{
    labelset set = {0};
    labelset_set(&set, "alertname", "HostDown");
    labelset_set(&set, "instance", "10.0.0.11:9100");
    return set;
}

TEST(a_signed_token_verifies_with_every_field)
{
    action_key k = key_of(3, NOW_MS, 7);
    action_keyring ring = {&k, 1};
    action_token t = sample();
    t.matchers = matchers();
    char *token = action_token_sign(&t, &k);
    labelset_free(&t.matchers);
    for (const char *p = token; *p; p++)
        CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", *p));
    action_token out;
    CHECK_INT(action_token_verify(token, &ring, NOW_MS, &out), ACTION_VALID);
    free(token);
    CHECK_INT(out.kind, ACTION_SILENCE);
    CHECK_INT(out.duration_ms, 2 * 3600 * 1000);
    CHECK_INT(out.fingerprints_len, 2);
    CHECK_STR(out.fingerprints[1], "fedcba9876543210");
    CHECK_STR(labelset_get(&out.matchers, "instance"), "10.0.0.11:9100");
    CHECK_STR(out.receiver, "ops");
    CHECK_INT(out.expires_ms, NOW_MS + 7 * DAY_MS);
    CHECK_STR(out.nonce, "00112233445566778899aabbccddeeff");
    CHECK_INT(out.key_id, 3);
    action_token_free(&out);
}

TEST(any_changed_byte_is_tampering)
{
    action_key k = key_of(1, NOW_MS, 9);
    action_keyring ring = {&k, 1};
    action_token t = sample();
    char *token = action_token_sign(&t, &k);
    size_t len = strlen(token);
    for (size_t i = 0; i < len; i++) {
        char *changed = strdup(token);
        changed[i] = changed[i] == 'A' ? 'B' : 'A';
        action_token out;
        int verdict = action_token_verify(changed, &ring, NOW_MS, &out);
        free(changed);
        if (verdict != ACTION_TAMPERED)
            FAIL_AT("byte %zu changed: verdict %d, expected tampered", i, verdict);
        CHECK(out.receiver == NULL);
    }
    action_token out;
    char *cut = strndup(token, len - 1);
    CHECK_INT(action_token_verify(cut, &ring, NOW_MS, &out), ACTION_TAMPERED);
    CHECK_INT(action_token_verify("", &ring, NOW_MS, &out), ACTION_TAMPERED);
    CHECK_INT(action_token_verify("no-dot-at-all", &ring, NOW_MS, &out), ACTION_TAMPERED);
    free(cut);
    /* another key (a rotation deleted it, or another herald) */
    action_key other = key_of(1, NOW_MS, 10);
    action_keyring wrong = {&other, 1};
    CHECK_INT(action_token_verify(token, &wrong, NOW_MS, &out), ACTION_TAMPERED);
    free(token);
}

TEST(expiry_and_rotated_keys)
{
    action_key keys[2] = {key_of(1, NOW_MS - 40 * DAY_MS, 1), key_of(2, NOW_MS, 2)};
    action_keyring ring = {keys, 2};
    action_token t = sample(), out;
    char *token = action_token_sign(&t, &keys[0]);
    /* the previous key verifies what it signed, until the longest link
     * life has passed since the next one replaced it */
    CHECK_INT(action_token_verify(token, &ring, NOW_MS, &out), ACTION_VALID);
    action_token_free(&out);
    CHECK_INT(action_token_verify(token, &ring, NOW_MS + ACTION_MAX_TTL_MS + 1, &out),
              ACTION_TAMPERED);
    /* expired: the fields are read, for the refusal to name when */
    CHECK_INT(action_token_verify(token, &ring, t.expires_ms, &out), ACTION_EXPIRED);
    CHECK_INT(out.expires_ms, t.expires_ms);
    action_token_free(&out);
    free(token);
}

TEST(base64url_round_trip_and_refusals)
{
    unsigned char data[40], back[40];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 250);
    for (size_t n = 0; n <= sizeof data; n++) {
        char *text = action_base64url_encode(data, n);
        CHECK(!strchr(text, '=') && !strchr(text, '+') && !strchr(text, '/'));
        CHECK_INT(action_base64url_decode(text, strlen(text), back, sizeof back), n);
        CHECK(memcmp(data, back, n) == 0);
        free(text);
    }
    CHECK_INT(action_base64url_decode("QQ==", 4, back, sizeof back), -1);
    CHECK_INT(action_base64url_decode("Q", 1, back, sizeof back), -1);
    CHECK_INT(action_base64url_decode("QR", 2, back, sizeof back), -1); /* non-canonical */
    CHECK_INT(action_base64url_decode("QQ", 2, back, sizeof back), 1);
}

TEST(template_helper_makes_links_only_when_configured)
{
    lua_State *L = sandbox_new(NULL, NULL);
    const char *group = "return herald.action_url({receiver = 'ops', groupLabels = "
                        "{alertname = 'HostDown'}, alerts = {{fingerprint = '0123456789abcdef',"
                        " status = 'firing'}, {fingerprint = 'fedcba9876543210', status = "
                        "'resolved'}}}, 'silence', '2h')";
    action_links_reset();
    CHECK_STR(eval(L, group), "nil");
    action_links_set_url("https://herald.example.com/");
    CHECK_STR(eval(L, group), "nil"); /* no key yet */
    action_key k = key_of(5, NOW_MS, 3);
    action_links_set_key(&k);
    const char *url = eval(L, group);
    CHECK(strncmp(url, "https://herald.example.com/action/", 34) == 0);
    action_keyring ring = {&k, 1};
    action_token out;
    CHECK_INT(action_token_verify(url + 34, &ring, NOW_MS, &out), ACTION_VALID);
    CHECK_INT(out.fingerprints_len, 1); /* the firing one */
    CHECK_STR(labelset_get(&out.matchers, "alertname"), "HostDown");
    CHECK_STR(out.receiver, "ops");
    CHECK_INT(out.duration_ms, 2 * 3600 * 1000);
    CHECK(out.expires_ms - NOW_MS >= ACTION_DEFAULT_TTL_MS);
    action_token_free(&out);
    /* two links for the same alerts differ: each has a nonce of its own */
    char first[RESULT_CAP];
    snprintf(first, sizeof first, "%s", eval(L, group));
    CHECK(strcmp(first, eval(L, group)) != 0);

    const char *ack = eval(L, "return herald.action_url({fingerprint = '0123456789abcdef', "
                              "labels = {alertname = 'HostDown', instance = 'a'}}, 'ack')");
    CHECK_INT(action_token_verify(ack + 34, &ring, NOW_MS, &out), ACTION_VALID);
    CHECK_INT(out.kind, ACTION_ACK);
    CHECK_STR(labelset_get(&out.matchers, "instance"), "a");
    action_token_free(&out);

    CHECK_CONTAINS(eval(L, "return herald.action_url({}, 'reboot')"),
                   "expected \"silence\" or \"ack\"");
    CHECK_CONTAINS(eval(L, "return herald.action_url({}, 'silence', 'soon')"),
                   "expected a duration");
    CHECK_CONTAINS(eval(L, "return herald.action_url({}, 'ack', nil, '90d')"), "at most 30d");
    action_links_set_url(NULL);
    CHECK_STR(eval(L, group), "nil");
    action_links_reset();
    sandbox_close(L);
}

RUN_TESTS(CASE(a_signed_token_verifies_with_every_field), CASE(any_changed_byte_is_tampering),
          CASE(expiry_and_rotated_keys), CASE(base64url_round_trip_and_refusals),
          CASE(template_helper_makes_links_only_when_configured))
