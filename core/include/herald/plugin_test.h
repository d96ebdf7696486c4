/* herald plugin test kit: herald's own host table outside herald, so that a
 * plugin's unit tests see the exact bytes herald would send. The services
 * are herald's code (the host table and what it needs), not a stand-in.
 *
 * A test program links the kit, never the plugin:
 *     cc -o test_mine test_mine.c mine.c $(pkg-config --cflags --libs herald-plugin-test)
 * and calls the plugin's HERALD_PLUGIN_ENTRY for its channels. Only the
 * herald_test_* names below are visible to the test; herald's internal
 * names stay inside the kit.
 *
 * Everything here runs on the caller's thread; nothing is sent anywhere. */
#ifndef HERALD_PLUGIN_TEST_H
#define HERALD_PLUGIN_TEST_H

#include <herald/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The table herald hands to configure(). */
HERALD_EXPORT const herald_host *herald_test_host(void);
/* Fixes the clock behind now_ms and Retry-After dates; NULL: the wall clock. */
HERALD_EXPORT void herald_test_set_clock(int64_t (*now_ms)(void));

/* An empty request, as herald hands it to prepare(). */
HERALD_EXPORT herald_request *herald_test_request_new(void);
HERALD_EXPORT void herald_test_request_free(herald_request *req);

/* What prepare() set on a request, borrowed from it: valid until the
 * request is freed. */
typedef struct herald_test_request {
    const char *url;             /* NULL: not set */
    const char *log_url;         /* NULL: not set (logs show url redacted) */
    const char *method;          /* NULL: not set (POST) */
    const char *const *headers;  /* "Name: value", in the order added */
    size_t headers_len;
    const char *body;            /* body_len bytes, then a NUL */
    size_t body_len;
    const char *user;            /* request_set_auth; NULL: not set */
    const char *password;
    const char *mail_from;       /* SMTP envelope; NULL: not set */
    const char *const *recipients;
    size_t recipients_len;
    herald_tls tls;
} herald_test_request;

HERALD_EXPORT herald_test_request herald_test_request_read(const herald_request *req);

/* A response as herald hands it to classify(): `headers` is NULL or a
 * NULL-terminated list of "Name: value" lines. */
HERALD_EXPORT herald_response *herald_test_response_new(long status, const char *body,
                                                        const char *const *headers);
HERALD_EXPORT void herald_test_response_free(herald_response *resp);

#ifdef __cplusplus
}
#endif

#endif
