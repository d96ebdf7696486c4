#include "cli/reading.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pwd.h>

#include <openssl/crypto.h>

#include "config/conf.h"

int reading_open(const cli *c, const char *prefix, reading *out)
{
    char *dir = NULL, *dsn = NULL;
    char err[1024];
    out->store = NULL;
    out->zone = NULL;
    if (config_store_view(c->config, &dir, &dsn, &out->zone, err, sizeof err) == 0) {
        out->store = store_reader_open(&(store_location){dir, dsn}, err, sizeof err);
        free(dir);
        if (dsn)
            OPENSSL_cleanse(dsn, strlen(dsn));
        free(dsn);
        if (out->store)
            return 0;
    }
    fprintf(stderr, "herald: %s%s\n", prefix, err);
    reading_close(out);
    return EXIT_INVALID;
}

void reading_close(reading *r)
{
    store_reader_close(r->store);
    tz_free(r->zone);
    r->store = NULL;
    r->zone = NULL;
}

int reading_finish(reading *r, const cli *c, int rc, strbuf *out, const char *prefix,
                   const char *err)
{
    if (rc)
        fprintf(stderr, "herald: %s%s\n", prefix, err);
    else
        printf("%s%s", sb_str(out), c->json ? "\n" : "");
    sb_free(out);
    reading_close(r);
    return rc ? EXIT_INVALID : 0;
}

const char *reading_unix_user(void)
{
    const struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name && pw->pw_name[0])
        return pw->pw_name;
    const char *user = getenv("USER");
    return user && user[0] ? user : "unknown";
}
