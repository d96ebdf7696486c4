#include "config/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util/error.h"
#include "util/strbuf.h"

/* Certificate chains are a few KiB; anything far larger is not one. */
#define PEM_FILE_CAP (1 << 20)

/* Read in one piece: a key leaves no copies behind in grown buffers. */
static int read_pem(const char *key, const char *path, char **out, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        int saved = errno;
        if (f)
            fclose(f);
        return fail_errno(err, err_cap, saved, "%s: %s", key, path);
    }
    if (!S_ISREG(st.st_mode) || st.st_size > PEM_FILE_CAP) {
        fclose(f);
        return fail(err, err_cap, "%s: %s: %s", key, path,
                    S_ISREG(st.st_mode) ? "larger than 1 MiB, not a PEM file" : "not a file");
    }
    size_t size = (size_t)st.st_size;
    char *text = xcalloc(1, size + 1);
    size_t got = fread(text, 1, size, f);
    int failed = ferror(f) || got != size;
    fclose(f);
    if (failed) {
        OPENSSL_cleanse(text, size);
        free(text);
        return fail(err, err_cap, "%s: %s: cannot read it", key, path);
    }
    *out = text;
    return 0;
}

/* An encrypted key would need a passphrase at every start: refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *ctx)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(int *)ctx = 1;
    return -1;
}

static void describe_certificate(X509 *cert, tls_pair *out)
{
    X509_NAME_oneline(X509_get_subject_name(cert), out->subject, sizeof out->subject);
    const ASN1_TIME *end = X509_get0_notAfter(cert);
    struct tm tm;
    if (ASN1_TIME_to_tm(end, &tm))
        strftime(out->not_after, sizeof out->not_after, "%Y-%m-%d %H:%M:%S UTC", &tm);
    int days = 0, seconds = 0;
    if (ASN1_TIME_diff(&days, &seconds, NULL, end))
        out->days_left = days - (seconds < 0 && days <= 0);
}

int tls_read(const char *cert_file, const char *key_file, tls_pair *out, char *err,
             size_t err_cap)
{
    memset(out, 0, sizeof *out);
    if (read_pem("tls.cert_file", cert_file, &out->cert_pem, err, err_cap) ||
        read_pem("tls.key_file", key_file, &out->key_pem, err, err_cap)) {
        tls_pair_free(out);
        return -1;
    }
    int rc = -1, encrypted = 0;
    BIO *cert_bio = BIO_new_mem_buf(out->cert_pem, -1);
    BIO *key_bio = BIO_new_mem_buf(out->key_pem, -1);
    X509 *cert = cert_bio ? PEM_read_bio_X509(cert_bio, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = key_bio ? PEM_read_bio_PrivateKey(key_bio, NULL, no_passphrase, &encrypted)
                            : NULL;
    if (!cert)
        fail(err, err_cap, "tls.cert_file: %s: no PEM certificate in it "
             "(expected -----BEGIN CERTIFICATE-----)", cert_file);
    else if (!key && encrypted)
        fail(err, err_cap, "tls.key_file: %s: the key is encrypted; herald needs it without "
             "a passphrase (openssl pkey -in KEY -out PLAIN), readable by herald only",
             key_file);
    else if (!key)
        fail(err, err_cap, "tls.key_file: %s: no PEM private key in it "
             "(expected -----BEGIN PRIVATE KEY-----)", key_file);
    else if (X509_check_private_key(cert, key) != 1)
        fail(err, err_cap, "tls.key_file: %s: is not the key of the certificate in %s",
             key_file, cert_file);
    else
        rc = 0;
    if (cert)
        describe_certificate(cert, out);
    /* Whatever OpenSSL queued about the failure is in err by now. */
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    if (rc)
        tls_pair_free(out);
    return rc;
}

void tls_pair_free(tls_pair *p)
{
    if (p->key_pem) {
        OPENSSL_cleanse(p->key_pem, strlen(p->key_pem));
        free(p->key_pem);
    }
    free(p->cert_pem);
    memset(p, 0, sizeof *p);
}
