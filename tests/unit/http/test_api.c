/* The JSON API over a real store in a temporary data_dir: the answers,
 * byte for byte where users and the e2e tests rely on them, and the
 * refusals with their messages. */
#include "harness.h"

#include "http/api.h"
#include "store/store_fixture.h"
#include "testutil.h"
#include "util/clock.h"
#include "util/units.h"

static char *dir;

/* "name=value" pairs of a request's query string. */
typedef struct params {
    const char *const *pairs;
} params;

static const char *param(void *ctx, const char *name)
{
    const params *p = ctx;
    size_t len = strlen(name);
    for (const char *const *pair = p->pairs; pair && *pair; pair++)
        if (strncmp(*pair, name, len) == 0 && (*pair)[len] == '=')
            return *pair + len + 1;
    return NULL;
}

typedef struct answer {
    unsigned status;
    const char *allow;
    strbuf body;
} answer;

/* Answers METHOD PATH?pairs (NULL-terminated); the caller frees body. */
static answer call(const char *method, const char *path, const char *const *pairs)
{
    params p = {pairs};
    api_query q = {.get = param, .ctx = &p};
    answer a = {0, NULL, STRBUF_INIT};
    strbuf url = STRBUF_INIT;
    sb_printf(&url, "%s%s", API_PREFIX, path);
    a.status = api_handle(&(store_location){dir, NULL}, method, sb_str(&url), &q, &a.body, &a.allow);
    sb_free(&url);
    return a;
}

/* Four notifications: 0 and 1 dead letters, 2 pending, 3 delivered. */
static notification *stored[4];

static int fill_store(void)
{
    store_settings settings = {0, 30LL * 86400 * 1000, 3600000, 0};
    char err[512];
    store *s = store_open(&(store_location){.data_dir = dir}, &settings, err, sizeof err);
    if (!s || store_start(s, ignore_requeued, NULL, err, sizeof err)) {
        fprintf(stderr, "store: %s\n", err);
        return -1;
    }
    int64_t now = wall_ms();
    stored[0] = make("ops", "DiskFull", "db1", now);
    stored[1] = make("ops", "DiskFull", "db2", now);
    stored[2] = make("wms", "HostDown", "web1", now);
    stored[3] = make_with_status("ops", "CPU", "db1", now, ALERT_RESOLVED);
    int rc = commit(s, stored, 4);
    stored[0]->attempts = 2;
    store_mark_dead(s, stored[0], "errcode 310000: sign not match", NULL, NULL);
    store_mark_dead(s, stored[1], "errcode 300001: token is not exist", NULL, NULL);
    store_mark_delivered(s, stored[3], NULL, NULL);
    store_close(s); /* writes the marks */
    return rc;
}

static void with_store(void (*fn)(void))
{
    dir = test_tmpdir();
    if (fill_store() == 0)
        fn();
    else
        printf("    could not fill the store\n");
    for (int i = 0; i < 4; i++)
        notification_free(stored[i]);
    test_rmtree(dir);
    free(dir);
}

TEST(queue_lists_pending_notifications_as_before)
{
    answer a = call("GET", "queue", NULL);
    CHECK_INT(a.status, 200);
    char created[RFC3339_MS_SIZE], next[RFC3339_MS_SIZE];
    format_rfc3339_ms(stored[2]->created_ms, created, sizeof created);
    format_rfc3339_ms(stored[2]->next_attempt_ms, next, sizeof next);
    strbuf want = STRBUF_INIT;
    sb_printf(&want,
              "[{\"id\":%llu,\"receiver\":\"wms\",\"status\":\"firing\",\"alerts\":1,"
              "\"state\":\"pending\",\"attempts\":0,\"last_error\":null,\"created_at\":\"%s\","
              "\"next_attempt_at\":\"%s\",\"finished_at\":null,\"title\":\"HostDown\"}]",
              (unsigned long long)stored[2]->id, created, next);
    CHECK_STR(sb_str(&a.body), sb_str(&want));
    sb_free(&want);
    sb_free(&a.body);
}

TEST(deadletters_newest_first_with_the_reason)
{
    answer a = call("GET", "deadletters", (const char *[]){"limit=1", NULL});
    CHECK_INT(a.status, 200);
    char want[128];
    snprintf(want, sizeof want, "[{\"id\":%llu,", (unsigned long long)stored[1]->id);
    CHECK(strncmp(sb_str(&a.body), want, strlen(want)) == 0);
    CHECK_CONTAINS(sb_str(&a.body), "\"state\":\"dead\",\"attempts\":0,"
                                    "\"last_error\":\"errcode 300001: token is not exist\"");
    CHECK_CONTAINS(sb_str(&a.body), "\"finished_at\":\"2");
    CHECK(!strstr(sb_str(&a.body), "},{"));
    sb_free(&a.body);
}

TEST(show_has_text_mentions_and_alerts)
{
    char path[64];
    snprintf(path, sizeof path, "queue/%llu", (unsigned long long)stored[0]->id);
    answer a = call("GET", path, NULL);
    CHECK_INT(a.status, 200);
    const char *body = sb_str(&a.body);
    CHECK_CONTAINS(body, "\"attempts\":2,\"last_error\":\"errcode 310000: sign not match\"");
    CHECK_CONTAINS(body, "\"title\":\"DiskFull\",\"text\":\"### 告警\\nbody\","
                         "\"mentions\":{\"mobiles\":[\"13800000000\"],\"user_ids\":[],"
                         "\"all\":false},\"alerts\":[{\"fingerprint\":\"");
    char fingerprint[256];
    snprintf(fingerprint, sizeof fingerprint,
             "{\"fingerprint\":\"%s\",\"alertname\":\"DiskFull\",\"status\":\"firing\","
             "\"labels\":{",
             stored[0]->alerts[0].fingerprint);
    CHECK_CONTAINS(body, fingerprint);
    CHECK_CONTAINS(body, "\"instance\":\"db1\"");
    CHECK(body[strlen(body) - 1] == '}');
    sb_free(&a.body);
}

TEST(unknown_ids_and_paths_are_404)
{
    answer a = call("GET", "queue/999999", NULL);
    CHECK_INT(a.status, 404);
    CHECK_STR(sb_str(&a.body), "{\"status\":\"error\",\"error\":\"no such notification\"}\n");
    sb_free(&a.body);
    a = call("GET", "nothing-here", NULL);
    CHECK_INT(a.status, 404);
    CHECK_STR(sb_str(&a.body), "{\"status\":\"error\",\"error\":\"no such path\"}\n");
    sb_free(&a.body);
    a = call("POST", "deadletters/1/resend", NULL);
    CHECK_INT(a.status, 404);
    sb_free(&a.body);
    char path[64];
    snprintf(path, sizeof path, "deadletters/%llu/retry", (unsigned long long)stored[2]->id);
    a = call("POST", path, NULL); /* pending, not dead */
    CHECK_INT(a.status, 404);
    CHECK_STR(sb_str(&a.body), "{\"status\":\"error\",\"error\":\"no dead letter with that id\"}\n");
    sb_free(&a.body);
}

TEST(wrong_methods_name_the_allowed_ones)
{
    answer a = call("POST", "queue", NULL);
    CHECK_INT(a.status, 405);
    CHECK_STR(a.allow, "GET, HEAD");
    a = call("GET", "deadletters/1/retry", NULL);
    CHECK_INT(a.status, 405);
    CHECK_STR(a.allow, "POST");
    a = call("POST", "deadletters/1", NULL);
    CHECK_INT(a.status, 405);
    CHECK_STR(a.allow, "DELETE");
    CHECK_INT(a.body.len, 0);
}

TEST(retry_and_drop_dead_letters)
{
    char path[64], want[128];
    snprintf(path, sizeof path, "deadletters/%llu/retry", (unsigned long long)stored[0]->id);
    answer a = call("POST", path, NULL);
    CHECK_INT(a.status, 200);
    snprintf(want, sizeof want, "{\"status\":\"success\",\"id\":%llu,\"action\":\"requeued\"}\n",
             (unsigned long long)stored[0]->id);
    CHECK_STR(sb_str(&a.body), want);
    sb_free(&a.body);
    a = call("POST", path, NULL);
    CHECK_INT(a.status, 404);
    sb_free(&a.body);

    snprintf(path, sizeof path, "deadletters/%llu", (unsigned long long)stored[1]->id);
    a = call("DELETE", path, NULL);
    CHECK_INT(a.status, 200);
    snprintf(want, sizeof want, "{\"status\":\"success\",\"id\":%llu,\"action\":\"dropped\"}\n",
             (unsigned long long)stored[1]->id);
    CHECK_STR(sb_str(&a.body), want);
    sb_free(&a.body);

    a = call("GET", "deadletters", NULL);
    CHECK_STR(sb_str(&a.body), "[]");
    sb_free(&a.body);
    a = call("GET", "queue", NULL); /* the requeued one waits for the daemon */
    CHECK_CONTAINS(sb_str(&a.body), "\"state\":\"requeued\",\"attempts\":0,");
    sb_free(&a.body);
}

/* The waiting one: sent now, then dropped with a reason, which shows. */
TEST(send_now_and_drop_waiting_notifications)
{
    char path[64], want[128];
    unsigned long long pending = stored[2]->id, dead = stored[0]->id;
    snprintf(path, sizeof path, "queue/%llu/send-now", pending);
    answer a = call("POST", path, NULL);
    CHECK_INT(a.status, 200);
    snprintf(want, sizeof want, "{\"status\":\"success\",\"id\":%llu,\"action\":\"send-now\"}\n",
             pending);
    CHECK_STR(sb_str(&a.body), want);
    sb_free(&a.body);
    snprintf(path, sizeof path, "queue/%llu/send-now", dead);
    a = call("POST", path, NULL);
    CHECK_INT(a.status, 404);
    CHECK_STR(sb_str(&a.body),
              "{\"status\":\"error\",\"error\":\"no waiting notification with that id\"}\n");
    sb_free(&a.body);

    snprintf(path, sizeof path, "queue/%llu", pending);
    a = call("DELETE", path, (const char *[]){"reason=", NULL});
    CHECK_INT(a.status, 400);
    sb_free(&a.body);
    a = call("DELETE", path, (const char *[]){"reason=fixed by hand", NULL});
    CHECK_INT(a.status, 200);
    sb_free(&a.body);
    a = call("DELETE", path, NULL); /* dropped: not waiting any more */
    CHECK_INT(a.status, 404);
    sb_free(&a.body);
    a = call("GET", path, NULL);
    CHECK_CONTAINS(sb_str(&a.body), "\"state\":\"dropped\",\"attempts\":0,"
                                    "\"last_error\":\"fixed by hand\"");
    CHECK_CONTAINS(sb_str(&a.body), "\"outcome\":\"dropped\",\"detail\":\"fixed by hand\","
                                    "\"by\":\"HTTP API\"}]}");
    sb_free(&a.body);
    a = call("GET", "queue", NULL);
    CHECK_STR(sb_str(&a.body), "[]");
    sb_free(&a.body);
    a = call("GET", "queue/1/resend", NULL);
    CHECK_INT(a.status, 404);
    sb_free(&a.body);
    a = call("PUT", path, NULL);
    CHECK_INT(a.status, 405);
    CHECK_STR(a.allow, "GET, HEAD, DELETE");
    /* no configuration is serving here: no receiver to unpause */
    a = call("POST", "receivers/ops/unpause", NULL);
    CHECK_INT(a.status, 404);
    sb_free(&a.body);
}

TEST(history_rows_and_filters)
{
    answer a = call("GET", "history", (const char *[]){"alertname=CPU", NULL});
    CHECK_INT(a.status, 200);
    strbuf want = STRBUF_INIT;
    sb_printf(&want,
              "[{\"id\":4,\"notification\":%llu,\"fingerprint\":\"%s\",\"alertname\":\"CPU\","
              "\"instance\":\"db1\",\"severity\":\"\",\"status\":\"resolved\","
              "\"startsAt\":\"2026-11-21T05:22:46.390Z\",\"endsAt\":null,\"receiver\":\"ops\",\"labels\":",
              (unsigned long long)stored[3]->id, stored[3]->alerts[0].fingerprint);
    CHECK(strncmp(sb_str(&a.body), sb_str(&want), want.len) == 0);
    sb_reset(&want);
    char created[RFC3339_MS_SIZE];
    format_rfc3339_ms(stored[3]->created_ms, created, sizeof created);
    sb_printf(&want, ",\"annotations\":{\"summary\":\"磁盘将满\"},\"result\":\"delivered\","
                     "\"created_at\":\"%s\",\"silenced_by\":null}]",
              created);
    CHECK_CONTAINS(sb_str(&a.body), sb_str(&want));
    sb_free(&want);
    sb_free(&a.body);

    a = call("GET", "history", (const char *[]){"status=firing", "receiver=ops", NULL});
    CHECK_INT(a.status, 200);
    CHECK_CONTAINS(sb_str(&a.body), "\"instance\":\"db2\"");
    CHECK_CONTAINS(sb_str(&a.body), "\"result\":\"dead\"");
    CHECK(!strstr(sb_str(&a.body), "HostDown") && !strstr(sb_str(&a.body), "\"CPU\""));
    sb_free(&a.body);

    a = call("GET", "history", (const char *[]){"limit=1", "since=1h", NULL});
    CHECK_INT(a.status, 200);
    CHECK(strncmp(sb_str(&a.body), "[{\"id\":4,", 9) == 0 && !strstr(sb_str(&a.body), "},{"));
    sb_free(&a.body);

    a = call("GET", "history", (const char *[]){"until=1h", NULL});
    CHECK_STR(sb_str(&a.body), "[]");
    sb_free(&a.body);
}

TEST(top_counts_firing_alerts)
{
    answer a = call("GET", "history/top", NULL);
    CHECK_INT(a.status, 200);
    CHECK_STR(sb_str(&a.body), "[{\"alertname\":\"DiskFull\",\"count\":2},"
                               "{\"alertname\":\"HostDown\",\"count\":1}]");
    sb_free(&a.body);
    a = call("GET", "history/top", (const char *[]){"by=instance", "limit=1", NULL});
    CHECK_STR(sb_str(&a.body), "[{\"instance\":\"db1\",\"count\":1}]");
    sb_free(&a.body);
    a = call("GET", "history/top", (const char *[]){"since=2030-01-01T00:00:00Z", NULL});
    CHECK_STR(sb_str(&a.body), "[]");
    sb_free(&a.body);
}

TEST(bad_arguments_are_400_with_the_reason)
{
    static const struct {
        const char *path, *pair, *error;
    } cases[] = {
        {"queue", "limit=0", "limit: expected a number from 1 to 10000"},
        {"deadletters", "limit=x", "limit: expected a number from 1 to 10000"},
        {"history", "status=bogus", "status: expected \\\"firing\\\" or \\\"resolved\\\""},
        {"history", "since=yesterday",
         "since: expected a duration with its unit such as \\\"24h\\\", an RFC 3339 time or "
         "epoch milliseconds"},
        {"history", "until=3600", "until: expected a duration"},
        {"history/top", "by=foo-bar",
         "by: expected a label name (letters, digits and \\\"_\\\", not starting with a digit) "
         "or \\\"receiver\\\", got \\\"foo-bar\\\""},
        {"history/top", "by=count", "by: a label named \\\"count\\\" cannot be counted"},
        {"history/top", "limit=10001", "limit: expected a number from 1 to 10000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        answer a = call("GET", cases[i].path, (const char *[]){cases[i].pair, NULL});
        CHECK_INT(a.status, 400);
        char want[256];
        snprintf(want, sizeof want, "{\"status\":\"error\",\"error\":\"%s", cases[i].error);
        CHECK(strncmp(sb_str(&a.body), want, strlen(want)) == 0);
        sb_free(&a.body);
    }
}

/* What an endpoint does not read is not its business. */
TEST(parameters_an_endpoint_does_not_read_are_ignored)
{
    answer a = call("GET", "history", (const char *[]){"by=foo", NULL});
    CHECK_INT(a.status, 200);
    sb_free(&a.body);
    a = call("GET", "history/top", (const char *[]){"status=bogus", "until=x", NULL});
    CHECK_INT(a.status, 200);
    sb_free(&a.body);
}

TEST(a_data_dir_without_a_store_is_500_saying_so)
{
    dir = test_tmpdir();
    answer a = call("GET", "queue", NULL);
    CHECK_INT(a.status, 500);
    CHECK_CONTAINS(sb_str(&a.body), "/herald.db: no store yet: herald serve has not run");
    sb_free(&a.body);
    a = call("GET", "history", (const char *[]){"limit=0", NULL}); /* arguments first */
    CHECK_INT(a.status, 400);
    sb_free(&a.body);
    test_rmtree(dir);
    free(dir);
}

#define WRAP(name) \
    static void wrapped_##name(void) { with_store(test_##name); }
WRAP(queue_lists_pending_notifications_as_before)
WRAP(deadletters_newest_first_with_the_reason)
WRAP(show_has_text_mentions_and_alerts)
WRAP(unknown_ids_and_paths_are_404)
WRAP(wrong_methods_name_the_allowed_ones)
WRAP(retry_and_drop_dead_letters)
WRAP(send_now_and_drop_waiting_notifications)
WRAP(history_rows_and_filters)
WRAP(top_counts_firing_alerts)
WRAP(bad_arguments_are_400_with_the_reason)
WRAP(parameters_an_endpoint_does_not_read_are_ignored)
#define WCASE(name) {#name, wrapped_##name}

RUN_TESTS(WCASE(queue_lists_pending_notifications_as_before),
          WCASE(deadletters_newest_first_with_the_reason), WCASE(show_has_text_mentions_and_alerts),
          WCASE(unknown_ids_and_paths_are_404), WCASE(wrong_methods_name_the_allowed_ones),
          WCASE(retry_and_drop_dead_letters), WCASE(send_now_and_drop_waiting_notifications),
          WCASE(history_rows_and_filters),
          WCASE(top_counts_firing_alerts), WCASE(bad_arguments_are_400_with_the_reason),
          WCASE(parameters_an_endpoint_does_not_read_are_ignored),
          CASE(a_data_dir_without_a_store_is_500_saying_so))
