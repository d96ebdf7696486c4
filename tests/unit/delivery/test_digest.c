/* Digests: queued messages merged in order within a channel's text
 * budget, each cut to its share when the slots left require it. */
#include "harness.h"

#include "delivery/digest.h"
#include "util/strbuf.h"

static notification *message(const char *title, const char *text, herald_format format)
{
    notification *n = xcalloc(1, sizeof *n);
    n->receiver = xstrdup("ops");
    n->status = xstrdup("firing");
    n->alert_count = 1;
    n->content.format = format;
    n->content.title = xstrdup(title);
    n->content.text = xstrdup(text);
    return n;
}

TEST(digests_merge_in_order_within_the_budget)
{
    notification *items[4] = {
        message("[故障] A", "alert A text", HERALD_FORMAT_MARKDOWN),
        message("[故障] B", "alert B text", HERALD_FORMAT_MARKDOWN),
        message("[故障] C", "alert C text", HERALD_FORMAT_MARKDOWN),
        message("native", "{\"msgtype\":\"text\"}", HERALD_FORMAT_NATIVE),
    };
    mention_set_add_mobile(&items[0]->content.mentions, "100");
    mention_set_add_mobile(&items[2]->content.mentions, "300");
    CHECK_INT(digest_fit(items, 4, 0, 0), 3);        /* stops before the native body */
    CHECK_INT(digest_fit(items, 3, 140, 0), 2);      /* overhead + two texts fit in 140 */
    CHECK_INT(digest_fit(items, 3, 10, 0), 1);       /* always at least one */
    CHECK_INT(digest_fit(items + 3, 1, 0, 0), 1);    /* a native body goes alone */
    items[1]->content.format = HERALD_FORMAT_HTML;   /* its tags would show as text */
    CHECK_INT(digest_fit(items, 3, 0, 0), 1);
    CHECK_INT(digest_fit(items + 1, 2, 0, 0), 1);
    items[1]->content.format = HERALD_FORMAT_MARKDOWN;
    CHECK_INT(digest_fit(items, 3, 145, 0), 2);
    CHECK_INT(digest_fit(items, 3, 145, 7), 3);      /* cut to 7 bytes each, three fit */
    /* the share of each item lets all of them fit in the messages left */
    CHECK_INT(digest_item_cap(0, 60, 20), 0);        /* no budget: no cut */
    CHECK_INT(digest_item_cap(4000, 20, 20), 0);     /* one each: no cut */
    size_t cap = digest_item_cap(145, 6, 2);          /* three per message */
    CHECK(cap > 0);
    CHECK_INT(digest_fit(items, 3, 145, cap), 3);
    cap = digest_item_cap(1792, 60, 20);
    CHECK(cap > 0 && cap < 1792 / 3);
    rendered out;
    digest_build(items, 3, 7, 0, 0, &out);
    CHECK_INT(out.format, HERALD_FORMAT_MARKDOWN);
    CHECK_STR(out.title, "3 groups, 3 alerts: [故障] A; [故障] B; [故障] C");
    CHECK_STR(out.text, "alert A text\n\n---\n\nalert B text\n\n---\n\nalert C text\n\n---\n\n+7 …");
    CHECK_INT(out.mentions.mobiles_len, 2);
    CHECK_INT(digest_alert_count(items, 3), 3);
    rendered_free(&out);
    /* cut to a share: each text keeps its start and shows the cut */
    digest_build(items, 2, 0, 11, 0, &out); /* 7 bytes of text and " …" */
    CHECK_STR(out.text, "alert A …\n\n---\n\nalert B …");
    rendered_free(&out);
    for (int i = 0; i < 4; i++)
        notification_free(items[i]);
}

TEST(a_digest_title_says_what_it_holds_and_names_what_fits)
{
    enum { GROUPS = 15 };
    notification *items[GROUPS];
    char title[32];
    for (int i = 0; i < GROUPS; i++) {
        snprintf(title, sizeof title, "【故障】Flood%d", 11 + i);
        items[i] = message(title, "text", HERALD_FORMAT_MARKDOWN);
        items[i]->alert_count = 3;
    }
    rendered out;
    digest_build(items, GROUPS, 0, 0, 0, &out);
    /* Each name is 19 bytes and its separator 2: five fit in 120. */
    CHECK_STR(out.title, "15 groups, 45 alerts: 【故障】Flood11; 【故障】Flood12; 【故障】Flood13; "
                         "【故障】Flood14; 【故障】Flood15 +10");
    rendered_free(&out);
    digest_build(items, 1, 0, 0, 0, &out);
    CHECK_STR(out.title, "1 group, 3 alerts: 【故障】Flood11");
    rendered_free(&out);
    /* A first title longer than the room is cut on a character boundary. */
    char long_title[400] = "";
    for (int i = 0; i < 60; i++)
        strcat(long_title, "故障");
    free(items[0]->content.title);
    items[0]->content.title = xstrdup(long_title);
    items[0]->alert_count = 1;
    digest_build(items, 2, 0, 0, 0, &out);
    CHECK_CONTAINS(out.title, "2 groups, 4 alerts: 故障故障");
    CHECK_CONTAINS(out.title, "障 … +1");
    rendered_free(&out);
    for (int i = 0; i < GROUPS; i++)
        notification_free(items[i]);
}

/* One alert of a storm: a message whose entry names it. */
static notification *storm_alert(const char *name, const char *state, const char *instance,
                                 const char *summary)
{
    notification *n = message(name, "a long message the template made", HERALD_FORMAT_MARKDOWN);
    char group[64];
    snprintf(group, sizeof group, "%s %s", name, state);
    rendered_add_entry(&n->content, group, instance, summary);
    return n;
}

/* A storm's digest names every alert: grouped by name and state in the
 * order they came, each group counted, the details while they fit, else
 * one list of what tells the alerts apart; what waits is counted in
 * alerts. The messages' own texts are not in it. */
TEST(a_compact_digest_names_every_alert_by_group)
{
    notification *items[5] = {
        storm_alert("DiskFull", "故障", "10.9.0.1", "disk 91% full"),
        storm_alert("HostDown", "故障", "10.9.0.7", "no answer"),
        storm_alert("DiskFull", "故障", "10.9.0.2", "disk 95% full"),
        storm_alert("DiskFull", "恢复", "10.9.0.3", ""),
        storm_alert("DiskFull", "故障", "10.9.0.4", "disk 99% full"),
    };
    CHECK_INT(digest_fit(items, 5, 0, 0), 5);
    rendered out;
    digest_build(items, 5, 12, 0, 4000, &out);
    CHECK_STR(out.title, "5 alerts: DiskFull 故障 ×3; HostDown 故障 ×1; DiskFull 恢复 ×1");
    CHECK_STR(out.text, "**DiskFull 故障** ×3\n- 10.9.0.1: disk 91% full\n- 10.9.0.2: disk 95% full\n"
                        "- 10.9.0.4: disk 99% full\n\n**HostDown 故障** ×1\n- 10.9.0.7: no answer\n\n"
                        "**DiskFull 恢复** ×1\n- 10.9.0.3\n\n---\n\n+12 …");
    CHECK(strstr(out.text, "long message") == NULL);
    rendered_free(&out);
    /* too little room for the details: the lists alone */
    digest_build(items, 5, 0, 0, 250, &out);
    CHECK_STR(out.text, "**DiskFull 故障** ×3\n10.9.0.1, 10.9.0.2, 10.9.0.4\n\n"
                        "**HostDown 故障** ×1\n10.9.0.7\n\n**DiskFull 恢复** ×1\n10.9.0.3");
    rendered_free(&out);
    /* the budget counts each group's heading once (its name and 24 bytes)
     * and each alert's item and comma, after the digest's 96: 194 for the
     * first two groups, 10 more for the third alert, of the first group */
    CHECK_INT(digest_fit(items, 5, 203, 0), 2);
    CHECK_INT(digest_fit(items, 5, 204, 0), 3);
    CHECK_INT(digest_fit(items, 5, 10, 0), 1);
    /* one stored before digests named alerts: the texts merge */
    rendered_free(&items[1]->content);
    items[1]->content = (rendered){.format = HERALD_FORMAT_MARKDOWN, .title = xstrdup("HostDown"),
                                   .text = xstrdup("old text")};
    digest_build(items, 2, 0, 0, 4000, &out);
    CHECK_CONTAINS(out.text, "old text");
    CHECK_CONTAINS(out.title, "2 groups, 2 alerts");
    rendered_free(&out);
    for (int i = 0; i < 5; i++)
        notification_free(items[i]);
}

RUN_TESTS(CASE(digests_merge_in_order_within_the_budget),
          CASE(a_digest_title_says_what_it_holds_and_names_what_fits),
          CASE(a_compact_digest_names_every_alert_by_group))
