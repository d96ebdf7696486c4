#include "config/actions.h"

#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "util/strbuf.h"

static int is_http_url(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

static void wipe(char *secret)
{
    if (secret)
        OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

/* The Authorization header's value for Alertmanager: a secret, kept only
 * here and in the dispatcher's request. */
static char *basic_authorization(const char *username, const char *password)
{
    strbuf pair = {0};
    sb_printf(&pair, "%s:%s", username, password);
    size_t cap = 4 * ((pair.len + 2) / 3) + 1;
    char *encoded = xcalloc(cap, 1);
    EVP_EncodeBlock((unsigned char *)encoded, (const unsigned char *)sb_str(&pair), (int)pair.len);
    OPENSSL_cleanse(pair.data, pair.len);
    sb_free(&pair);
    strbuf header = {0};
    sb_printf(&header, "Basic %s", encoded);
    wipe(encoded);
    return sb_take(&header);
}

static int read_alertmanager_auth(conf_reader *rd, config *c)
{
    lua_getfield(rd->L, -1, "auth");
    if (lua_isnil(rd->L, -1)) {
        lua_pop(rd->L, 1);
        return 0;
    }
    static const char *const keys[] = {"bearer_token", "username", "password"};
    char *token = NULL, *username = NULL, *password = NULL;
    int rc = expect_table(rd, "alertmanager.auth") ||
             check_keys(rd, "alertmanager.auth", keys, 3) ||
             read_table_string(rd, "alertmanager.auth", "bearer_token", 0, &token) ||
             read_table_string(rd, "alertmanager.auth", "username", 0, &username) ||
             read_table_string(rd, "alertmanager.auth", "password", username != NULL, &password);
    lua_pop(rd->L, 1);
    if (!rc && !token && !username)
        rc = fail_at(rd, "alertmanager.auth", "expected bearer_token, or username and password%s",
                     unset_env_hint(rd));
    else if (!rc && token && username)
        rc = fail_at(rd, "alertmanager.auth", "expected bearer_token or username, not both");
    else if (!rc && (token ? !*token : !*username || !*password))
        rc = fail_at(rd, "alertmanager.auth", "must not be empty");
    if (!rc) {
        strbuf header = {0};
        if (token)
            sb_printf(&header, "Bearer %s", token);
        c->alertmanager_authorization = token ? sb_take(&header)
                                              : basic_authorization(username, password);
    }
    wipe(token);
    wipe(username);
    wipe(password);
    return rc;
}

static int read_alertmanager(conf_reader *rd, config *c)
{
    lua_getfield(rd->L, -1, "alertmanager");
    if (lua_isnil(rd->L, -1)) {
        lua_pop(rd->L, 1);
        return 0;
    }
    static const char *const keys[] = {"url", "auth"};
    int rc = expect_table(rd, "alertmanager") || check_keys(rd, "alertmanager", keys, 2) ||
             read_table_string(rd, "alertmanager", "url", 1, &c->alertmanager_url) ||
             read_alertmanager_auth(rd, c);
    lua_pop(rd->L, 1);
    if (!rc && !is_http_url(c->alertmanager_url))
        rc = fail_at(rd, "alertmanager.url", "expected an http:// or https:// URL, got \"%s\"",
                     c->alertmanager_url);
    if (!rc) {
        size_t n = strlen(c->alertmanager_url);
        while (n && c->alertmanager_url[n - 1] == '/')
            c->alertmanager_url[--n] = '\0';
    }
    return rc;
}

int read_actions_section(conf_reader *rd)
{
    config *c = rd->conf;
    if (read_table_string(rd, NULL, "external_url", 0, &c->external_url))
        return -1;
    if (c->external_url && !is_http_url(c->external_url))
        return fail_at(rd, "external_url", "expected an http:// or https:// URL, got \"%s\"",
                       c->external_url);
    return read_alertmanager(rd, c);
}
