#include "store/postgresql/private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dsn.h"
#include "util/error.h"
#include "util/log.h"

/* libpq reads a text parameter up to its NUL: the length is for bytea. */
static void add(pg_params *p, const char *value, size_t len, int binary, Oid type)
{
    p->values[p->n] = value;
    p->lengths[p->n] = (int)len;
    p->formats[p->n] = binary;
    p->types[p->n] = type;
    p->n++;
}

/* The types of pg_type.h, which is the server's header. */
#define INT8OID 20
#define FLOAT8OID 701
#define BYTEAOID 17

/* Text is left untyped: the server reads it as the column or cast that
 * takes it (json, text). */
void pp_text(pg_params *p, const char *text)
{
    add(p, text, 0, 0, 0);
}

void pp_int(pg_params *p, int64_t v)
{
    snprintf(p->numbers[p->n], sizeof p->numbers[p->n], "%" PRId64, v);
    add(p, p->numbers[p->n], 0, 0, INT8OID);
}

/* %.17g reads back as the same double: a repeat compares starts_at
 * exactly. */
void pp_double(pg_params *p, double v)
{
    snprintf(p->numbers[p->n], sizeof p->numbers[p->n], "%.17g", v);
    add(p, p->numbers[p->n], 0, 0, FLOAT8OID);
}

void pp_double_or_null(pg_params *p, double v)
{
    if (v > 0)
        pp_double(p, v);
    else
        pp_text(p, NULL);
}

void pp_bytes(pg_params *p, const char *data, size_t len)
{
    add(p, data, len, 1, BYTEAOID);
}

/* NOTICEs ("relation already exists, skipping") would go to stderr. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

PGconn *pg_connect(const char *dsn, char *err, size_t err_cap)
{
    char *password = NULL;
    if (pg_dsn_password(dsn, &password)) {
        /* libpq's message would quote the string, password and all */
        fail(err, err_cap, "store.dsn: not a libpq connection string (keyword=value pairs or a "
                           "postgresql:// URI)");
        return NULL;
    }
    /* Before the DSN, so that its own connect_timeout wins: without one a
     * server that does not answer holds the writer for minutes. */
    static const char *const keys[] = {"connect_timeout", "dbname", "fallback_application_name",
                                       NULL};
    const char *const values[] = {"10", dsn, "herald", NULL};
    PGconn *db = PQconnectdbParams(keys, values, 1); /* 1: dbname holds the DSN */
    if (PQstatus(db) != CONNECTION_OK) {
        char said[512];
        snprintf(said, sizeof said, "%s", db ? PQerrorMessage(db) : "out of memory");
        said[strcspn(said, "\n")] = '\0';
        char shown[512];
        fail(err, err_cap, "store: cannot connect to PostgreSQL: %s",
             pg_redact(said, password, shown, sizeof shown));
        PQfinish(db);
        db = NULL;
    } else {
        PQsetNoticeProcessor(db, ignore_notice, NULL);
    }
    free(password);
    return db;
}

PGresult *pg_run(PGconn *db, const char *sql, const pg_params *p)
{
    PGresult *r = PQexecParams(db, sql, p ? p->n : 0, p ? p->types : NULL, p ? p->values : NULL,
                               p ? p->lengths : NULL, p ? p->formats : NULL, 0);
    return r ? r : PQmakeEmptyPGresult(db, PGRES_FATAL_ERROR);
}

int pg_ok(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static _Thread_local char last_failure_state[6];

const char *pg_last_failure_state(void)
{
    return last_failure_state;
}

int pg_failed(PGconn *db, PGresult *r, char *why, size_t why_cap)
{
    snprintf(last_failure_state, sizeof last_failure_state, "%s", r ? pg_sqlstate(r) : "");
    const char *said = r ? PQresultErrorMessage(r) : "";
    if (!*said)
        said = PQerrorMessage(db);
    char line[512], shown[512];
    snprintf(line, sizeof line, "%s", *said ? said : "unknown error");
    /* libpq's messages end in a newline, and some add a DETAIL line */
    line[strcspn(line, "\n")] = '\0';
    fail(why, why_cap, "%s", pg_redact(line, NULL, shown, sizeof shown));
    PQclear(r);
    return -1;
}

int pg_exec(PGconn *db, const char *sql, char *why, size_t why_cap)
{
    PGresult *r = PQexec(db, sql);
    if (!r || !pg_ok(r))
        return pg_failed(db, r, why, why_cap);
    PQclear(r);
    return 0;
}

int pg_command(PGconn *db, const char *sql, const pg_params *p, char *why, size_t why_cap)
{
    PGresult *r = pg_run(db, sql, p);
    if (!pg_ok(r))
        return pg_failed(db, r, why, why_cap);
    PQclear(r);
    return 0;
}

const char *pg_sqlstate(const PGresult *r)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return state ? state : "";
}

char *pg_text(const PGresult *r, int row, int col)
{
    return xstrdup(PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

char *pg_text_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

int64_t pg_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double pg_double(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col), NULL);
}

int pg_reconnect_if_lost(PGconn *db, char *err, size_t err_cap)
{
    if (PQstatus(db) == CONNECTION_OK)
        return 0;
    PQreset(db);
    if (PQstatus(db) == CONNECTION_OK)
        return 0;
    return pg_failed(db, NULL, err, err_cap);
}

int pg_writer_connection(pg_store *s, char *why, size_t why_cap)
{
    if (PQstatus(s->db) == CONNECTION_OK && !s->unreachable)
        return 0;
    if (!s->unreachable) {
        s->unreachable = 1;
        log_error("store", "lost the connection to %s; answering 503 until it is back", s->where);
    }
    if (pg_reconnect_if_lost(s->db, why, why_cap))
        return -1;
    s->unreachable = 0;
    s->next_renew_ms = 0; /* what it holds, before its leases run out */
    log_info("store", "connected to %s again", s->where);
    return 0;
}
