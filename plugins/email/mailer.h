/* One email receiver: its options read, checked and kept in a mailer. */
#ifndef HERALD_EMAIL_MAILER_H
#define HERALD_EMAIL_MAILER_H

#include <herald/plugin.h>

#include <stddef.h>

typedef struct address {
    char *display; /* NULL when the option gave a bare address */
    char *addr;    /* addr-spec, the envelope form */
} address;

typedef struct address_list {
    address *items;
    size_t len;
} address_list;

typedef struct mailer {
    const herald_host *host;
    char *url;
    address from;
    const char *from_domain; /* points into from.addr, for Message-ID */
    address_list to;
    address_list cc;
    char *username;
    char *password;
    herald_tls tls;
    char *subject_prefix;
} mailer;

enum {
    OPT_URL,
    OPT_FROM,
    OPT_TO,
    OPT_CC,
    OPT_USERNAME,
    OPT_PASSWORD,
    OPT_TLS,
    OPT_SUBJECT_PREFIX,
    OPT_COUNT
};

extern const herald_option_spec mailer_options[OPT_COUNT];

/* The channel's configure and destroy. */
void *mailer_configure(const herald_host *host, const char *receiver,
                       const herald_option_value *values, char *err, size_t err_cap);
void mailer_destroy(void *instance);

#endif
