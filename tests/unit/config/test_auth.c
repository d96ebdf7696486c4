/* Inbound authentication: which Authorization headers pass. */
#include "harness.h"

#include "config/auth.h"

static inbound_auth bearer_only(void)
{
    inbound_auth a = {0};
    auth_set_bearer(&a, "s3cr3t-token");
    return a;
}

TEST(nothing_configured_lets_everything_through)
{
    inbound_auth a = {0};
    CHECK_INT(auth_required(&a), 0);
    CHECK_INT(auth_check(&a, NULL), AUTH_OK);
    CHECK_INT(auth_check(&a, "Bearer anything"), AUTH_OK);
    CHECK_STR(auth_describe(&a), "none");
}

TEST(bearer_token)
{
    inbound_auth a = bearer_only();
    CHECK_INT(auth_required(&a), 1);
    CHECK_INT(auth_check(&a, "Bearer s3cr3t-token"), AUTH_OK);
    CHECK_INT(auth_check(&a, "bearer   s3cr3t-token  "), AUTH_OK); /* scheme is case-insensitive */
    CHECK_INT(auth_check(&a, NULL), AUTH_MISSING);
    CHECK_INT(auth_check(&a, "Bearer s3cr3t-toke"), AUTH_WRONG);
    CHECK_INT(auth_check(&a, "Bearer s3cr3t-token2"), AUTH_WRONG);
    CHECK_INT(auth_check(&a, "Bearer "), AUTH_WRONG);
    CHECK_INT(auth_check(&a, "Bearer"), AUTH_WRONG);
    CHECK_INT(auth_check(&a, ""), AUTH_WRONG);
    CHECK_INT(auth_check(&a, "s3cr3t-token"), AUTH_WRONG);
    /* Basic is not configured: the right secret in it does not pass. */
    CHECK_INT(auth_check(&a, "Basic czNjcjN0LXRva2Vu"), AUTH_WRONG);
    CHECK_STR(auth_challenge(&a), "Bearer realm=\"herald\"");
    CHECK_STR(auth_describe(&a), "bearer token");
}

TEST(basic_credentials)
{
    inbound_auth a = {0};
    auth_set_basic(&a, "alertmanager", "pässwörd");
    /* base64("alertmanager:pässwörd") in UTF-8 */
    CHECK_INT(auth_check(&a, "Basic YWxlcnRtYW5hZ2VyOnDDpHNzd8O2cmQ="), AUTH_OK);
    CHECK_INT(auth_check(&a, "BASIC YWxlcnRtYW5hZ2VyOnDDpHNzd8O2cmQ="), AUTH_OK);
    /* alertmanager:password, alertmanager:, :pässwörd */
    CHECK_INT(auth_check(&a, "Basic YWxlcnRtYW5hZ2VyOnBhc3N3b3Jk"), AUTH_WRONG);
    CHECK_INT(auth_check(&a, "Basic YWxlcnRtYW5hZ2VyOg=="), AUTH_WRONG);
    CHECK_INT(auth_check(&a, "Basic OnDDpHNzd8O2cmQ="), AUTH_WRONG);
    /* not base64, a length that is no multiple of 4, nothing */
    CHECK_INT(auth_check(&a, "Basic !!!!"), AUTH_WRONG);
    CHECK_INT(auth_check(&a, "Basic YWxlcnRtYW5hZ2VyOnDDpHNzd8O2cmQ"), AUTH_WRONG);
    CHECK_INT(auth_check(&a, "Basic"), AUTH_WRONG);
    CHECK_INT(auth_check(&a, "Bearer alertmanager:pässwörd"), AUTH_WRONG);
    CHECK_STR(auth_challenge(&a), "Basic realm=\"herald\", charset=\"UTF-8\"");
}

TEST(padding_is_not_part_of_the_credentials)
{
    inbound_auth a = {0};
    auth_set_basic(&a, "u", "p"); /* "u:p" encodes as dTpw, no padding */
    CHECK_INT(auth_check(&a, "Basic dTpw"), AUTH_OK);
    auth_set_basic(&a, "u", "pw"); /* "u:pw" needs two '=' */
    CHECK_INT(auth_check(&a, "Basic dTpwdw=="), AUTH_OK);
    auth_set_basic(&a, "u", "pwd"); /* "u:pwd" needs one */
    CHECK_INT(auth_check(&a, "Basic dTpwd2Q="), AUTH_OK);
}

TEST(either_scheme_when_both_are_set)
{
    inbound_auth a = bearer_only();
    auth_set_basic(&a, "am", "pw");
    CHECK_INT(auth_check(&a, "Bearer s3cr3t-token"), AUTH_OK);
    CHECK_INT(auth_check(&a, "Basic YW06cHc="), AUTH_OK);
    CHECK_INT(auth_check(&a, "Digest username=\"am\""), AUTH_WRONG);
    CHECK_STR(auth_describe(&a), "bearer token or basic");
}

RUN_TESTS(CASE(nothing_configured_lets_everything_through), CASE(bearer_token),
          CASE(basic_credentials), CASE(padding_is_not_part_of_the_credentials),
          CASE(either_scheme_when_both_are_set))
