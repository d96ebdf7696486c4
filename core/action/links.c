#include "action/links.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/strbuf.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *base_url;
static action_key signing_key;
static int has_key;

void action_links_set_url(const char *external_url)
{
    char *copy = NULL;
    if (external_url && *external_url) {
        copy = xstrdup(external_url);
        size_t n = strlen(copy);
        while (n && copy[n - 1] == '/')
            copy[--n] = '\0';
    }
    pthread_mutex_lock(&lock);
    free(base_url);
    base_url = copy;
    pthread_mutex_unlock(&lock);
}

void action_links_set_key(const action_key *key)
{
    pthread_mutex_lock(&lock);
    has_key = key != NULL;
    if (key)
        signing_key = *key;
    else
        OPENSSL_cleanse(&signing_key, sizeof signing_key);
    pthread_mutex_unlock(&lock);
}

bool action_links_on(void)
{
    pthread_mutex_lock(&lock);
    bool on = base_url && has_key;
    pthread_mutex_unlock(&lock);
    return on;
}

char *action_links_make(action_token *t, int64_t now_ms, int64_t ttl_ms)
{
    if (ttl_ms <= 0 || ttl_ms > ACTION_MAX_TTL_MS)
        ttl_ms = ACTION_DEFAULT_TTL_MS;
    t->expires_ms = now_ms + ttl_ms;
    /* With links off, as they mostly are, no nonce is drawn: the random
     * generator cost 3% of a DingTalk request for links nobody got. */
    pthread_mutex_lock(&lock);
    int links_on = base_url && has_key;
    pthread_mutex_unlock(&lock);
    if (!links_on || action_new_nonce(t->nonce))
        return NULL;
    pthread_mutex_lock(&lock);
    char *url = NULL;
    if (base_url && has_key) {
        t->key_id = signing_key.id;
        char *token = action_token_sign(t, &signing_key);
        strbuf sb = {0};
        sb_printf(&sb, "%s/action/%s", base_url, token);
        free(token);
        url = sb_take(&sb);
    }
    pthread_mutex_unlock(&lock);
    return url;
}

void action_links_reset(void)
{
    action_links_set_url(NULL);
    action_links_set_key(NULL);
}
