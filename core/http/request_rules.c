#include "http/request_rules.h"

#include <string.h>
#include <strings.h>

int content_type_is_json(const char *value)
{
    if (!value)
        return 0;
    size_t n = strlen(JSON_MEDIA_TYPE);
    if (strncasecmp(value, JSON_MEDIA_TYPE, n) != 0)
        return 0;
    const char *rest = value + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

/* Whether origin is "scheme://host" for herald's own scheme and Host. */
static int is_own_origin(const char *origin, const char *host, int tls)
{
    const char *scheme = tls ? "https://" : "http://";
    size_t n = strlen(scheme);
    return host && strncasecmp(origin, scheme, n) == 0 && strcasecmp(origin + n, host) == 0;
}

int request_is_cross_site(const char *origin, const char *sec_fetch_site, const char *host,
                          int tls)
{
    /* "same-site" is another port or subdomain: another application. */
    if (sec_fetch_site && (strcasecmp(sec_fetch_site, "cross-site") == 0 ||
                           strcasecmp(sec_fetch_site, "same-site") == 0))
        return 1;
    return origin && !is_own_origin(origin, host, tls);
}

int raw_path_has_nul(const char *target)
{
    for (const char *p = target; *p && *p != '?'; p++)
        if (p[0] == '%' && p[1] == '0' && p[2] == '0')
            return 1;
    return 0;
}
