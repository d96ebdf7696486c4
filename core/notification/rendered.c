#include "notification/rendered.h"

#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "util/strbuf.h"

void rendered_free(rendered *r)
{
    free(r->title);
    free(r->text);
    mention_set_free(&r->mentions);
    for (size_t i = 0; i < r->entries_len; i++)
        free(r->entries[i].group);
    free(r->entries);
    memset(r, 0, sizeof *r);
}

/* An entry's three strings share one block, group first: a message's
 * entries were four allocations each, made by the ingest and freed by
 * the dispatcher. */
void rendered_add_entry(rendered *r, const char *group, const char *item, const char *detail)
{
    if (r->entries_len == r->entries_cap) {
        r->entries_cap = r->entries_cap ? 2 * r->entries_cap : 4;
        r->entries = xrealloc(r->entries, r->entries_cap * sizeof *r->entries);
    }
    char *copies[3];
    size_t size = xstrdups_in_block((const char *const[]){group, item, detail ? detail : ""}, 3,
                                    copies);
    r->entries[r->entries_len++] = (digest_entry){copies[0], copies[1], copies[2], size};
}

char *rendered_entries_to_json(const rendered *r)
{
    if (!r->entries_len)
        return NULL;
    /* Written directly, not built as a cJSON tree: the store's writer
     * makes one per notification, and the tree's allocations were most of
     * its cost. Sized at once from the entries' blocks, it grows without
     * a realloc unless a string needs escapes. */
    size_t size = 2;
    for (size_t i = 0; i < r->entries_len; i++)
        size += r->entries[i].size + 8; /* ,["","",""] less the three NULs */
    strbuf json = STRBUF_INIT;
    sb_reserve(&json, size);
    sb_putc(&json, '[');
    for (size_t i = 0; i < r->entries_len; i++) {
        const digest_entry *e = &r->entries[i];
        const char *fields[3] = {e->group, e->item, e->detail};
        size_t lens[3] = {(size_t)(e->item - e->group) - 1, (size_t)(e->detail - e->item) - 1,
                          e->size - (size_t)(e->detail - e->group) - 1};
        sb_puts(&json, i ? ",[" : "[");
        for (size_t f = 0; f < 3; f++) {
            if (f)
                sb_putc(&json, ',');
            sb_json_string(&json, fields[f], lens[f]);
        }
        sb_putc(&json, ']');
    }
    sb_putc(&json, ']');
    return sb_take(&json);
}

void rendered_entries_from_json(rendered *r, const char *json)
{
    cJSON *list = json ? cJSON_Parse(json) : NULL;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, list) {
        const cJSON *g = cJSON_GetArrayItem(entry, 0), *i = cJSON_GetArrayItem(entry, 1),
                    *d = cJSON_GetArrayItem(entry, 2);
        if (cJSON_IsString(g) && cJSON_IsString(i))
            rendered_add_entry(r, g->valuestring, i->valuestring,
                               cJSON_IsString(d) ? d->valuestring : "");
    }
    cJSON_Delete(list);
}

void rendered_as_message(const rendered *r, const char *receiver, const char *status,
                         size_t alert_count, herald_message *msg)
{
    memset(msg, 0, sizeof *msg);
    msg->abi = (herald_abi_header)HERALD_ABI_HEADER_INIT(herald_message);
    msg->receiver = receiver;
    msg->status = status;
    msg->alert_count = alert_count;
    msg->format = r->format;
    msg->title = r->title;
    msg->text = r->text;
    msg->mentions.mobiles = (const char *const *)r->mentions.mobiles;
    msg->mentions.mobiles_len = r->mentions.mobiles_len;
    msg->mentions.user_ids = (const char *const *)r->mentions.user_ids;
    msg->mentions.user_ids_len = r->mentions.user_ids_len;
    msg->mentions.all = r->mentions.all;
}

const char *format_name(herald_format f)
{
    switch (f) {
    case HERALD_FORMAT_TEXT: return "text";
    case HERALD_FORMAT_MARKDOWN: return "markdown";
    case HERALD_FORMAT_HTML: return "html";
    case HERALD_FORMAT_NATIVE: return "native";
    }
    return "?";
}
