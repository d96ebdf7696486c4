/* The host services table handed to plugins, and the concrete request and
 * response objects behind the public ABI's opaque types. */
#ifndef HERALD_HOST_H
#define HERALD_HOST_H

#include "herald/plugin.h"
#include "util/strbuf.h"

struct herald_request {
    char *url;         /* where to send; scheme picks the transport */
    char *log_url;     /* redacted form for logs; NULL: derive from url */
    char **headers;    /* "Name: value" lines */
    size_t headers_len;
    strbuf body;
    char *method;      /* NULL: POST */
    char *user;        /* basic auth or SMTP AUTH, when set */
    char *password;
    char *mail_from;   /* SMTP envelope */
    char **recipients;
    size_t recipients_len;
    herald_tls tls;
};

struct herald_buf {
    strbuf sb;
};

/* A response as the dispatcher received it: the public part first, so a
 * pointer to it is a valid herald_response for plugins. Every response a
 * plugin's classify() sees must be one of these: the host's
 * response_header() reads the header lines behind the public part. */
typedef struct host_response {
    herald_response pub;
    char **headers;    /* "Name: value" lines, trailing CRLF removed */
    size_t headers_len;
} host_response;

const herald_host *host_table(void);
/* Replaces the wall clock behind now_ms and Retry-After dates (NULL puts it
 * back), so that tests see one fixed time everywhere. Set it before plugins
 * run: it is not synchronised. */
void host_set_clock(int64_t (*now_ms)(void));

void request_init(herald_request *req);
void request_free(herald_request *req);
/* The URL to print: log_url if the plugin set one, else url with every
 * query value replaced by "…" (tokens and signatures live there). */
char *request_redacted_url(const herald_request *req);

void response_free(host_response *resp);

#endif
