#include "daemon/action_keys.h"

#include "action/links.h"
#include "util/clock.h"
#include "util/log.h"

void daemon_action_links(const store_location *where, const config *c)
{
    action_links_set_url(c->external_url);
    if (!c->external_url)
        return;
    char err[512];
    store_reader *r = store_reader_open(where, err, sizeof err);
    action_keyring ring = {0};
    if (!r || store_action_keys(r, wall_ms(), &ring, err, sizeof err)) {
        log_error("action", "messages carry no action links: %s", err);
        action_links_set_key(NULL);
    } else {
        const action_key *key = action_keyring_current(&ring);
        action_links_set_key(key);
        log_info("action", "action links point to %s/action/ (signing key %lld)",
                 c->external_url, (long long)key->id);
    }
    action_keyring_free(&ring);
    if (r)
        store_reader_close(r);
}
