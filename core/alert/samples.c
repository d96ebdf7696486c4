#include "alert/samples.h"

#include <stdio.h>
#include <stdlib.h>

#include "alert/ingest.h"

static const char sample_firing[] =
    "{\"receiver\":\"herald\",\"status\":\"firing\",\"alerts\":["
    "{\"status\":\"firing\",\"labels\":{\"alertname\":\"HostHighCpuLoad\",\"instance\":\"10.0.0.11:9100\","
    "\"job\":\"node\",\"severity\":\"critical\",\"project\":\"wms\",\"env\":\"prod\"},"
    "\"annotations\":{\"summary\":\"主机 CPU 负载过高 (10.0.0.11:9100)\",\"description\":\"CPU load is > 80%\\n  VALUE = 81.5\"},"
    "\"startsAt\":\"2026-11-21T05:22:46.39Z\",\"endsAt\":\"0001-01-01T00:00:00Z\","
    "\"generatorURL\":\"http://prometheus.example.com:9090/graph?g0.expr=up\",\"fingerprint\":\"60f314997491ddb1\"},"
    "{\"status\":\"firing\",\"labels\":{\"alertname\":\"HostHighCpuLoad\",\"instance\":\"10.0.0.12:9100\","
    "\"job\":\"node\",\"severity\":\"critical\",\"project\":\"wms\",\"env\":\"prod\"},"
    "\"annotations\":{\"summary\":\"主机 CPU 负载过高 (10.0.0.12:9100)\",\"description\":\"CPU load is > 80%\\n  VALUE = 84.6\"},"
    "\"startsAt\":\"2026-11-21T05:22:46.39Z\",\"endsAt\":\"0001-01-01T00:00:00Z\","
    "\"generatorURL\":\"http://prometheus.example.com:9090/graph?g0.expr=up\",\"fingerprint\":\"e031d07ac693c24d\"}],"
    "\"groupLabels\":{\"alertname\":\"HostHighCpuLoad\"},\"externalURL\":\"http://alertmanager.example.com:9093\","
    "\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"HostHighCpuLoad\\\"}\",\"truncatedAlerts\":0}";

static const char sample_resolved[] =
    "{\"receiver\":\"herald\",\"status\":\"resolved\",\"alerts\":["
    "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"HostHighCpuLoad\",\"instance\":\"10.0.0.11:9100\","
    "\"job\":\"node\",\"severity\":\"critical\",\"project\":\"wms\",\"env\":\"prod\"},"
    "\"annotations\":{\"summary\":\"主机 CPU 负载过高 (10.0.0.11:9100)\",\"description\":\"CPU load is > 80%\\n  VALUE = 81.5\"},"
    "\"startsAt\":\"2026-11-21T05:22:46.39Z\",\"endsAt\":\"2026-11-21T05:24:48.755Z\","
    "\"generatorURL\":\"http://prometheus.example.com:9090/graph?g0.expr=up\",\"fingerprint\":\"60f314997491ddb1\"},"
    "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"HostHighCpuLoad\",\"instance\":\"10.0.0.12:9100\","
    "\"job\":\"node\",\"severity\":\"critical\",\"project\":\"wms\",\"env\":\"prod\"},"
    "\"annotations\":{\"summary\":\"主机 CPU 负载过高 (10.0.0.12:9100)\",\"description\":\"CPU load is > 80%\\n  VALUE = 84.6\"},"
    "\"startsAt\":\"2026-11-21T05:22:46.39Z\",\"endsAt\":\"2026-11-21T05:24:48.755Z\","
    "\"generatorURL\":\"http://prometheus.example.com:9090/graph?g0.expr=up\",\"fingerprint\":\"e031d07ac693c24d\"}],"
    "\"groupLabels\":{\"alertname\":\"HostHighCpuLoad\"},\"externalURL\":\"http://alertmanager.example.com:9093\","
    "\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"HostHighCpuLoad\\\"}\",\"truncatedAlerts\":0}";

void sample_batch(int resolved, alert_batch *out)
{
    const char *json = resolved ? sample_resolved : sample_firing;
    size_t len = resolved ? sizeof sample_resolved - 1 : sizeof sample_firing - 1;
    char err[256];
    if (ingest_alertmanager(json, len, out, err, sizeof err)) {
        /* The samples are constants: failing to parse them is a build bug. */
        fprintf(stderr, "herald: built-in sample does not parse: %s\n", err);
        abort();
    }
    out->source = json;
    out->source_len = len;
}
