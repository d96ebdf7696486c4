/* A PostgreSQL DSN is a secret (it may hold the password): nothing herald
 * prints or logs shows one. What libpq says about a connection goes
 * through pg_redact first, and a DSN is shown as pg_dsn_describe makes
 * it: where the server is, never who logs in with what. */
#ifndef HERALD_UTIL_DSN_H
#define HERALD_UTIL_DSN_H

#include <stddef.h>

/* text with every password hidden as "***": the values of password=
 * (plain, quoted or in a URI's query), the password of a URI's
 * user:password@, and every occurrence of `secret` (the DSN's own
 * password, as libpq parsed it; NULL or "": none). Returns out, which is
 * always terminated and cut to cap. */
char *pg_redact(const char *text, const char *secret, char *out, size_t cap);

/* The DSN's password as libpq reads it (caller frees), NULL when it has
 * none; 0, or -1 when it does not parse. */
int pg_dsn_password(const char *dsn, char **password);

/* "postgresql://host:port/dbname" from what the DSN names (libpq's
 * defaults left out); "postgresql" when it does not parse. */
void pg_dsn_describe(const char *dsn, char *out, size_t cap);

#endif
