/* What a notification keeps of each alert for the history and the store:
 * the same record whether it is described from the alert or copied from
 * the request's alert state, and still there once that and every other
 * copy are freed, whichever goes first. */
#include "harness.h"

#include "alert/ingest.h"
#include "notification/notification.h"

static const char payload[] =
    "{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"ops\",\"groupKey\":\"{}:{}\","
    "\"alerts\":["
    "{\"status\":\"firing\",\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"db1:9100\","
    "\"severity\":\"critical\",\"job\":\"node\"},\"annotations\":{\"summary\":\"say \\\"full\\\"\"},"
    "\"startsAt\":\"2026-12-01T08:00:00Z\",\"endsAt\":\"0001-01-01T00:00:00Z\"},"
    "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"NoInstance\"},\"annotations\":{},"
    "\"startsAt\":\"2026-12-01T07:00:00Z\",\"endsAt\":\"2026-12-01T07:30:00Z\"}]}";

static void check_same(const alert_record *a, const alert_record *b)
{
    CHECK_STR(a->fingerprint, b->fingerprint);
    CHECK_STR(a->alertname, b->alertname);
    CHECK_STR(a->instance, b->instance);
    CHECK_STR(a->severity, b->severity);
    CHECK_STR(a->labels_json, b->labels_json);
    CHECK_STR(a->annotations_json, b->annotations_json);
    CHECK_INT(a->status, b->status);
    CHECK(a->starts_at == b->starts_at && a->ends_at == b->ends_at);
    CHECK(a->silenced_by == NULL && b->silenced_by == NULL);
}

TEST(a_copied_record_is_the_described_one_and_outlives_the_state)
{
    alert_batch batch;
    char err[256];
    if (ingest_alertmanager(payload, sizeof payload - 1, &batch, err, sizeof err))
        FAIL_AT("%s", err);
    const alert *alerts[2] = {&batch.alerts[0], &batch.alerts[1]};
    notification *described = xcalloc(1, sizeof *described);
    described->receiver = xstrdup("ops");
    described->status = xstrdup("firing");
    notification_describe(described, batch.group_key, alerts, 2); /* no state yet */

    alert_report seen;
    alert_report_fill(&seen, &batch, 1000);
    CHECK(batch.alerts[0].record == &seen.alerts[0]);
    notification *copied = xcalloc(1, sizeof *copied);
    copied->receiver = xstrdup("ops");
    copied->status = xstrdup("firing");
    notification_describe(copied, batch.group_key, alerts, 2);
    /* a second receiver's copy shares the text and is freed first */
    notification *other = xcalloc(1, sizeof *other);
    other->receiver = xstrdup("oncall");
    other->status = xstrdup("firing");
    notification_describe(other, batch.group_key, alerts, 2);
    CHECK(other->alerts[0].labels_json == copied->alerts[0].labels_json);
    CHECK(described->alerts[0].labels_json != copied->alerts[0].labels_json);
    alert_report_free(&seen);
    alert_batch_free(&batch);
    notification_free(other);

    CHECK_INT(copied->alerts_len, 2);
    CHECK_STR(copied->alerts[0].alertname, "DiskFull");
    CHECK_STR(copied->alerts[0].instance, "db1:9100");
    CHECK_STR(copied->alerts[0].severity, "critical");
    CHECK_CONTAINS(copied->alerts[0].labels_json, "\"job\":\"node\"");
    CHECK_STR(copied->alerts[0].annotations_json, "{\"summary\":\"say \\\"full\\\"\"}");
    CHECK_STR(copied->alerts[1].instance, ""); /* absent label */
    CHECK_STR(copied->alerts[1].annotations_json, "{}");
    for (size_t i = 0; i < 2; i++)
        check_same(&copied->alerts[i], &described->alerts[i]);
    CHECK_STR(copied->dedup_key, described->dedup_key);
    notification_free(described);
    notification_free(copied);
}

/* A notification's key names its receiver, group and alerts, whichever
 * way the bytes are put together: a key that changed with an upgrade
 * would send a repeat of every group in the dedup window again. */
TEST(the_dedup_key_stays_the_same_across_versions)
{
    alert_batch batch;
    char err[256];
    if (ingest_alertmanager(payload, sizeof payload - 1, &batch, err, sizeof err))
        FAIL_AT("%s", err);
    const alert *alerts[2] = {&batch.alerts[1], &batch.alerts[0]}; /* order does not matter */
    notification *n = xcalloc(1, sizeof *n);
    n->receiver = xstrdup("ops");
    n->status = xstrdup("firing");
    notification_describe(n, batch.group_key, alerts, 2);
    /* as every earlier version computed it */
    CHECK_STR(n->dedup_key, "c5355467700f8471ab78f8f9f586edc5"
                            "25abb166f0051b920671b366654014ec");
    notification_free(n);
    alert_batch_free(&batch);
}

RUN_TESTS(CASE(a_copied_record_is_the_described_one_and_outlives_the_state),
          CASE(the_dedup_key_stays_the_same_across_versions))
