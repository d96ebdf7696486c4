#include "alert/mention.h"

#include <stdlib.h>
#include <string.h>

#include "util/json.h"
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

void mention_set_to_json(const mention_set *m, strbuf *out)
{
    sb_puts(out, "{\"mobiles\":[");
    for (size_t i = 0; i < m->mobiles_len; i++) {
        if (i)
            sb_putc(out, ',');
        sb_json_string(out, m->mobiles[i], strlen(m->mobiles[i]));
    }
    sb_puts(out, "],\"user_ids\":[");
    for (size_t i = 0; i < m->user_ids_len; i++) {
        if (i)
            sb_putc(out, ',');
        sb_json_string(out, m->user_ids[i], strlen(m->user_ids[i]));
    }
    sb_puts(out, m->all ? "],\"all\":true}" : "],\"all\":false}");
}

void mention_set_from_json(const char *json, mention_set *m)
{
    cJSON *root = json_parse(json, strlen(json));
    static const char *const keys[] = {"mobiles", "user_ids"};
    void (*const add[])(mention_set *, const char *) = {mention_set_add_mobile,
                                                         mention_set_add_user_id};
    for (int k = 0; k < 2; k++) {
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, keys[k]))
            if (cJSON_IsString(item))
                add[k](m, item->valuestring);
    }
    m->all = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "all"));
    cJSON_Delete(root);
}
