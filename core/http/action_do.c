/* What a confirmed link does: a silence (in Alertmanager when the
 * configuration names one, else herald's own) or an acknowledgement,
 * then a short confirmation to the receiver that got the alerts. */
#include "http/server_internal.h"

#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "alert/silence.h"
#include "delivery/call.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/units.h"
#include "util/utf8.h"

/* Alertmanager answers a silence at once; a page waits no longer. */
#define ALERTMANAGER_TIMEOUT_MS 10000

/* "HostDown @ 10.0.0.11", or the name alone, or "3 alerts". */
static void subject_of(const action_token *t, strbuf *out)
{
    const char *name = labelset_get(&t->matchers, "alertname");
    const char *instance = labelset_get(&t->matchers, "instance");
    if (name)
        sb_puts(out, name);
    else
        sb_printf(out, "%zu alerts", t->fingerprints_len);
    if (instance)
        sb_printf(out, " @ %s", instance);
}

static int receiver_is_english(const receiver *r)
{
    size_t n = r->template_name ? strlen(r->template_name) : 0;
    return n >= 3 && strcmp(r->template_name + n - 3, "_en") == 0;
}

typedef struct confirmation {
    notification *items[1];
} confirmation;

static void confirmation_put(void *ctx, outbox_put_result result, size_t duplicates,
                             size_t repeats, const char *error)
{
    (void)duplicates;
    (void)repeats;
    confirmation *c = ctx;
    if (result != OUTBOX_ACCEPTED) {
        log_warn("action", "the confirmation to %s was not queued: %s", c->items[0]->receiver,
                 error && *error ? error : "the queue is full");
        notification_free(c->items[0]);
    }
    free(c);
}

/* Posts text (the receiver's language chosen from zh and en) to the
 * receiver the alerts went to, as an ordinary notification. */
static void post_confirmation(action_request *a, const char *zh, const char *en)
{
    const receiver *r = config_receiver(a->conf, a->token.receiver);
    if (!r) {
        log_warn("action", "no confirmation: the link's receiver \"%s\" is not configured",
                 a->token.receiver);
        return;
    }
    notification *n = xcalloc(1, sizeof *n);
    n->receiver = xstrdup(r->name);
    n->status = xstrdup("resolved");
    const char *text = receiver_is_english(r) ? en : zh;
    n->content.format = r->channel->formats & HERALD_FORMAT_TEXT ? HERALD_FORMAT_TEXT
                                                                  : HERALD_FORMAT_MARKDOWN;
    n->content.title = xstrdup(text);
    n->content.text = xstrdup(text);
    n->created_ms = n->next_attempt_ms = wall_ms();
    strbuf group = {0};
    sb_printf(&group, "herald-action:%s", a->token.nonce);
    notification_describe(n, sb_str(&group), NULL, 0);
    sb_free(&group);
    confirmation *c = xcalloc(1, sizeof *c);
    c->items[0] = n;
    outbox_put(a->srv->box, c->items, 1, NULL, confirmation_put, c);
}

static void add_matchers_json(const action_token *t, cJSON *body)
{
    cJSON *list = cJSON_AddArrayToObject(body, "matchers");
    for (size_t i = 0; i < t->matchers.len; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "name", t->matchers.items[i].name);
        cJSON_AddStringToObject(m, "value", t->matchers.items[i].value);
        cJSON_AddBoolToObject(m, "isRegex", 0);
        cJSON_AddBoolToObject(m, "isEqual", 1);
        cJSON_AddItemToArray(list, m);
    }
}

static char *silence_comment(const char *comment)
{
    strbuf text = {0};
    sb_puts(&text, "via herald");
    if (comment)
        sb_printf(&text, ": %s", comment);
    return sb_take(&text);
}

/* POST /api/v2/silences through the dispatcher; the new id in id. */
static int silence_in_alertmanager(action_request *a, int64_t ends_ms, char *id, size_t id_cap,
                                   char *err, size_t err_cap)
{
    char starts[RFC3339_MS_SIZE], ends[RFC3339_MS_SIZE];
    format_rfc3339_ms(a->now_ms, starts, sizeof starts);
    format_rfc3339_ms(ends_ms, ends, sizeof ends);
    cJSON *body = cJSON_CreateObject();
    add_matchers_json(&a->token, body);
    cJSON_AddStringToObject(body, "startsAt", starts);
    cJSON_AddStringToObject(body, "endsAt", ends);
    cJSON_AddStringToObject(body, "createdBy", a->who);
    char *comment = silence_comment(a->comment);
    cJSON_AddStringToObject(body, "comment", comment);
    free(comment);
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    strbuf url = {0};
    sb_printf(&url, "%s/api/v2/silences", a->conf->alertmanager_url);
    http_call *call = http_call_new(sb_str(&url), a->conf->alertmanager_authorization, json,
                                    ALERTMANAGER_TIMEOUT_MS);
    sb_free(&url);
    free(json);
    outbox_call(a->srv->box, call);
    int rc = 0;
    if (http_call_wait(call)) {
        rc = fail(err, err_cap, "Alertmanager did not answer in time");
    } else if (call->status != 200) {
        rc = call->status ? fail(err, err_cap, "Alertmanager answered HTTP %ld: %.*s",
                                 call->status, utf8_quote_len(sb_str(&call->answer), 200),
                                 sb_str(&call->answer))
                          : fail(err, err_cap, "cannot reach Alertmanager: %s", call->error);
    } else {
        cJSON *answer = cJSON_ParseWithLength(sb_str(&call->answer), call->answer.len);
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(answer, "silenceID");
        if (cJSON_IsString(sid))
            snprintf(id, id_cap, "%s", sid->valuestring);
        else
            rc = fail(err, err_cap, "Alertmanager's answer has no silenceID: %.*s",
                      utf8_quote_len(sb_str(&call->answer), 200), sb_str(&call->answer));
        cJSON_Delete(answer);
    }
    http_call_release(call);
    return rc ? -1 : 0;
}

static int silence_in_herald(action_request *a, char *id, size_t id_cap, char *err,
                             size_t err_cap)
{
    strbuf matchers = {0}, duration = {0};
    action_matchers_text(&a->token, &matchers);
    sb_printf(&duration, "%llds", (long long)(a->token.duration_ms / 1000));
    char *comment = silence_comment(a->comment);
    silence s;
    int rc = silence_make(sb_str(&matchers), sb_str(&duration), NULL, a->who, comment, a->now_ms,
                          &silence_api_words, &s, err, err_cap);
    free(comment);
    sb_free(&matchers);
    sb_free(&duration);
    if (rc)
        return -1;
    rc = store_silence_add(a->reader, &s, err, err_cap);
    if (!rc) {
        snprintf(id, id_cap, "%s", s.id);
        silence_cache_reload(a->srv->silences);
    }
    silence_free(&s);
    return rc;
}

int action_silence(action_request *a, strbuf *outcome, char *err, size_t err_cap)
{
    if (!a->token.matchers.len)
        return fail(err, err_cap, "the link names no labels to silence by");
    int64_t ends_ms = a->now_ms + a->token.duration_ms;
    char id[128] = "";
    int in_alertmanager = a->conf->alertmanager_url != NULL;
    if (in_alertmanager ? silence_in_alertmanager(a, ends_ms, id, sizeof id, err, err_cap)
                        : silence_in_herald(a, id, sizeof id, err, err_cap))
        return -1;
    log_info("action", "%s silenced %s for %lld s (silence %s in %s)", a->who,
             a->token.receiver, (long long)(a->token.duration_ms / 1000), id,
             in_alertmanager ? "Alertmanager" : "herald");
    strbuf subject = {0};
    subject_of(&a->token, &subject);
    char until[32], zh[32], en[32];
    tz_format(a->conf->zone, ends_ms / 1000, "%H:%M", until, sizeof until);
    action_duration_text(a->token.duration_ms, 0, zh, sizeof zh);
    action_duration_text(a->token.duration_ms, 1, en, sizeof en);
    strbuf text_zh = {0}, text_en = {0};
    sb_printf(&text_zh, "%s 已静默 %s，至 %s，by %s", sb_str(&subject), zh, until, a->who);
    sb_printf(&text_en, "%s silenced for %s, until %s, by %s", sb_str(&subject), en, until,
              a->who);
    sb_puts(outcome, "<p>");
    html_escape(outcome, sb_str(&text_zh));
    sb_puts(outcome, "<br>");
    html_escape(outcome, sb_str(&text_en));
    sb_puts(outcome, "</p>\n<p>");
    if (in_alertmanager) {
        sb_puts(outcome, "Alertmanager: <a href=\"");
        html_escape(outcome, a->conf->alertmanager_url);
        sb_puts(outcome, "/#/silences/");
        html_escape(outcome, id);
        sb_puts(outcome, "\">");
        html_escape(outcome, id);
        sb_puts(outcome, "</a>");
    } else {
        sb_puts(outcome, "herald silence ");
        html_escape(outcome, id);
    }
    sb_puts(outcome, "</p>\n");
    post_confirmation(a, sb_str(&text_zh), sb_str(&text_en));
    sb_free(&subject);
    sb_free(&text_zh);
    sb_free(&text_en);
    return 0;
}

int action_acknowledge(action_request *a, strbuf *outcome, char *err, size_t err_cap)
{
    size_t done = 0, already = 0, gone = 0;
    for (size_t i = 0; i < a->token.fingerprints_len; i++) {
        int rc = store_acknowledge(a->reader, a->token.fingerprints[i], a->who, a->comment,
                                   a->now_ms, err, err_cap);
        if (rc < 0)
            return -1;
        done += rc == ACK_DONE;
        already += rc == ACK_ALREADY;
        gone += rc == ACK_UNKNOWN || rc == ACK_NOT_FIRING;
    }
    if (!done) {
        snprintf(err, err_cap, "没有可认领的告警 · Nothing to acknowledge: %zu already "
                 "acknowledged, %zu resolved or gone", already, gone);
        return 1;
    }
    for (size_t i = 0; i < done; i++)
        metrics_count(METRIC_ALERTS_ACKNOWLEDGED);
    log_info("action", "%s acknowledged %zu alert%s for %s", a->who, done, done == 1 ? "" : "s",
             a->token.receiver);
    strbuf subject = {0}, text_zh = {0}, text_en = {0};
    subject_of(&a->token, &subject);
    sb_printf(&text_zh, "%s 已认领，by %s", sb_str(&subject), a->who);
    sb_printf(&text_en, "%s acknowledged by %s", sb_str(&subject), a->who);
    sb_puts(outcome, "<p>");
    html_escape(outcome, sb_str(&text_zh));
    sb_puts(outcome, "<br>");
    html_escape(outcome, sb_str(&text_en));
    sb_printf(outcome, "</p>\n<p class=\"state\">%zu 条告警已认领，不再重复通知，直到恢复或再次告警 · "
                       "%zu acknowledged: no repeats until they resolve or fire anew</p>\n",
              done, done);
    post_confirmation(a, sb_str(&text_zh), sb_str(&text_en));
    sb_free(&subject);
    sb_free(&text_zh);
    sb_free(&text_en);
    return 0;
}
