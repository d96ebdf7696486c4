/* action-key rotate: a new key signs action links from the daemon's next
 * reload; the previous one still verifies the links it signed until they
 * expire, so no link in a message stops working. */
#include "cli/cli.h"

#include <stdio.h>

#include <openssl/crypto.h>

#include "cli/reading.h"
#include "util/clock.h"

int cmd_action_key(const cli *c)
{
    const char *prefix = "action-key rotate: ";
    reading rd;
    if (reading_open(c, prefix, &rd))
        return EXIT_INVALID;
    strbuf out = STRBUF_INIT;
    char err[640];
    action_key key;
    int rc = store_action_key_rotate(rd.store, wall_ms(), &key, err, sizeof err);
    if (rc == 0)
        sb_printf(&out, "action links are signed with key %lld from the next reload; links "
                        "signed before stay valid until they expire\n",
                  (long long)key.id);
    OPENSSL_cleanse(&key, sizeof key);
    return reading_finish(&rd, c, rc, &out, prefix, err);
}
