/* Inbound authentication: the credentials a request must present when the
 * configuration sets `auth` (Bearer token, Basic username and password, or
 * both). Only SHA-256 digests of the secrets are kept, and they are
 * compared in constant time, so neither memory nor timing gives them away. */
#ifndef HERALD_AUTH_H
#define HERALD_AUTH_H

typedef struct inbound_auth {
    int bearer;                      /* Authorization: Bearer <token> accepted */
    int basic;                       /* Authorization: Basic <base64 user:password> accepted */
    unsigned char bearer_digest[32]; /* SHA-256 of the token */
    unsigned char basic_digest[32];  /* SHA-256 of "username:password" */
} inbound_auth;

typedef enum auth_result {
    AUTH_OK,
    AUTH_MISSING, /* no Authorization header */
    AUTH_WRONG,   /* a scheme not configured, malformed, or wrong credentials */
} auth_result;

void auth_set_bearer(inbound_auth *a, const char *token);
void auth_set_basic(inbound_auth *a, const char *username, const char *password);
int auth_required(const inbound_auth *a);
/* authorization: the request's Authorization header, or NULL. */
auth_result auth_check(const inbound_auth *a, const char *authorization);
/* The WWW-Authenticate value of a 401: Basic when it is accepted (a browser
 * then asks for a password), else Bearer. */
const char *auth_challenge(const inbound_auth *a);
/* "bearer token", "basic" or "bearer token or basic", for logs and check. */
const char *auth_describe(const inbound_auth *a);

#endif
