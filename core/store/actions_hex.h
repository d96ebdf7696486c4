/* Action keys as both backends store them: hex text. */
#ifndef HERALD_STORE_ACTIONS_HEX_H
#define HERALD_STORE_ACTIONS_HEX_H

#include <stdio.h>
#include <string.h>

#include "action/token.h"

#define ACTION_SECRET_HEX (2 * ACTION_KEY_BYTES + 1)

static inline void action_secret_to_hex(const action_key *k, char out[ACTION_SECRET_HEX])
{
    for (size_t i = 0; i < ACTION_KEY_BYTES; i++)
        snprintf(out + 2 * i, 3, "%02x", k->secret[i]);
}

/* 0, or -1 when the text is not a key's hex. */
static inline int action_secret_from_hex(const char *hex, action_key *k)
{
    if (!hex || strlen(hex) != 2 * ACTION_KEY_BYTES)
        return -1;
    for (size_t i = 0; i < ACTION_KEY_BYTES; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        k->secret[i] = (unsigned char)v;
    }
    return 0;
}

#endif
