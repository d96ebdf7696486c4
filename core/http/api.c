#include "http/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/alert.h"
#include "config/conf.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/units.h"

static unsigned fail(strbuf *out, unsigned status, const char *message)
{
    sb_puts(out, "{\"status\":\"error\",\"error\":");
    sb_json_string(out, message, strlen(message));
    sb_puts(out, "}\n");
    return status;
}

/* A store call's outcome: 0 ok, 1 not found, -1 failed. */
static unsigned store_result(int rc, const char *err, strbuf *out, const char *not_found)
{
    if (rc < 0)
        return fail(out, 500, err);
    if (rc > 0)
        return fail(out, 404, not_found);
    return 200;
}

int parse_limit(const char *text, int *limit)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > 10000)
        return -1;
    *limit = (int)v;
    return 0;
}

static int read_limit(const api_query *q, int *limit, strbuf *out, unsigned *status)
{
    const char *text = q->get(q->ctx, "limit");
    *limit = 100;
    if (!text)
        return 0;
    if (parse_limit(text, limit)) {
        *status = fail(out, 400, "limit: expected a number from 1 to 10000");
        return -1;
    }
    return 0;
}

static int read_time(const api_query *q, const char *name, int64_t *out_ms, strbuf *out,
                     unsigned *status)
{
    const char *text = q->get(q->ctx, name);
    *out_ms = 0;
    if (!text)
        return 0;
    if (parse_time_ms(text, wall_ms(), out_ms) == 0)
        return 0;
    char message[160];
    snprintf(message, sizeof message,
             "%s: expected a duration with its unit such as \"24h\", an RFC 3339 time or epoch "
             "milliseconds", name);
    *status = fail(out, 400, message);
    return -1;
}

/* Parses "<id>" or "<id>/<tail>"; returns the tail ("" for none) or NULL. */
static const char *parse_id(const char *text, uint64_t *id)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno || (*end && *end != '/'))
        return NULL;
    *id = v;
    return *end ? end + 1 : end;
}

static unsigned list(const char *data_dir, queue_view view, const api_query *q, strbuf *out)
{
    unsigned status;
    int limit;
    if (read_limit(q, &limit, out, &status))
        return status;
    char err[512];
    return store_result(store_list(data_dir, view, limit, out, err, sizeof err), err, out, "");
}

static unsigned history(const char *data_dir, const api_query *q, strbuf *out)
{
    history_filter f = {.alertname = q->get(q->ctx, "alertname"),
                        .receiver = q->get(q->ctx, "receiver"),
                        .status = q->get(q->ctx, "status")};
    unsigned status;
    if (read_limit(q, &f.limit, out, &status) || read_time(q, "since", &f.since_ms, out, &status) ||
        read_time(q, "until", &f.until_ms, out, &status))
        return status;
    if (f.status && strcmp(f.status, "firing") != 0 && strcmp(f.status, "resolved") != 0)
        return fail(out, 400, "status: expected \"firing\" or \"resolved\"");
    char err[512];
    return store_result(store_history(data_dir, &f, out, err, sizeof err), err, out, "");
}

static unsigned history_top(const char *data_dir, const api_query *q, strbuf *out)
{
    const char *by = q->get(q->ctx, "by");
    unsigned status;
    int limit;
    int64_t since;
    if (read_limit(q, &limit, out, &status) || read_time(q, "since", &since, out, &status))
        return status;
    if (!q->get(q->ctx, "limit"))
        limit = 10;
    if (!q->get(q->ctx, "since"))
        since = wall_ms() - 24LL * 3600 * 1000;
    char err[512];
    int rc = store_history_top(data_dir, by ? by : "alertname", since, limit, out, err, sizeof err);
    return rc > 0 ? fail(out, 400, err) : store_result(rc, err, out, "");
}

unsigned api_handle(const char *data_dir, const char *method, const char *url, const api_query *q,
                    strbuf *out, const char **allow)
{
    const char *path = url + strlen(API_PREFIX);
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    char err[512];
    uint64_t id;
    const char *tail;
    *allow = "GET, HEAD";
    if (strcmp(path, "queue") == 0)
        return get ? list(data_dir, QUEUE_PENDING, q, out) : 405;
    if (strcmp(path, "deadletters") == 0)
        return get ? list(data_dir, QUEUE_DEAD, q, out) : 405;
    if (strcmp(path, "history") == 0)
        return get ? history(data_dir, q, out) : 405;
    if (strcmp(path, "history/top") == 0)
        return get ? history_top(data_dir, q, out) : 405;
    if (strncmp(path, "queue/", 6) == 0 && (tail = parse_id(path + 6, &id)) && !*tail) {
        if (!get)
            return 405;
        return store_result(store_show(data_dir, id, out, err, sizeof err), err, out,
                            "no such notification");
    }
    if (strncmp(path, "deadletters/", 12) == 0 && (tail = parse_id(path + 12, &id))) {
        int retry = strcmp(tail, "retry") == 0;
        if (!retry && *tail)
            return fail(out, 404, "no such path");
        *allow = retry ? "POST" : "DELETE";
        if (strcmp(method, *allow) != 0)
            return 405;
        int rc = retry ? store_requeue(data_dir, id, err, sizeof err)
                       : store_drop(data_dir, id, err, sizeof err);
        unsigned status = store_result(rc, err, out, "no dead letter with that id");
        if (status == 200)
            sb_printf(out, "{\"status\":\"success\",\"id\":%llu,\"action\":\"%s\"}\n",
                      (unsigned long long)id, retry ? "requeued" : "dropped");
        return status;
    }
    return fail(out, 404, "no such path");
}
