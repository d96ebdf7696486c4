/* herald's ingest side alone, on one thread: a payload parsed, its
 * alerts' records made, routed and rendered, REQUESTS times, with no
 * server, store or delivery around it. It prints the CPU each request
 * took. The whole benchmark cannot tell a change of a few percent in
 * this part from the machine's drift; run two builds' pipeline_cpu in
 * turn, several times each, and compare their medians (README.md).
 *
 *   pipeline_cpu CONFIG PAYLOAD REQUESTS
 *
 * Routes to the configuration's default_receiver, as POST /webhook. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/ingest.h"
#include "notification/notification.h"
#include "pipeline/check.h"
#include "pipeline/pipeline.h"
#include "pipeline/script.h"
#include "util/clock.h"
#include "util/strbuf.h"

static double process_cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One request's work, as an ingest worker does it; the number of
 * notifications it made, or -1. */
static long one_request(script_state *s, const receiver *to, const strbuf *payload, char *err,
                        size_t err_cap)
{
    int64_t now = wall_ms();
    alert_batch batch;
    if (ingest_any(payload->data, payload->len, (double)now / 1000, &batch, err, err_cap))
        return -1;
    alert_report seen;
    alert_report_fill(&seen, &batch, now);
    pipeline_output out = {0};
    pipeline_stats stats = {0};
    pipeline_run(s, &batch, to, &out, &stats);
    long made = (long)out.len;
    pipeline_output_free(&out);
    alert_report_free(&seen);
    alert_batch_free(&batch);
    return made;
}

int main(int argc, char **argv)
{
    long requests = argc == 4 ? strtol(argv[3], NULL, 10) : 0;
    if (requests <= 0) {
        fprintf(stderr, "usage: pipeline_cpu CONFIG PAYLOAD REQUESTS (REQUESTS > 0)\n");
        return 2;
    }
    char err[1024];
    strbuf payload = STRBUF_INIT;
    if (sb_read_file(&payload, argv[2])) {
        fprintf(stderr, "pipeline_cpu: %s: %s\n", argv[2], strerror(errno));
        sb_free(&payload);
        return 1;
    }
    generation *g = generation_build(argv[1], NULL, err, sizeof err);
    if (!g) {
        fprintf(stderr, "pipeline_cpu: %s\n", err);
        sb_free(&payload);
        return 1;
    }
    script_state s;
    int rc = script_open(&s, g, err, sizeof err);
    const receiver *to = config_receiver(&g->conf, g->conf.default_receiver);
    generation_unref(g); /* the script state holds it */
    if (rc) {
        fprintf(stderr, "pipeline_cpu: %s\n", err);
        sb_free(&payload);
        return 1;
    }
    long made = 0;
    double started = process_cpu_seconds();
    for (long i = 0; i < requests && made >= 0; i++)
        made = one_request(&s, to, &payload, err, sizeof err);
    double cpu = process_cpu_seconds() - started;
    if (made < 0)
        fprintf(stderr, "pipeline_cpu: %s: %s\n", argv[2], err);
    else
        printf("%ld requests, %.2f us CPU per request, %ld notifications each\n", requests,
               cpu * 1e6 / (double)requests, made);
    script_close(&s);
    sb_free(&payload);
    return made < 0 ? 1 : 0;
}
