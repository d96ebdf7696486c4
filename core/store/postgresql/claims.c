/* Replicas sharing the outbox. Every pending notification is held by at
 * most one replica at a time: the one that committed it claims it in the
 * same transaction, and holds it while it renews the lease. A replica
 * that dies stops renewing; once its lease runs out, the others claim
 * what it held (FOR UPDATE SKIP LOCKED: two never take the same row) and
 * deliver it. At least once: what the dead one sent but had not yet
 * recorded goes again.
 *
 * The repeat interval and the dedup window compare a new notification
 * with what was committed before it; two replicas committing the same
 * alert at once would each see nothing yet. So each commit first takes a
 * transaction lock per (receiver, alert) and per dedup stream, and per
 * target it admits a send to (admission.c), all in sorted order so that
 * two commits never wait for each other in a cycle. */
#include "store/postgresql/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/strbuf.h"

int pg_claim_free(pg_store *s, int limit, void (*each)(void *ctx, notification *n), void *ctx,
                  char *why, size_t why_cap)
{
    int64_t now = wall_ms();
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, s->replica);
    pp_int(&p, now);
    pp_int(&p, now + s->settings.lease_ms);
    pp_int(&p, limit);
    /* This replica's own rows are never free: it holds them in memory,
     * even past a lapse in renewing (the next renewal takes them back). */
    PGresult *r = pg_run(s->db,
                         "WITH free AS (SELECT id FROM deliveries"
                         "  WHERE state = 'requeued' OR (state = 'pending' AND"
                         "   (claimed_by IS NULL OR"
                         "    (claimed_by <> $1 AND lease_until_ms < $2::bigint)))"
                         "  ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED),"
                         " t AS (UPDATE deliveries d SET state = 'pending', claimed_by = $1,"
                         "  lease_until_ms = $3::bigint FROM free WHERE d.id = free.id"
                         "  RETURNING d.id, d.next_attempt_ms, d.attempts, d.last_error)"
                         " SELECT " PG_PENDING_COLUMNS " FROM messages m JOIN t ON t.id = m.id"
                         " ORDER BY m.id",
                         &p);
    if (!pg_ok(r))
        return pg_failed(s->db, r, why, why_cap);
    int claimed = PQntuples(r);
    for (int i = 0; i < claimed; i++)
        each(ctx, pg_row_to_notification(r, i));
    PQclear(r);
    return claimed;
}

void pg_renew_leases(pg_store *s)
{
    int64_t now = wall_ms();
    if (now < s->next_renew_ms)
        return;
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, s->replica);
    pp_int(&p, now + s->settings.lease_ms);
    char why[256];
    if (pg_command(s->db,
                   "UPDATE deliveries SET lease_until_ms = $2::bigint"
                   " WHERE claimed_by = $1 AND state = 'pending'",
                   &p, why, sizeof why)) {
        if (PQstatus(s->db) == CONNECTION_OK) /* a lost one is logged once */
            log_error("store", "cannot renew this replica's leases: %s", why);
        return;
    }
    s->next_renew_ms = now + s->settings.lease_ms / 3;
}

void pg_release_claims(pg_store *s)
{
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, s->replica);
    char why[256];
    if (PQstatus(s->db) == CONNECTION_OK &&
        pg_command(s->db,
                   "UPDATE deliveries SET claimed_by = NULL, lease_until_ms = NULL"
                   " WHERE claimed_by = $1 AND state = 'pending'",
                   &p, why, sizeof why))
        log_warn("store", "cannot give back this replica's notifications (the others take "
                 "them once the lease runs out): %s", why);
}

/* FNV-1a over the parts, each ended by a zero byte: an advisory lock's
 * key. Two different streams sharing a key only wait for each other. */
static int64_t lock_key(const char *kind, const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[3] = {kind, a, b ? b : ""};
    for (int i = 0; i < 3; i++)
        for (const unsigned char *c = (const unsigned char *)parts[i];; c++) {
            h = (h ^ *c) * 1099511628211ULL;
            if (!*c)
                break;
        }
    return (int64_t)h;
}

typedef struct key_list {
    int64_t *keys;
    size_t len, cap;
} key_list;

static void add_key(key_list *l, int64_t key)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->keys = xrealloc(l->keys, l->cap * sizeof *l->keys);
    }
    l->keys[l->len++] = key;
}

static int compare_keys(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void add_checks(pg_store *s, const notification *n, key_list *l)
{
    if (n->repeat_interval_ms > 0)
        for (size_t i = 0; i < n->alerts_len; i++)
            add_key(l, lock_key("repeat", n->receiver, n->alerts[i].fingerprint));
    if (s->settings.dedup_window_ms > 0) {
        char stream[DEDUP_STREAM_HEX + 1];
        snprintf(stream, sizeof stream, "%.*s", DEDUP_STREAM_HEX, n->dedup_key);
        add_key(l, lock_key("dedup", stream, NULL));
    }
}

int pg_lock_checks(pg_store *s, const job *jobs, char *why, size_t why_cap)
{
    key_list l = {0};
    for (const job *j = jobs; j; j = j->next) {
        for (size_t i = 0; j->kind == JOB_COMMIT && i < j->n; i++)
            add_checks(s, j->items[i], &l);
        if (j->kind == JOB_SEND)
            add_key(&l, lock_key("target", j->text, NULL));
    }
    if (!l.len)
        return 0;
    qsort(l.keys, l.len, sizeof *l.keys, compare_keys);
    strbuf array = STRBUF_INIT;
    sb_putc(&array, '{');
    for (size_t i = 0; i < l.len; i++)
        if (i == 0 || l.keys[i] != l.keys[i - 1])
            sb_printf(&array, "%s%lld", i ? "," : "", (long long)l.keys[i]);
    sb_putc(&array, '}');
    free(l.keys);
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, sb_str(&array));
    /* The subquery's order (kept by OFFSET 0, which PostgreSQL never
     * flattens) is the order the locks are taken in. */
    int rc = pg_command(s->db,
                        "SELECT count(pg_advisory_xact_lock(k)) FROM"
                        " (SELECT k FROM unnest($1::bigint[]) k ORDER BY k OFFSET 0) sorted",
                        &p, why, why_cap);
    sb_free(&array);
    return rc;
}
