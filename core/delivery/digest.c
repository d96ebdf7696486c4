#include "delivery/digest.h"

#include <stdlib.h>
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

/* ---- the compact form: every alert named, grouped by name and state ---- */

/* Notifications stored before digests named each alert have no entries:
 * a digest with one of them merges texts instead. */
static int all_have_entries(notification *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!items[i]->content.entries_len)
            return 0;
    return 1;
}

typedef struct group_list {
    const char **names;   /* in order of first appearance */
    size_t *counts;
    size_t len, cap;
} group_list;

/* The index of `name` among the groups, added if new (*added set). */
static size_t group_index(group_list *g, const char *name, int *added)
{
    *added = 0;
    for (size_t i = g->len; i-- > 0;) /* the latest first: storms repeat one group */
        if (strcmp(g->names[i], name) == 0)
            return i;
    if (g->len == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 8;
        g->names = xrealloc(g->names, g->cap * sizeof *g->names);
        g->counts = xrealloc(g->counts, g->cap * sizeof *g->counts);
    }
    g->names[g->len] = name;
    g->counts[g->len] = 0;
    *added = 1;
    return g->len++;
}

static void group_list_free(group_list *g)
{
    free(g->names);
    free(g->counts);
}

/* A group's heading: its name, its count (up to 6 digits) and markup. */
#define GROUP_HEADING_BYTES 24

/* The bytes the compact form of items[0..n) takes: each group's heading
 * once, each alert's item with its comma. */
static size_t compact_fit(notification *const *items, size_t n, size_t text_budget)
{
    group_list groups = {0};
    size_t used = DIGEST_OVERHEAD, taken = 0;
    for (; taken < n; taken++) {
        const rendered *c = &items[taken]->content;
        size_t add = 0;
        for (size_t e = 0; e < c->entries_len; e++) {
            int added;
            group_index(&groups, c->entries[e].group, &added);
            if (added)
                add += strlen(c->entries[e].group) + GROUP_HEADING_BYTES;
            add += strlen(c->entries[e].item) + 2;
        }
        if (taken > 0 && text_budget && used + add > text_budget)
            break;
        used += add;
    }
    group_list_free(&groups);
    return taken;
}

/* Each group in order: its heading with the count, then its alerts, one
 * line each with the detail (`detailed`) or as one comma-separated list. */
static void compact_text(notification *const *items, size_t n, const group_list *groups,
                         int markdown, int detailed, strbuf *text)
{
    for (size_t g = 0; g < groups->len; g++) {
        if (g)
            sb_puts(text, "\n\n");
        sb_printf(text, markdown ? "**%s** ×%zu\n" : "%s ×%zu\n", groups->names[g],
                  groups->counts[g]);
        size_t listed = 0;
        for (size_t i = 0; i < n; i++) {
            const rendered *c = &items[i]->content;
            for (size_t e = 0; e < c->entries_len; e++) {
                const digest_entry *entry = &c->entries[e];
                if (strcmp(entry->group, groups->names[g]) != 0)
                    continue;
                if (detailed)
                    sb_printf(text, "%s- %s%s%s", listed ? "\n" : "", entry->item,
                              entry->detail[0] ? ": " : "", entry->detail);
                else
                    sb_printf(text, "%s%s", listed ? ", " : "", entry->item);
                listed++;
            }
        }
    }
}

/* "45 alerts: DiskFull firing ×40; HostDown firing ×5": what the digest
 * holds, naming as many groups as fit a notification line. */
static void compact_title(const group_list *groups, size_t alerts, strbuf *title)
{
    sb_printf(title, "%zu alert%s: ", alerts, alerts == 1 ? "" : "s");
    size_t start = title->len;
    size_t named = 0;
    for (; named < groups->len; named++) {
        size_t len = strlen(groups->names[named]) + 12;
        if (named > 0 && title->len - start + len > DIGEST_TITLE_NAMES)
            break;
        sb_printf(title, "%s%s ×%zu", named ? "; " : "", groups->names[named],
                  groups->counts[named]);
    }
    if (named < groups->len)
        sb_printf(title, " +%zu", groups->len - named);
}

static void compact_build(notification *const *items, size_t n, size_t more, size_t text_budget,
                          rendered *out)
{
    group_list groups = {0};
    size_t details = 0;
    for (size_t i = 0; i < n; i++) {
        const rendered *c = &items[i]->content;
        for (size_t e = 0; e < c->entries_len; e++) {
            int added;
            size_t g = group_index(&groups, c->entries[e].group, &added); /* may move counts */
            groups.counts[g]++;
            details += strlen(c->entries[e].detail) + 5;
        }
        mention_set_merge(&out->mentions, &items[i]->content.mentions);
    }
    int markdown = is_markdown(items, n);
    out->format = markdown ? HERALD_FORMAT_MARKDOWN : HERALD_FORMAT_TEXT;
    strbuf text = STRBUF_INIT, title = STRBUF_INIT;
    compact_text(items, n, &groups, markdown, 0, &text);
    /* the details too, where they fit */
    if (!text_budget || DIGEST_OVERHEAD + text.len + details <= text_budget) {
        sb_free(&text);
        compact_text(items, n, &groups, markdown, 1, &text);
    }
    if (more)
        sb_printf(&text, "%s+%zu …", markdown ? separator_markdown : separator_text, more);
    compact_title(&groups, digest_alert_count(items, n), &title);
    group_list_free(&groups);
    out->title = sb_take(&title);
    out->text = sb_take(&text);
}

size_t digest_fit(notification *const *items, size_t n, size_t text_budget, size_t item_cap)
{
    if (n == 0 || !mergeable(items[0]))
        return n ? 1 : 0;
    size_t mergeable_run = 1;
    while (mergeable_run < n && mergeable(items[mergeable_run]))
        mergeable_run++;
    if (all_have_entries(items, mergeable_run))
        return compact_fit(items, mergeable_run, text_budget);
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
                  size_t text_budget, rendered *out)
{
    memset(out, 0, sizeof *out);
    if (all_have_entries(items, n)) {
        compact_build(items, n, more, text_budget, out);
        return;
    }
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
