#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "alert/samples.h"
#include "delivery/dispatch.h"
#include "delivery/outbox.h"
#include "delivery/ratelimit.h"
#include "pipeline/pipeline.h"
#include "util/clock.h"
#include "util/metrics.h"

static void ignore_put_result(void *ctx, outbox_put_result result, size_t duplicates,
                              size_t repeats, const char *error)
{
    /* Without a store the outbox takes everything at once. */
    (void)ctx;
    (void)result;
    (void)duplicates;
    (void)repeats;
    (void)error;
}

/* Through the real dispatcher and channel, with an outbox of its own (no
 * store) and no retries: the first verdict is the answer. */
int cmd_send_test(const cli *c, generation *g)
{
    const receiver *r = find_receiver(g, c->receiver);
    if (!r)
        return EXIT_INVALID;
    strbuf body = STRBUF_INIT;
    alert_batch batch;
    script_state s;
    char err[1024];
    if (c->payload) {
        if (open_payload(c->payload, g, &body, &batch, &s)) {
            sb_free(&body);
            return EXIT_INVALID;
        }
    } else {
        sample_batch(0, &batch);
        if (script_open(&s, g, err, sizeof err)) {
            fprintf(stderr, "herald: %s\n", err);
            alert_batch_free(&batch);
            return EXIT_INVALID;
        }
    }
    pipeline_output out;
    pipeline_stats stats;
    pipeline_render_for(&s, &batch, r, &out, &stats);
    script_close(&s);
    alert_batch_free(&batch);
    sb_free(&body);
    if (stats.template_errors || out.len == 0) {
        fprintf(stderr, "herald: send-test: %s; nothing was sent\n",
                out.len ? "the template failed (above)" : "the payload has no alerts");
        pipeline_output_free(&out);
        return EXIT_INVALID;
    }
    size_t messages = out.len;
    generation_install(generation_ref(g));
    outbox *box = outbox_new(messages, NULL);
    rate_limits *limits = rate_limits_new();
    dispatcher *d = dispatcher_start(box, limits, err, sizeof err);
    int rc = EXIT_INVALID;
    if (!d) {
        fprintf(stderr, "herald: send-test: %s\n", err);
        pipeline_output_free(&out);
    } else {
        unsigned long long retries = metrics_get(METRIC_DELIVERY_RETRIES);
        outbox_put(box, out.items, messages, NULL, ignore_put_result, NULL);
        free(out.items);
        /* Past the request timeout the dispatcher has given its verdict. */
        int64_t deadline = wall_ms() + g->conf.delivery.request_timeout_ms + 5000;
        outbox_stats st = outbox_get_stats(box);
        while (st.delivered + st.dead_letters < messages &&
               metrics_get(METRIC_DELIVERY_RETRIES) == retries && wall_ms() < deadline) {
            struct timespec pause = {0, 20 * 1000 * 1000};
            nanosleep(&pause, NULL);
            st = outbox_get_stats(box);
        }
        dispatcher_stop(d, 0);
        st = outbox_get_stats(box);
        if (st.delivered == messages) {
            printf("delivered: %zu message%s to receiver %s (channel %s)\n", messages,
                   messages == 1 ? "" : "s", r->name, r->channel_name);
            rc = 0;
        } else {
            fprintf(stderr, "herald: send-test: %llu of %zu message%s delivered to receiver %s; "
                    "the log above says why\n", (unsigned long long)st.delivered, messages,
                    messages == 1 ? "" : "s", r->name);
        }
    }
    outbox_free(box);
    generation_install(NULL);
    return rc;
}
