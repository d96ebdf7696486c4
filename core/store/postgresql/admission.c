/* Robots' limits shared by replicas. Every replica's send to a
 * rate-limited target is admitted here, in the writer's transaction and
 * under a lock on the target (taken with the commit checks' locks, in
 * their order: claims.c), against the sends of every replica and the
 * target's pause; only an admitted send is recorded. So three replicas
 * together never exceed the window, and a pause one replica saw (the
 * service's penalty) holds the others' sends back too. The answer carries
 * the window as all replicas filled it, which the dispatcher's limiter
 * takes for its own: its digests then plan with the slots really left.
 *
 * Send times are the replicas' clocks: they must agree within the
 * limiter's safety margin (NTP does). */
#include "store/postgresql/private.h"

#include <stdlib.h>

#include "util/strbuf.h"

/* How many of the window's sends fall within `span_ms` before `at`. */
static unsigned sends_within(const send_admission *a, int64_t at, int64_t span_ms)
{
    unsigned n = 0;
    for (size_t i = 0; i < a->window_len; i++)
        n += a->window[i] > at - span_ms;
    return n;
}

static int read_pause(pg_store *s, const job *j, send_admission *a, char *why, size_t why_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, j->text);
    pp_int(&p, j->at_ms);
    PGresult *r = pg_run(s->db,
                         "SELECT until_ms FROM target_pauses"
                         " WHERE target = $1 AND until_ms > $2::bigint",
                         &p);
    if (!pg_ok(r))
        return pg_failed(s->db, r, why, why_cap);
    a->paused_until_ms = PQntuples(r) ? pg_int(r, 0, 0) : 0;
    PQclear(r);
    return 0;
}

static int read_window(pg_store *s, const job *j, send_admission *a, char *why, size_t why_cap)
{
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, j->text);
    pp_int(&p, j->at_ms - a->minute_window_ms);
    /* sends stamped after this one (another replica's clock, or a send
     * decided later and committed first) count as well */
    PGresult *r = pg_run(s->db,
                         "SELECT sent_ms FROM target_sends"
                         " WHERE target = $1 AND sent_ms > $2::bigint ORDER BY sent_ms",
                         &p);
    if (!pg_ok(r))
        return pg_failed(s->db, r, why, why_cap);
    int rows = PQntuples(r);
    a->window = xcalloc((size_t)rows + 1, sizeof *a->window); /* + this one */
    for (int i = 0; i < rows; i++)
        a->window[a->window_len++] = pg_int(r, i, 0);
    PQclear(r);
    return 0;
}

/* This send, among the window's (kept oldest first). */
static void add_to_window(send_admission *a, int64_t at)
{
    size_t i = a->window_len++;
    for (; i > 0 && a->window[i - 1] > at; i--)
        a->window[i] = a->window[i - 1];
    a->window[i] = at;
}

int pg_admit_send(pg_store *s, const job *j, char *why, size_t why_cap)
{
    send_admission *a = j->admission;
    /* a transaction tried again decides afresh */
    free(a->window);
    a->window = NULL;
    a->window_len = 0;
    a->refused = 0;
    if (read_pause(s, j, a, why, why_cap) || read_window(s, j, a, why, why_cap))
        return -1;
    a->refused = (a->paused_until_ms && !a->past_pause) ||
                 (a->per_minute && sends_within(a, j->at_ms, a->minute_window_ms) >= a->per_minute) ||
                 (a->per_second && sends_within(a, j->at_ms, a->second_window_ms) >= a->per_second);
    if (a->refused)
        return 0;
    pg_params p = PG_PARAMS_INIT;
    pp_text(&p, j->text);
    pp_int(&p, j->at_ms);
    if (pg_command(s->db, "INSERT INTO target_sends(target, sent_ms) VALUES($1, $2)", &p, why,
                   why_cap))
        return -1;
    add_to_window(a, j->at_ms);
    return 0;
}
