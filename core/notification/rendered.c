#include "notification/rendered.h"

#include <stdlib.h>
#include <string.h>

void rendered_free(rendered *r)
{
    free(r->title);
    free(r->text);
    mention_set_free(&r->mentions);
    memset(r, 0, sizeof *r);
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
