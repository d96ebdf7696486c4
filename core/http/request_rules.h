/* What herald asks of a request beyond its path and credentials, as pure
 * functions over header values (gate.c applies them; unit-tested without
 * a server). */
#ifndef HERALD_HTTP_REQUEST_RULES_H
#define HERALD_HTTP_REQUEST_RULES_H

#include <stddef.h>

/* The media type ingest bodies must have, and that a write may carry. */
#define JSON_MEDIA_TYPE "application/json"

/* Whether a Content-Type header value is application/json, in any case,
 * with or without parameters ("application/json; charset=utf-8"). */
int content_type_is_json(const char *value);

/* Whether a request comes from a page of another site, so a browser sent
 * it on that page's behalf: Sec-Fetch-Site is cross-site or same-site, or
 * Origin is anything but herald's own (scheme://Host). Either header may
 * be NULL; a request with neither (curl, Alertmanager) is not. */
int request_is_cross_site(const char *origin, const char *sec_fetch_site, const char *host,
                          int tls);

/* Whether the path of a raw request target (before percent-decoding, up
 * to '?') holds %00, which decoding would turn into an end of string. */
int raw_path_has_nul(const char *target);

#endif
