/* A PostgreSQL DSN's password never shows: pg_redact hides it in what
 * libpq says, pg_dsn_describe names the server without it. */
#include "harness.h"

#include <stdlib.h>

#include "util/dsn.h"

static const char *redact(const char *text, const char *secret)
{
    static char out[512];
    return pg_redact(text, secret, out, sizeof out);
}

TEST(keyword_passwords_plain_and_quoted_are_hidden)
{
    CHECK_STR(redact("host=db password=s3cret dbname=herald", NULL),
              "host=db password=*** dbname=herald");
    CHECK_STR(redact("host=db password = 's3 cr\\'et' dbname=herald", NULL),
              "host=db password = *** dbname=herald");
    CHECK_STR(redact("PASSWORD=s3cret", NULL), "PASSWORD=***");
    CHECK_STR(redact("password=", NULL), "password=***");
}

TEST(uri_passwords_in_userinfo_and_query_are_hidden)
{
    CHECK_STR(redact("postgresql://herald:s3cret@db:5432/herald?sslmode=require", NULL),
              "postgresql://herald:***@db:5432/herald?sslmode=require");
    CHECK_STR(redact("postgres://herald:p%40ss@db/herald", NULL),
              "postgres://herald:***@db/herald");
    CHECK_STR(redact("postgresql://db/herald?user=h&password=s3cret&sslmode=verify-full", NULL),
              "postgresql://db/herald?user=h&password=***&sslmode=verify-full");
}

TEST(a_uri_without_a_password_is_kept_as_it_is)
{
    CHECK_STR(redact("postgresql://herald@db/herald", NULL), "postgresql://herald@db/herald");
    CHECK_STR(redact("postgresql://db:5432/herald", NULL), "postgresql://db:5432/herald");
    CHECK_STR(redact("connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  "
                     "password authentication failed for user \"herald\"",
                     NULL),
              "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  "
              "password authentication failed for user \"herald\"");
}

TEST(the_known_secret_is_hidden_wherever_it_appears)
{
    CHECK_STR(redact("missing \"=\" after \"hunter22\" in connection info string", "hunter22"),
              "missing \"=\" after \"***\" in connection info string");
    CHECK_STR(redact("a hunter22 b hunter22", "hunter22"), "a *** b ***");
    /* too short to be told from ordinary letters: left */
    CHECK_STR(redact("a b", "a"), "a b");
}

TEST(the_result_is_cut_to_the_buffer)
{
    char out[12];
    CHECK_STR(pg_redact("password=s3cret and more text", NULL, out, sizeof out), "password=**");
}

TEST(the_password_is_read_as_libpq_reads_it)
{
    char *password = NULL;
    CHECK_INT(pg_dsn_password("host=db password='a b' dbname=x", &password), 0);
    CHECK_STR(password, "a b");
    free(password);
    CHECK_INT(pg_dsn_password("postgresql://u:p%40ss@db/x", &password), 0);
    CHECK_STR(password, "p@ss");
    free(password);
    CHECK_INT(pg_dsn_password("host=db dbname=x", &password), 0);
    CHECK(password == NULL);
    CHECK_INT(pg_dsn_password("host=db password=x oops", &password), -1);
    CHECK(password == NULL);
}

TEST(a_dsn_is_described_without_user_or_password)
{
    char out[128];
    pg_dsn_describe("host=db.example port=6432 user=herald password=s3cret dbname=alerts", out,
                    sizeof out);
    CHECK_STR(out, "postgresql://db.example:6432/alerts");
    pg_dsn_describe("postgresql://herald:s3cret@db/alerts?sslmode=require", out, sizeof out);
    CHECK_STR(out, "postgresql://db/alerts");
    pg_dsn_describe("password=s3cret oops", out, sizeof out);
    CHECK_STR(out, "postgresql");
}

RUN_TESTS(CASE(keyword_passwords_plain_and_quoted_are_hidden),
          CASE(uri_passwords_in_userinfo_and_query_are_hidden),
          CASE(a_uri_without_a_password_is_kept_as_it_is),
          CASE(the_known_secret_is_hidden_wherever_it_appears), CASE(the_result_is_cut_to_the_buffer),
          CASE(the_password_is_read_as_libpq_reads_it),
          CASE(a_dsn_is_described_without_user_or_password))
