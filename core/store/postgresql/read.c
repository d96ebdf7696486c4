/* The readers' queries (the API and the CLI), each on a connection of
 * its own, answering as the SQLite store's readers answer. */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/strbuf.h"

store_reader *pg_reader_open(const store_location *where, char *err, size_t err_cap)
{
    PGconn *db = pg_connect(where->dsn, err, err_cap);
    if (!db)
        return NULL;
    char why[256];
    int version = pg_schema_version(db, why, sizeof why);
    if (version <= 0) {
        if (version == 0)
            fail(err, err_cap, "store: no store yet in this database: herald serve has not run "
                               "with it");
        else
            fail(err, err_cap, "store: %s", why);
        PQfinish(db);
        return NULL;
    }
    pg_reader *r = xcalloc(1, sizeof *r);
    r->base.backend = &postgresql_backend;
    r->db = db;
    return &r->base;
}

void pg_reader_close(store_reader *base)
{
    pg_reader *r = (pg_reader *)base;
    PQfinish(r->db);
    free(r);
}

int pg_read_failed(pg_reader *r, PGresult *res, char *err, size_t err_cap)
{
    char why[256], ignored[256];
    pg_failed(r->db, res, why, sizeof why);
    /* The next read (expiry keeps its reader) finds it connected again. */
    pg_reconnect_if_lost(r->db, ignored, sizeof ignored);
    return fail(err, err_cap, "store: %s", why);
}

void *pg_add_row(void *items, size_t *len, size_t size)
{
    char *grown = xrealloc(items, (*len + 1) * size);
    memset(grown + *len * size, 0, size);
    (*len)++;
    return grown;
}

#define SUMMARY_COLUMNS                                                                          \
    "id, receiver, status, alert_count, state, attempts, last_error, created_ms,"               \
    " next_attempt_ms, finished_ms, title"

static void read_summary(const PGresult *r, int row, queue_row *q)
{
    q->id = (uint64_t)pg_int(r, row, 0);
    q->receiver = pg_text(r, row, 1);
    q->status = pg_text(r, row, 2);
    q->alert_count = pg_int(r, row, 3);
    q->state = pg_text(r, row, 4);
    q->attempts = pg_int(r, row, 5);
    q->last_error = pg_text_or_null(r, row, 6);
    q->created_ms = pg_int(r, row, 7);
    q->next_attempt_ms = pg_int(r, row, 8);
    q->finished_ms = pg_int(r, row, 9); /* NULL reads as 0 */
    q->title = pg_text(r, row, 10);
}

int pg_list(store_reader *base, queue_view view, int limit, queue_rows *rows, char *err,
            size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    *rows = (queue_rows){0};
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, limit);
    PGresult *res = pg_run(r->db,
                           view == QUEUE_DEAD
                               ? "SELECT " SUMMARY_COLUMNS " FROM notifications"
                                 " WHERE state = 'dead' ORDER BY id DESC LIMIT $1::bigint"
                               : "SELECT " SUMMARY_COLUMNS " FROM notifications"
                                 " WHERE state IN ('pending', 'requeued')"
                                 " ORDER BY id DESC LIMIT $1::bigint",
                           &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    for (int i = 0; i < PQntuples(res); i++) {
        rows->items = pg_add_row(rows->items, &rows->len, sizeof *rows->items);
        read_summary(res, i, &rows->items[rows->len - 1]);
    }
    PQclear(res);
    return 0;
}

static int read_alerts(pg_reader *r, uint64_t id, notification_detail *d, char *err,
                       size_t err_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, (int64_t)id);
    PGresult *res = pg_run(r->db,
                           "SELECT fingerprint, alertname, status, labels FROM history_results"
                           " WHERE notification_id = $1::bigint ORDER BY id",
                           &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    for (int i = 0; i < PQntuples(res); i++) {
        d->alerts = pg_add_row(d->alerts, &d->alerts_len, sizeof *d->alerts);
        alert_row *a = &d->alerts[d->alerts_len - 1];
        a->fingerprint = pg_text(res, i, 0);
        a->alertname = pg_text(res, i, 1);
        a->status = pg_text(res, i, 2);
        a->labels_json = pg_text(res, i, 3);
    }
    PQclear(res);
    return 0;
}

/* Oldest first: the order they happened in. */
static int read_attempts(pg_reader *r, uint64_t id, notification_detail *d, char *err,
                         size_t err_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, (int64_t)id);
    PGresult *res = pg_run(r->db,
                           "SELECT at_ms, outcome, detail, actor FROM attempts"
                           " WHERE notification_id = $1 ORDER BY id",
                           &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    for (int i = 0; i < PQntuples(res); i++) {
        d->attempts = pg_add_row(d->attempts, &d->attempts_len, sizeof *d->attempts);
        attempt_row *a = &d->attempts[d->attempts_len - 1];
        a->at_ms = pg_int(res, i, 0);
        a->outcome = pg_text(res, i, 1);
        a->detail = pg_text_or_null(res, i, 2);
        a->actor = pg_text_or_null(res, i, 3);
    }
    PQclear(res);
    return 0;
}

int pg_show(store_reader *base, uint64_t id, notification_detail *out, char *err,
            size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    *out = (notification_detail){0};
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, (int64_t)id);
    PGresult *res = pg_run(r->db,
                           "SELECT " SUMMARY_COLUMNS ", text, mentions FROM notifications"
                           " WHERE id = $1::bigint",
                           &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 1;
    }
    read_summary(res, 0, &out->summary);
    out->text = pg_text(res, 0, 11);
    out->mentions_json = pg_text(res, 0, 12);
    PQclear(res);
    if (read_alerts(r, id, out, err, err_cap) || read_attempts(r, id, out, err, err_cap)) {
        notification_detail_free(out);
        return -1;
    }
    return 0;
}

int pg_history(store_reader *base, const history_filter *f, history_rows *rows, char *err,
               size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    *rows = (history_rows){0};
    pg_params p = PG_PARAMS_INIT;
    /* Absent filters are NULL and match everything. */
    pp_text(&p, f->alertname);
    pp_text(&p, f->receiver);
    pp_text(&p, f->status);
    if (f->since_ms)
        pp_int(&p, f->since_ms);
    else
        pp_text(&p, NULL);
    if (f->until_ms)
        pp_int(&p, f->until_ms);
    else
        pp_text(&p, NULL);
    pp_int(&p, f->limit);
    PGresult *res = pg_run(
        r->db,
        "SELECT h.id, h.notification_id, h.fingerprint, h.alertname, h.instance, h.severity,"
        " h.status, h.starts_at, h.ends_at, h.receiver, h.labels, h.annotations, h.result,"
        " h.created_ms, h.silenced_by FROM history_results h"
        " WHERE ($1::text IS NULL OR h.alertname = $1) AND ($2::text IS NULL OR h.receiver = $2)"
        " AND ($3::text IS NULL OR h.status = $3)"
        " AND ($4::bigint IS NULL OR h.created_ms >= $4)"
        " AND ($5::bigint IS NULL OR h.created_ms <= $5) ORDER BY h.id DESC LIMIT $6::bigint",
        &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    for (int i = 0; i < PQntuples(res); i++) {
        rows->items = pg_add_row(rows->items, &rows->len, sizeof *rows->items);
        history_row *h = &rows->items[rows->len - 1];
        h->id = pg_int(res, i, 0);
        h->notification_id = pg_int(res, i, 1);
        h->fingerprint = pg_text(res, i, 2);
        h->alertname = pg_text(res, i, 3);
        h->instance = pg_text(res, i, 4);
        h->severity = pg_text(res, i, 5);
        h->status = pg_text(res, i, 6);
        h->starts_at = pg_double(res, i, 7);
        h->ends_at = pg_double(res, i, 8); /* NULL reads as 0 */
        h->receiver = pg_text(res, i, 9);
        h->labels_json = pg_text(res, i, 10);
        h->annotations_json = pg_text(res, i, 11);
        h->result = pg_text(res, i, 12);
        h->created_ms = pg_int(res, i, 13);
        h->silenced_by = pg_text_or_null(res, i, 14);
    }
    PQclear(res);
    return 0;
}

/* A firing is one alert (fingerprint) from one startsAt: the rows of its
 * notifications to several receivers, and of its repeats, are one. The
 * label's name is a parameter, so no asked-for text is ever SQL. */
int pg_history_top(store_reader *base, const history_top *t, top_rows *rows, char *err,
                   size_t err_cap)
{
    pg_reader *r = (pg_reader *)base;
    *rows = (top_rows){0};
    int by_receiver = strcmp(t->by, "receiver") == 0;
    pg_params p = PG_PARAMS_INIT;
    pp_int(&p, t->since_ms);
    pp_int(&p, t->limit);
    if (!by_receiver)
        pp_text(&p, t->by);
    /* Firing rows only: the TOP of what alerted, not of what recovered.
     * Ties in the C collation's order, as SQLite sorts. */
    PGresult *res = pg_run(
        r->db,
        by_receiver
            ? "SELECT value, count(*) FROM (SELECT DISTINCT receiver AS value, fingerprint,"
              " starts_at FROM history WHERE created_ms >= $1::bigint AND status = 'firing') f"
              " WHERE value IS NOT NULL AND value <> ''"
              " GROUP BY value ORDER BY count(*) DESC, value COLLATE \"C\" LIMIT $2::bigint"
            : "SELECT value, count(*) FROM (SELECT DISTINCT labels->>$3::text AS value,"
              " fingerprint, starts_at FROM history_results WHERE created_ms >= $1::bigint"
              " AND status = 'firing') f WHERE value IS NOT NULL AND value <> ''"
              " GROUP BY value ORDER BY count(*) DESC, value COLLATE \"C\" LIMIT $2::bigint",
        &p);
    if (!pg_ok(res))
        return pg_read_failed(r, res, err, err_cap);
    for (int i = 0; i < PQntuples(res); i++) {
        rows->items = pg_add_row(rows->items, &rows->len, sizeof *rows->items);
        rows->items[rows->len - 1].value = pg_text(res, i, 0);
        rows->items[rows->len - 1].count = pg_int(res, i, 1);
    }
    PQclear(res);
    return 0;
}
