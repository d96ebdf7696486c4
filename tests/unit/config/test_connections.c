/* The connections section: limits and deadlines, each bad value refused
 * with the key and what was expected. */
#include "harness.h"

#include "config/conf.h"
#include "fixtures.h"

static const char *const console =
    "\ndefault_receiver = \"console\"\nreceivers = { console = { channel = \"console\" } }\n";

/* Loads `section` (a connections = ... line) with a console receiver;
 * returns config_load's result with err filled. */
static int load(const fixture *fx, const char *section, config *c, char *err, size_t cap)
{
    char body[1024];
    snprintf(body, sizeof body, "%s%s", section, console);
    char *path = fixture_config(fx, NULL, NULL, body);
    int rc = config_load(path, c, err, cap);
    free(path);
    return rc;
}

#define CHECK_REFUSED(fx, section, expected)                                               \
    do {                                                                                   \
        config c_;                                                                         \
        char err_[1024] = "";                                                              \
        if (load(fx, section, &c_, err_, sizeof err_) == 0) {                              \
            config_free(&c_);                                                              \
            FAIL_AT("%s: loaded without error", section);                                  \
        } else if (!strstr(err_, expected) || !strstr(err_, "herald.lua: ")) {             \
            FAIL_AT("expected an error containing \"%s\", got \"%s\"", expected, err_);    \
        }                                                                                  \
    } while (0)

FIXTURE_TEST(defaults_fit_keep_alive_pools_and_bound_slow_clients)
{
    config c;
    char err[1024];
    if (load(fx, "", &c, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(c.connections.max, 0); /* sized from the file descriptors at start */
    CHECK_INT(c.connections.per_address, 128);
    CHECK_INT(c.connections.head_timeout_ms, 10000);
    CHECK_INT(c.connections.body_timeout_ms, 60000);
    config_free(&c);
}

FIXTURE_TEST(every_key_is_read)
{
    config c;
    char err[1024];
    if (load(fx, "connections = { max = 5000, per_address = 32, head_timeout = \"2s\", "
                 "body_timeout = \"90s\" }", &c, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(c.connections.max, 5000);
    CHECK_INT(c.connections.per_address, 32);
    CHECK_INT(c.connections.head_timeout_ms, 2000);
    CHECK_INT(c.connections.body_timeout_ms, 90000);
    config_free(&c);
}

/* The default per_address is no error under a small max: it shrinks. */
FIXTURE_TEST(default_per_address_fits_under_a_small_max)
{
    config c;
    char err[1024];
    if (load(fx, "connections = { max = 20 }", &c, err, sizeof err))
        FAIL_AT("%s", err);
    CHECK_INT(c.connections.max, 20);
    CHECK_INT(c.connections.per_address, 20);
    config_free(&c);
}

FIXTURE_TEST(bad_values_are_refused_by_key)
{
    CHECK_REFUSED(fx, "connections = 100", "connections: expected a table, got an integer");
    CHECK_REFUSED(fx, "connections = { per_ip = 10 }",
                  "connections.per_ip: unknown key (expected one of: max, per_address, "
                  "head_timeout, body_timeout)");
    CHECK_REFUSED(fx, "connections = { max = 10 }",
                  "connections.max: expected an integer from 16 to 1000000, got 10");
    CHECK_REFUSED(fx, "connections = { max = \"many\" }",
                  "connections.max: expected an integer, got a string");
    CHECK_REFUSED(fx, "connections = { per_address = 0 }",
                  "connections.per_address: expected an integer from 1 to 1000000, got 0");
    CHECK_REFUSED(fx, "connections = { max = 100, per_address = 200 }",
                  "connections.per_address: 200 is more than connections.max (100)");
    CHECK_REFUSED(fx, "connections = { head_timeout = \"soon\" }",
                  "connections.head_timeout: expected a duration");
    CHECK_REFUSED(fx, "connections = { head_timeout = \"500ms\" }",
                  "connections.head_timeout: expected from 1s to 1h");
    CHECK_REFUSED(fx, "connections = { body_timeout = \"2h\" }",
                  "connections.body_timeout: expected from 1s to 1h");
}

RUN_TESTS(CASE(defaults_fit_keep_alive_pools_and_bound_slow_clients), CASE(every_key_is_read),
          CASE(default_per_address_fits_under_a_small_max), CASE(bad_values_are_refused_by_key))
