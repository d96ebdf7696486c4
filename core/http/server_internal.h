/* The HTTP server's parts share these: the server, one request's state
 * and what each part offers the others. Callers outside core/http/ use
 * http/server.h.
 *
 *   server.c        start, stop and libmicrohttpd's callbacks
 *   listener.c      the listening address, HTTPS, and warnings about exposure
 *   connections.c   connection limits, and deadlines for a request's head and body
 *   gate.c          what a request must pass before its body is read
 *   body_budget.c   how many bodies' bytes the requests in progress may hold
 *   request_rules.c the header checks gate.c applies (framing, browsers)
 *   route.c         which endpoint a path is, and which handler answers it
 *   reply.c         answers and errors, all in one JSON shape
 *   ingest.c        alerts in: parse, route, render, commit, answer
 *   endpoints.c     the endpoints that answer at once (probes, reload, metrics, API)
 *   workers.c       the threads that run ingest's parse, route and render
 *   thread_script.c each ingest worker's Lua state
 *   silence_cache.c the silences ingest holds alerts back by, kept in memory
 *   action_page.c   /action/<token>: the page of a signed action link
 *   action_do.c     what a confirmed link does, and its confirmation
 *   action_html.c   that page's HTML
 *   action_rate.c   the page's rate limit per client address */
#ifndef HERALD_HTTP_SERVER_INTERNAL_H
#define HERALD_HTTP_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "action/token.h"
#include "config/auth.h"
#include "config/generation.h"
#include "config/tls.h"
#include "delivery/outbox.h"
#include "herald/plugin.h"
#include "http/server.h"
#include "pipeline/pipeline.h"
#include "pipeline/script.h"
#include "util/strbuf.h"

typedef struct conn_table conn_table;
typedef struct conn_entry conn_entry;
typedef struct ingest_workers ingest_workers;
typedef struct alert_expiry alert_expiry;
typedef struct silence_cache silence_cache;
typedef struct silence_snapshot silence_snapshot;
typedef struct body_budget body_budget;
typedef struct action_rate action_rate;

struct http_server {
    struct MHD_Daemon *daemon;
    conn_table *conns;
    outbox *box;
    reload_fn reload;
    void *reload_ctx;
    atomic_int stopping;
    atomic_int ingesting;  /* ingest requests between their stopping check and their answer */
    char *data_dir;
    char *store_dsn;          /* NULL: the SQLite store in data_dir */
    store_location store;     /* the two above, as the API and the expiry open it */
    pthread_key_t script_key;  /* each ingest worker's Lua state */
    ingest_workers *workers;
    body_budget *budget;
    alert_expiry *expiry;
    silence_cache *silences;
    action_rate *action_rate;  /* the action page's, per client address */
    tls_pair tls;          /* kept for the daemon's life: libmicrohttpd points into it */
};

typedef enum endpoint {
    ENDPOINT_WEBHOOK,     /* Alertmanager webhook, /webhook[/receiver] */
    ENDPOINT_DINGTALK,    /* /dingtalk/<receiver>/send, prometheus-webhook-dingtalk's path */
    ENDPOINT_PROMETHEUS,  /* /api/v2/alerts */
    ENDPOINT_HEALTHY,
    ENDPOINT_READY,
    ENDPOINT_RELOAD,
    ENDPOINT_METRICS,
    ENDPOINT_API,         /* /api/v1/…, see api.h */
    ENDPOINT_ACTION,      /* /action/<token>: an action link's page (no API auth) */
} endpoint;

typedef enum ingest_phase {
    INGEST_READING = 0,
    INGEST_QUEUED,       /* suspended, with an ingest worker */
    INGEST_COMMITTING,   /* suspended until the store has the notifications */
    INGEST_COMMITTED,    /* resumed: answer from the fields below */
    INGEST_REFUSED,      /* resumed: answer refusal_status with refusal */
} ingest_phase;

/* A request herald makes itself (alert_expiry's): who waits for it. */
typedef struct internal_wait {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int done;
} internal_wait;

/* Where a request stands with the body budget (body_budget.c). */
typedef enum body_claim_state {
    BODY_NOT_CLAIMED = 0,
    BODY_WAITING,        /* suspended until its claim fits */
    BODY_ADMITTED,       /* its claim is counted until it is freed */
} body_claim_state;

typedef struct request_ctx {
    endpoint ep;
    char *receiver;      /* from the path, or NULL */
    strbuf body;         /* max: the configuration's max_body; truncated: refused */
    size_t body_claim;   /* its Content-Length, or max_body without one */
    size_t budget_limit; /* max_body when it came */
    body_claim_state budget;
    int waited_for_budget;
    struct request_ctx *next_waiting;
    /* ingest, across the suspension */
    ingest_phase phase;
    struct MHD_Connection *conn;
    pipeline_output out;
    pipeline_stats stats;
    alert_report seen;   /* every alert of it, for the alert state */
    internal_wait *internal; /* NULL: a client's, on ctx->conn */
    size_t queue_capacity;
    outbox_put_result put;
    size_t duplicates;
    size_t repeats;
    size_t escalations;      /* of out: kept by the store until due, not sent now */
    size_t stored;
    size_t silenced;     /* alerts a silence held back: recorded, not routed */
    int counted;         /* in srv->ingesting until answered or closed */
    char put_error[256];
    unsigned refusal_status;
    strbuf refusal;
    struct request_ctx *next_queued; /* the ingest workers' queue */
} request_ctx;

/* ---- listener.c ---- */

/* What libmicrohttpd needs to listen as configured. */
typedef struct listener {
    struct sockaddr_storage addr;
    unsigned short port;
    unsigned flags;
    struct MHD_OptionItem tls_options[3]; /* point into srv->tls */
} listener;

/* Parses the address and, when the configuration sets tls, reads the
 * certificate and key into srv->tls. Returns 0, or -1 with err set. */
int listener_prepare(http_server *srv, const char *listen, const config *c, listener *out,
                     char *err, size_t err_cap);
/* Logs how the server is reached: HTTPS with which certificate, and a
 * warning when the network can reach it without auth, or without TLS for
 * the credentials auth sends. */
void listener_report(const listener *l, const char *listen, const config *c);

/* ---- connections.c ---- */

/* Raises the file-descriptor limit to its hard limit, sizes the
 * connection limit from it (reserved_fds kept for everything else) unless
 * cs sets one, and starts the sweeper that closes connections whose
 * request head or body is overdue. NULL with err set when the
 * descriptors cannot hold the connections. */
conn_table *conn_table_start(const connection_settings *cs, size_t reserved_fds, char *err,
                             size_t err_cap);
/* After the daemon has stopped. */
void conn_table_stop(conn_table *t);
/* The connection limit in force. */
unsigned conn_table_max(const conn_table *t);
size_t conn_table_open(conn_table *t);
/* libmicrohttpd's accept policy (cls: the table): refuses a connection
 * over the limit per address or overall, counted and logged. */
enum MHD_Result conn_admit(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* libmicrohttpd's connection notification (cls: the table). */
void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode code);
/* Where the connection's request stands, for the deadlines: its head is
 * complete and its body is being read; it is read and being answered (no
 * deadline); it was answered and the next head may come. */
void conn_reading_body(struct MHD_Connection *conn);
void conn_answering(struct MHD_Connection *conn);
void conn_request_done(struct MHD_Connection *conn);

/* ---- body_budget.c ---- */

body_budget *body_budget_new(void);
void body_budget_free(body_budget *b);
/* Before the first byte of ctx's body is taken: 1 when its claim fits
 * now; else 0 with the connection suspended, to be resumed when it fits
 * (its bytes are left unread until then). */
int body_budget_admit(body_budget *b, struct MHD_Connection *conn, request_ctx *ctx);
/* When ctx is freed: its claim (or its place in the queue) goes, and
 * those waiting that now fit are resumed. */
void body_budget_release(body_budget *b, request_ctx *ctx);
/* Stopping: every request waiting is let in, to be answered 503. */
void body_budget_stop(body_budget *b);
/* For /metrics: the bytes claimed, and how many requests wait. */
void body_budget_levels(body_budget *b, size_t *in_use, size_t *waiting);

/* ---- gate.c ---- */

/* Called with the headers of a new request: answers it at once (400 for
 * ambiguous framing or a path that is not text, 404, 405, 401, 403 from
 * a browser on another site, 415, an unknown receiver, a body over
 * max_body) and leaves *ctx NULL, or sets *ctx to read its body. */
enum MHD_Result gate_admit(http_server *srv, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, request_ctx **ctx);
/* Answers a request whose raw path held %00 (see server.c). */
enum MHD_Result gate_refuse_nul_path(struct MHD_Connection *conn);

/* ---- route.c ---- */

/* Matches the path; returns 0 with ep and receiver set, 404 or 405 with
 * *allow naming the methods the path takes. */
unsigned route_match(const char *url, const char *method, endpoint *ep, char **receiver,
                     const char **allow);
/* Answers a request whose body has been read. */
enum MHD_Result route_answer(http_server *srv, struct MHD_Connection *conn, request_ctx *ctx,
                             const char *url, const char *method);

/* ---- reply.c ---- */

/* The client's address as text, or `unknown` when libmicrohttpd has none. */
void client_address(struct MHD_Connection *conn, const char *unknown,
                    char out[INET6_ADDRSTRLEN]);

enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *type,
                          const char *text, const char *extra_header, const char *extra_value);
/* The JSON error shape; a 503 carries Retry-After. 4xx are logged with
 * the client, which does not retry them. */
enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
    HERALD_PRINTF(3, 4);
/* The same, closing the connection: what follows this request cannot be
 * trusted to be a request of its own. */
enum MHD_Result send_error_closing(struct MHD_Connection *conn, unsigned status, const char *msg);
enum MHD_Result send_method_not_allowed(struct MHD_Connection *conn, const char *method,
                                        const char *url, const char *allow);
/* Logs and counts a request for a receiver the configuration lacks. */
void note_unknown_receiver(const char *receiver);
enum MHD_Result reject_unknown_receiver(struct MHD_Connection *conn, const char *receiver);
enum MHD_Result reject_unauthorized(struct MHD_Connection *conn, const inbound_auth *auth,
                                    auth_result result, const char *url);

/* ---- workers.c ---- */

/* What a worker does with a queued request (ingest_run). */
typedef void (*ingest_work_fn)(http_server *srv, request_ctx *ctx);
ingest_workers *ingest_workers_start(http_server *srv, ingest_work_fn run, unsigned count,
                                     char *err, size_t err_cap);
/* Queues a suspended request; a worker runs `run` on it. */
void ingest_workers_submit(ingest_workers *w, request_ctx *ctx);
/* Runs what is queued, then joins the threads (their Lua states close). */
void ingest_workers_stop(ingest_workers *w);

/* ---- ingest.c ---- */

/* Hands a request whose body is read to the ingest workers, or answers
 * it once they are done with it. */
enum MHD_Result ingest_handle(http_server *srv, struct MHD_Connection *conn, request_ctx *ctx);
/* On a worker: the request from its body to the store's commit. */
void ingest_run(http_server *srv, request_ctx *ctx);
/* The client hung up before its answer: the request no longer holds up
 * http_stop_accepting. */
void ingest_forget(http_server *srv, request_ctx *ctx);

/* ---- expiry.c ---- */

/* Alerts Prometheus posted directly stay firing until their endsAt; one
 * it stopped sending resolves then. alert_expiry finds those every second
 * and runs them, resolved, through ingest on its own thread (with its own
 * Lua state), as if Prometheus had posted the resolution. */
alert_expiry *alert_expiry_start(http_server *srv, char *err, size_t err_cap);
/* Finishes the resolution under way and joins the thread. */
void alert_expiry_stop(alert_expiry *e);

/* ---- silence_cache.c ---- */

/* Reads the active silences now, then every SILENCE_REFRESH_MS on a
 * thread of its own (a failed read is logged, and tried again). NULL
 * with err when the thread cannot start. */
silence_cache *silence_cache_start(const store_location *where, char *err, size_t err_cap);
void silence_cache_stop(silence_cache *c);
/* Reads them again now: this process changed one (the API). */
void silence_cache_reload(silence_cache *c);
/* The silences in force, held until released (NULL for a NULL cache). */
silence_snapshot *silence_cache_acquire(silence_cache *c);
void silence_cache_release(silence_cache *c, silence_snapshot *snap);
/* The id of the silence that holds back an alert with these labels, or
 * NULL. */
const char *silence_snapshot_match(const silence_snapshot *snap, const labelset *labels,
                                   int64_t now_ms);

/* ---- endpoints.c ---- */

enum MHD_Result answer_healthy(struct MHD_Connection *conn);
enum MHD_Result answer_ready(http_server *srv, struct MHD_Connection *conn);
enum MHD_Result answer_reload(http_server *srv, struct MHD_Connection *conn);
enum MHD_Result answer_metrics(http_server *srv, struct MHD_Connection *conn);
enum MHD_Result answer_api(http_server *srv, struct MHD_Connection *conn, request_ctx *ctx,
                           const char *url, const char *method);

/* ---- action_page.c, action_do.c, action_html.c, action_rate.c ---- */

/* One confirmed or shown link, on the connection's thread. */
typedef struct action_request {
    http_server *srv;
    struct MHD_Connection *conn;
    const config *conf;
    store_reader *reader;
    action_token token;
    const char *who;             /* the name the form gave */
    const char *comment;         /* NULL: none */
    int64_t now_ms;
    char client[INET6_ADDRSTRLEN];
} action_request;

/* GET shows what the link does and asks who; POST does it. */
enum MHD_Result answer_action(http_server *srv, struct MHD_Connection *conn, request_ctx *ctx,
                              const char *url, const char *method);
/* Each does what a confirmed link asks, appends what came of it to
 * outcome (HTML) and posts the confirmation: 0, or -1 with err (1 with
 * err: the alerts were all acknowledged already, or are gone). */
int action_silence(action_request *a, strbuf *outcome, char *err, size_t err_cap);
int action_acknowledge(action_request *a, strbuf *outcome, char *err, size_t err_cap);
/* "2 小时" or "2h". */
void action_duration_text(int64_t ms, int english, char *out, size_t cap);
/* The token's matchers as Alertmanager's text: name="value", ... */
void action_matchers_text(const action_token *t, strbuf *out);
void html_escape(strbuf *out, const char *text);
void action_page_begin(strbuf *out, const char *title);
/* Ends and sends the page (freed), uncached and never framed. */
enum MHD_Result send_action_page(struct MHD_Connection *conn, unsigned status, strbuf *page);
enum MHD_Result send_action_refusal(struct MHD_Connection *conn, unsigned status,
                                    const char *title, const char *why);
action_rate *action_rate_new(void);
void action_rate_free(action_rate *r);
/* 1: a request from address may be served now; 0: it is over its rate. */
int action_rate_take(action_rate *r, const char *address, int64_t now_ms);

/* ---- thread_script.c ---- */

/* The calling thread's script state, loaded with generation g; NULL with
 * err set when the scripts cannot load. */
script_state *thread_script(http_server *srv, generation *g, char *err, size_t err_cap);
/* The destructor of srv->script_key. */
void thread_script_free(void *state);

#endif
