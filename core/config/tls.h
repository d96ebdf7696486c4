/* Inbound TLS: the certificate (chain) and private key herald serves
 * HTTPS with, read from PEM files and checked with OpenSSL before
 * libmicrohttpd (GnuTLS) gets them, so that a wrong file is named by its
 * configuration key instead of failing the listener without a reason. */
#ifndef HERALD_TLS_H
#define HERALD_TLS_H

#include <stddef.h>

typedef struct tls_pair {
    char *cert_pem;      /* the file as read: the certificate, then its chain */
    char *key_pem;       /* wiped when freed */
    char subject[256];   /* of the first certificate, one line */
    char not_after[32];  /* "2027-01-31 12:00:00 UTC" */
    int days_left;       /* negative once it has expired */
} tls_pair;

/* Reads both files and checks that each holds what it should (an
 * unencrypted key, a certificate) and that the key belongs to the
 * certificate. Returns 0, or -1 with err naming tls.cert_file or
 * tls.key_file. */
int tls_read(const char *cert_file, const char *key_file, tls_pair *out, char *err,
             size_t err_cap);
void tls_pair_free(tls_pair *p);

#endif
