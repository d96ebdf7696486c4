/* libFuzzer harness: the ingest parser (alert/ingest.h) on any request
 * body. Each input is accepted with well-formed alerts, or refused with a
 * message; nothing else (no crash, leak, undefined behaviour). */
#include "fuzz.h"

#include "alert/ingest.h"
#include "util/utf8.h"

/* The `now` a Prometheus alert list is judged against; fixed, so a run
 * replays exactly. */
#define NOW 1795238566.0

static int is_utf8(const char *text)
{
    return utf8_valid_length(text, strlen(text)) == strlen(text);
}

static void check_alert(const alert *a, size_t index)
{
    FUZZ_CHECK(strlen(a->fingerprint) == 16 && strspn(a->fingerprint, "0123456789abcdef") == 16,
               "alerts[%zu]: fingerprint \"%s\"", index, a->fingerprint);
    FUZZ_CHECK(a->status == ALERT_FIRING || a->status == ALERT_RESOLVED,
               "alerts[%zu]: status %d", index, (int)a->status);
    const labelset *sets[] = {&a->labels, &a->annotations};
    for (size_t s = 0; s < 2; s++)
        for (size_t k = 0; k < sets[s]->len; k++) {
            const label *l = &sets[s]->items[k];
            FUZZ_CHECK(is_utf8(l->name) && is_utf8(l->value),
                       "alerts[%zu]: a label or annotation is not UTF-8", index);
            /* kept sorted by name (alert.h), which fingerprints rely on */
            FUZZ_CHECK(k == 0 || strcmp(sets[s]->items[k - 1].name, l->name) < 0,
                       "alerts[%zu]: labels out of order at \"%s\"", index, l->name);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    alert_batch batch;
    char err[512];
    FUZZ_ERR_INIT(err);
    if (ingest_any((const char *)data, size, NOW, &batch, err, sizeof err) != 0) {
        fuzz_check_refusal(err, sizeof err, "ingest_any");
        /* it goes back to the client in a JSON body */
        FUZZ_CHECK(is_utf8(err), "ingest_any: message is not UTF-8: %s", err);
        return 0;
    }
    for (size_t i = 0; i < batch.len; i++)
        check_alert(&batch.alerts[i], i);
    alert_batch_free(&batch);
    return 0;
}
