#include "alert/mention.h"

#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

static void list_add_unique(char ***items, size_t *len, const char *value)
{
    if (strings_contain(*items, *len, value))
        return;
    *items = xrealloc(*items, (*len + 1) * sizeof **items);
    (*items)[(*len)++] = xstrdup(value);
}

void mention_set_add_mobile(mention_set *m, const char *mobile)
{
    list_add_unique(&m->mobiles, &m->mobiles_len, mobile);
}

void mention_set_add_user_id(mention_set *m, const char *user_id)
{
    list_add_unique(&m->user_ids, &m->user_ids_len, user_id);
}

void mention_set_merge(mention_set *into, const mention_set *from)
{
    for (size_t i = 0; i < from->mobiles_len; i++)
        mention_set_add_mobile(into, from->mobiles[i]);
    for (size_t i = 0; i < from->user_ids_len; i++)
        mention_set_add_user_id(into, from->user_ids[i]);
    into->all = into->all || from->all;
}

void mention_set_free(mention_set *m)
{
    strings_free(m->mobiles, m->mobiles_len);
    strings_free(m->user_ids, m->user_ids_len);
    memset(m, 0, sizeof *m);
}
