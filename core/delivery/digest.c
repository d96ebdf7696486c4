#include "delivery/digest.h"

#include <string.h>

#include "plugin/host.h"
#include "util/strbuf.h"

static const char separator_markdown[] = "\n\n---\n\n";
static const char separator_text[] = "\n\n";
/* Room kept for the count in the title and the "+N" line at the end. */
#define DIGEST_OVERHEAD 96
/* The most bytes of the merged messages' titles a digest's title names:
 * what fits a chat app's notification line. */
#define DIGEST_TITLE_NAMES 120

/* A native body has no text to join, and HTML joined as text would show
 * its tags: both go alone. */
static int mergeable(const notification *n)
{
    return n->content.format != HERALD_FORMAT_NATIVE && n->content.format != HERALD_FORMAT_HTML;
}

static int is_markdown(notification *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (items[i]->content.format != HERALD_FORMAT_MARKDOWN)
            return 0;
    return 1;
}

static const char cut_marker[] = " …";

/* The bytes of text an item contributes: whole, or cut at item_cap. */
static size_t item_len(const notification *n, size_t item_cap, size_t *cut)
{
    const char *text = n->content.text;
    size_t len = strlen(text);
    *cut = len;
    if (!item_cap || len <= item_cap)
        return len;
    *cut = host_table()->text_prefix(text, len, item_cap - (sizeof cut_marker - 1));
    return *cut + sizeof cut_marker - 1;
}

size_t digest_fit(notification *const *items, size_t n, size_t text_budget, size_t item_cap)
{
    if (n == 0 || !mergeable(items[0]))
        return n ? 1 : 0;
    size_t used = DIGEST_OVERHEAD, taken = 0;
    while (taken < n && mergeable(items[taken])) {
        size_t cut;
        size_t len = item_len(items[taken], item_cap, &cut) + sizeof separator_markdown;
        if (taken > 0 && text_budget && used + len > text_budget)
            break;
        used += len;
        taken++;
    }
    return taken;
}

size_t digest_item_cap(size_t text_budget, size_t items, size_t messages)
{
    if (!text_budget || !messages || items <= messages)
        return 0;
    size_t per_message = (items + messages - 1) / messages;
    size_t room = text_budget > DIGEST_OVERHEAD ? text_budget - DIGEST_OVERHEAD : 0;
    size_t share = room / per_message;
    return share > sizeof separator_markdown ? share - sizeof separator_markdown : 1;
}

/* "15 groups, 45 alerts: <title 1>; <title 2> +13": what the digest holds
 * and as many of its messages' titles as fit, so a reader sees more than
 * the first group without opening it. */
static void digest_title(notification *const *items, size_t n, strbuf *title)
{
    size_t alerts = digest_alert_count(items, n);
    sb_printf(title, "%zu group%s, %zu alert%s: ", n, n == 1 ? "" : "s", alerts,
              alerts == 1 ? "" : "s");
    size_t named = 0, used = 0;
    for (; named < n; named++) {
        const char *name = items[named]->content.title;
        size_t len = strlen(name);
        if (named > 0 && used + 2 + len > DIGEST_TITLE_NAMES)
            break;
        if (named > 0)
            sb_puts(title, "; ");
        if (len > DIGEST_TITLE_NAMES) { /* the first alone is too long: its start */
            len = host_table()->text_prefix(name, len, DIGEST_TITLE_NAMES - (sizeof cut_marker - 1));
            sb_append(title, name, len);
            sb_puts(title, cut_marker);
        } else {
            sb_append(title, name, len);
        }
        used += len + 2;
    }
    if (named < n)
        sb_printf(title, " +%zu", n - named);
}

void digest_build(notification *const *items, size_t n, size_t more, size_t item_cap,
                  rendered *out)
{
    memset(out, 0, sizeof *out);
    int markdown = is_markdown(items, n);
    out->format = markdown ? HERALD_FORMAT_MARKDOWN : HERALD_FORMAT_TEXT;
    strbuf title = STRBUF_INIT, text = STRBUF_INIT;
    digest_title(items, n, &title);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_puts(&text, markdown ? separator_markdown : separator_text);
        size_t cut;
        size_t len = item_len(items[i], item_cap, &cut);
        sb_append(&text, items[i]->content.text, cut);
        if (len != cut)
            sb_puts(&text, cut_marker);
        mention_set_merge(&out->mentions, &items[i]->content.mentions);
    }
    if (more)
        sb_printf(&text, "%s+%zu …", markdown ? separator_markdown : separator_text, more);
    out->title = sb_take(&title);
    out->text = sb_take(&text);
}

size_t digest_alert_count(notification *const *items, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += items[i]->alert_count;
    return total;
}
