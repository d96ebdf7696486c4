#include "util/dsn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "util/strbuf.h"

#define HIDDEN "***"
/* A shorter password would hide common letters all over a message, and
 * is no secret anyway. */
#define SECRET_MIN_LEN 3

/* The end of a password= value starting at p: a quoted one ends at its
 * closing quote (backslash escapes), a plain one at a space, a URI's at
 * the next parameter. */
static const char *value_end(const char *p)
{
    if (*p == '\'') {
        for (p++; *p && *p != '\''; p++)
            if (*p == '\\' && p[1])
                p++;
        return *p ? p + 1 : p;
    }
    while (*p && !isspace((unsigned char)*p) && *p != '&' && *p != '"')
        p++;
    return p;
}

/* In a URI, the password of "scheme://user:password@host": starts at the
 * first ':' of the authority when an '@' ends the user information. */
static int uri_password(const char *p, const char **start, const char **end)
{
    const char *auth = p + 3; /* past "://" */
    size_t len = strcspn(auth, "/?# \t\n\"'");
    const char *at = NULL;
    for (const char *q = auth; q < auth + len; q++)
        if (*q == '@')
            at = q;
    if (!at)
        return 0;
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (!colon)
        return 0;
    *start = colon + 1;
    *end = at;
    return 1;
}

static void hide_secret(strbuf *text, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    if (n < SECRET_MIN_LEN)
        return;
    strbuf out = STRBUF_INIT;
    const char *p = sb_str(text), *hit;
    while ((hit = strstr(p, secret))) {
        sb_append(&out, p, (size_t)(hit - p));
        sb_puts(&out, HIDDEN);
        p = hit + n;
    }
    sb_puts(&out, p);
    sb_free(text);
    *text = out;
}

char *pg_redact(const char *text, const char *secret, char *out, size_t cap)
{
    strbuf sb = STRBUF_INIT;
    const char *p = text ? text : "";
    while (*p) {
        const char *start, *end;
        if (strncasecmp(p, "password", 8) == 0) {
            const char *q = p + 8;
            while (*q == ' ')
                q++;
            if (*q == '=') {
                q++;
                while (*q == ' ')
                    q++;
                sb_append(&sb, p, (size_t)(q - p));
                sb_puts(&sb, HIDDEN);
                p = value_end(q);
                continue;
            }
        }
        if (strncmp(p, "://", 3) == 0 && uri_password(p, &start, &end)) {
            sb_append(&sb, p, (size_t)(start - p));
            sb_puts(&sb, HIDDEN);
            p = end;
            continue;
        }
        sb_putc(&sb, *p++);
    }
    hide_secret(&sb, secret);
    snprintf(out, cap, "%s", sb_str(&sb));
    sb_free(&sb);
    return out;
}

int pg_dsn_password(const char *dsn, char **password)
{
    *password = NULL;
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &why);
    PQfreemem(why); /* it may quote the DSN */
    if (!opts)
        return -1;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            *password = xstrdup(o->val);
    PQconninfoFree(opts);
    return 0;
}

void pg_dsn_describe(const char *dsn, char *out, size_t cap)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &why);
    PQfreemem(why);
    const char *host = "", *port = "", *dbname = "";
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 && !*host))
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
    }
    snprintf(out, cap, "postgresql%s%s%s%s%s%s", opts ? "://" : "", host, *port ? ":" : "", port,
             *dbname ? "/" : "", dbname);
    PQconninfoFree(opts);
}
