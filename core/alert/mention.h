/* Whom a message @-mentions: phone numbers, user ids, or everyone. Set by
 * a receiver's configuration and by the route script per alert; a
 * template may replace them. */
#ifndef HERALD_MENTION_H
#define HERALD_MENTION_H

#include <stddef.h>

#include "util/strbuf.h"

typedef struct mention_set {
    char **mobiles;
    size_t mobiles_len;
    char **user_ids;
    size_t user_ids_len;
    int all;
} mention_set;

void mention_set_add_mobile(mention_set *m, const char *mobile);
void mention_set_add_user_id(mention_set *m, const char *user_id);
/* Adds everything of `from` not yet in `into`. */
void mention_set_merge(mention_set *into, const mention_set *from);
void mention_set_free(mention_set *m);
/* As the stores keep it: {"mobiles":[...],"user_ids":[...],"all":false}. */
void mention_set_to_json(const mention_set *m, strbuf *out);
/* Adds what such JSON holds to m; what is not of that shape is ignored. */
void mention_set_from_json(const char *json, mention_set *m);

#endif
