/* Who may hold a connection, and for how long a request may take to
 * arrive.
 *
 * libmicrohttpd's own per-IP limit refuses without saying who (one log
 * line per refusal, no address), and its only timeout counts inactivity,
 * which a client sending a header line every few seconds never reaches.
 * So the limits are checked here, in its accept policy, and every
 * connection has an entry that records where its request stands: its
 * head, its body, or being answered. A sweeper thread shuts down the
 * socket of a connection whose head or body is overdue; libmicrohttpd
 * then sees the end of the stream and closes it as usual. */
#include "http/server_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/fdlimit.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/thread_name.h"

#define ADDRESS_BUCKETS 4096
/* Sized from the file descriptors, but no more than this: at up to
 * libmicrohttpd's 32 KiB per connection that is 512 MiB, more than a
 * notification router should ever hold. */
#define AUTO_MAX_CONNECTIONS 16384
/* A flood must not flood the log: one line per kind per interval. */
#define REPORT_INTERVAL_MS 10000

typedef struct address {
    unsigned char key[16];
    size_t key_len;
    unsigned open; /* its connections, the one reserved by conn_admit included */
    char text[INET6_ADDRSTRLEN];
    struct address *next; /* in its bucket */
} address;

typedef enum conn_phase {
    PHASE_HEAD,      /* waiting for a request's head */
    PHASE_BODY,      /* reading its body */
    PHASE_ANSWERING, /* read: being answered, or suspended while the store commits */
    PHASE_CLOSING,   /* overdue: its socket was shut down */
} conn_phase;

struct conn_entry {
    conn_table *table;
    address *from;
    int fd;
    conn_phase phase;
    int64_t since_ms; /* when it entered the phase */
    conn_entry *prev, *next;
};

/* The connections in one timed phase, oldest first: they share one
 * timeout, so the first is always the next to be due. */
typedef struct waiting_list {
    conn_entry *first, *last;
    int64_t timeout_ms;
} waiting_list;

typedef struct report {
    int64_t next_ms;
    unsigned long unreported;
} report;

struct conn_table {
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t wake;
    pthread_t sweeper;
    int stopping;
    unsigned max, per_address;
    size_t open;
    address *buckets[ADDRESS_BUCKETS];
    waiting_list waiting[2]; /* PHASE_HEAD, PHASE_BODY */
    report refused, overdue[2];
};

/* conn_admit counts a connection it lets through at once, so that two
 * threads accepting from one address cannot both take its last place;
 * the STARTED notification that follows in the same thread takes the
 * count over. libmicrohttpd may still drop the connection in between
 * (out of memory): the next conn_admit in the thread gives it back. */
static _Thread_local struct {
    conn_table *table;
    address *from;
} reserved;

static size_t address_key(const struct sockaddr *sa, unsigned char key[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 16;
    }
    return 0;
}

static void address_text(const struct sockaddr *sa, const unsigned char *key, size_t key_len,
                         char out[INET6_ADDRSTRLEN])
{
    if (key_len == 0 || !inet_ntop(sa->sa_family, key, out, INET6_ADDRSTRLEN))
        snprintf(out, INET6_ADDRSTRLEN, "an unknown address");
}

static address **bucket_of(conn_table *t, const unsigned char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ key[i]) * 16777619u;
    return &t->buckets[h % ADDRESS_BUCKETS];
}

static address *address_find(conn_table *t, const struct sockaddr *sa, int add)
{
    unsigned char key[16];
    size_t len = address_key(sa, key);
    address **slot = bucket_of(t, key, len);
    for (address *a = *slot; a; a = a->next)
        if (a->key_len == len && memcmp(a->key, key, len) == 0)
            return a;
    if (!add)
        return NULL;
    address *a = xcalloc(1, sizeof *a);
    memcpy(a->key, key, len);
    a->key_len = len;
    address_text(sa, key, len, a->text);
    a->next = *slot;
    *slot = a;
    return a;
}

static void address_release(conn_table *t, address *a)
{
    t->open--;
    if (--a->open)
        return;
    address **p = bucket_of(t, a->key, a->key_len);
    while (*p != a)
        p = &(*p)->next;
    *p = a->next;
    free(a);
}

static void release_reservation(void)
{
    if (reserved.table) {
        address_release(reserved.table, reserved.from);
        reserved.table = NULL;
    }
}

/* Whether a log line is due; otherwise the event is counted for the
 * next one. */
static int report_due(report *r, int64_t now, unsigned long *unreported)
{
    if (now < r->next_ms) {
        r->unreported++;
        return 0;
    }
    *unreported = r->unreported;
    r->unreported = 0;
    r->next_ms = now + REPORT_INTERVAL_MS;
    return 1;
}

static void and_more(char *out, size_t cap, unsigned long unreported)
{
    if (unreported)
        snprintf(out, cap, " (and %lu more since the last report)", unreported);
    else
        out[0] = '\0';
}

enum MHD_Result conn_admit(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addrlen;
    conn_table *t = cls;
    char line[320] = "", more[64];
    unsigned long unreported;
    pthread_mutex_lock(&t->lock);
    release_reservation();
    address *a = address_find(t, addr, 0);
    metric refused = METRIC_COUNT;
    if (t->open >= t->max) {
        refused = METRIC_CONNECTIONS_REFUSED_LIMIT;
        if (report_due(&t->refused, mono_ms(), &unreported)) {
            unsigned char key[16];
            size_t key_len = address_key(addr, key);
            char from[INET6_ADDRSTRLEN];
            address_text(addr, key, key_len, from);
            and_more(more, sizeof more, unreported);
            snprintf(line, sizeof line,
                     "refusing a connection from %s: %zu are open, the limit "
                     "(connections.max)%s",
                     from, t->open, more);
        }
    } else if (a && a->open >= t->per_address) {
        refused = METRIC_CONNECTIONS_REFUSED_PER_ADDRESS;
        if (report_due(&t->refused, mono_ms(), &unreported)) {
            and_more(more, sizeof more, unreported);
            snprintf(line, sizeof line,
                     "refusing a connection from %s: it has %u open, the limit per address "
                     "(connections.per_address)%s",
                     a->text, a->open, more);
        }
    } else {
        a = a ? a : address_find(t, addr, 1);
        a->open++;
        t->open++;
        reserved.table = t;
        reserved.from = a;
    }
    pthread_mutex_unlock(&t->lock);
    if (refused == METRIC_COUNT)
        return MHD_YES;
    metrics_count(refused);
    if (line[0])
        log_warn("http", "%s", line);
    return MHD_NO;
}

static void list_append(waiting_list *w, conn_entry *e)
{
    e->prev = w->last;
    e->next = NULL;
    if (w->last)
        w->last->next = e;
    else
        w->first = e;
    w->last = e;
}

static void list_remove(waiting_list *w, conn_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        w->first = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        w->last = e->prev;
    e->prev = e->next = NULL;
}

static int is_timed(conn_phase phase) { return phase == PHASE_HEAD || phase == PHASE_BODY; }

static void enter_phase(conn_table *t, conn_entry *e, conn_phase phase)
{
    if (is_timed(e->phase))
        list_remove(&t->waiting[e->phase], e);
    e->phase = phase;
    e->since_ms = mono_ms();
    if (is_timed(phase))
        list_append(&t->waiting[phase], e);
}

static void connection_started(conn_table *t, struct MHD_Connection *conn, void **socket_context)
{
    conn_entry *e = xcalloc(1, sizeof *e);
    e->table = t;
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    e->fd = fd ? fd->connect_fd : -1;
    e->phase = PHASE_ANSWERING; /* in no list yet */
    pthread_mutex_lock(&t->lock);
    if (reserved.table == t) {
        e->from = reserved.from;
        reserved.table = NULL;
    } else {
        /* Not admitted by conn_admit (none is installed without it):
         * counted all the same, so CLOSED can give it back. */
        const union MHD_ConnectionInfo *client =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        struct sockaddr unknown = {.sa_family = AF_UNSPEC};
        e->from = address_find(t, client ? client->client_addr : &unknown, 1);
        e->from->open++;
        t->open++;
    }
    enter_phase(t, e, PHASE_HEAD);
    pthread_mutex_unlock(&t->lock);
    *socket_context = e;
}

/* libmicrohttpd calls CLOSED before it closes the socket: once the entry
 * is gone, the sweeper can no longer shut down a descriptor that the
 * kernel may hand to another connection. */
static void connection_closed(conn_table *t, void **socket_context)
{
    conn_entry *e = *socket_context;
    if (!e)
        return;
    pthread_mutex_lock(&t->lock);
    if (is_timed(e->phase))
        list_remove(&t->waiting[e->phase], e);
    address_release(t, e->from);
    pthread_mutex_unlock(&t->lock);
    free(e);
    *socket_context = NULL;
}

void conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        connection_started(cls, conn, socket_context);
    else
        connection_closed(cls, socket_context);
}

static void move_to(struct MHD_Connection *conn, conn_phase phase)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_entry *e = info ? info->socket_context : NULL;
    if (!e)
        return;
    conn_table *t = e->table;
    pthread_mutex_lock(&t->lock);
    if (e->phase != PHASE_CLOSING && e->phase != phase)
        enter_phase(t, e, phase);
    pthread_mutex_unlock(&t->lock);
}

void conn_reading_body(struct MHD_Connection *conn) { move_to(conn, PHASE_BODY); }

void conn_answering(struct MHD_Connection *conn) { move_to(conn, PHASE_ANSWERING); }

void conn_request_done(struct MHD_Connection *conn) { move_to(conn, PHASE_HEAD); }

/* Shuts down what is overdue in one phase; fills line when a report is
 * due. The caller holds the lock. */
static void expire(conn_table *t, conn_phase phase, int64_t now, char *line, size_t cap)
{
    waiting_list *w = &t->waiting[phase];
    conn_entry *e;
    while ((e = w->first) && now - e->since_ms >= w->timeout_ms) {
        list_remove(w, e);
        e->phase = PHASE_CLOSING;
        shutdown(e->fd, SHUT_RDWR);
        metrics_count(phase == PHASE_HEAD ? METRIC_CONNECTIONS_HEAD_OVERDUE
                                          : METRIC_CONNECTIONS_BODY_OVERDUE);
        unsigned long unreported;
        if (!report_due(&t->overdue[phase], now, &unreported))
            continue;
        char more[64];
        and_more(more, sizeof more, unreported);
        snprintf(line, cap,
                 phase == PHASE_HEAD
                     ? "closed a connection from %s: no complete request head within %lld ms "
                       "(connections.head_timeout)%s"
                     : "closed a connection from %s: the request body was not complete within "
                       "%lld ms of its head (connections.body_timeout)%s",
                 e->from->text, (long long)w->timeout_ms, more);
    }
}

static void *sweep(void *arg)
{
    thread_name("conn-sweeper");
    conn_table *t = arg;
    int64_t shortest = t->waiting[PHASE_HEAD].timeout_ms < t->waiting[PHASE_BODY].timeout_ms
                           ? t->waiting[PHASE_HEAD].timeout_ms
                           : t->waiting[PHASE_BODY].timeout_ms;
    /* A connection is closed at most a tenth of its timeout late. */
    int64_t tick_ms = shortest / 10 < 1000 ? shortest / 10 : 1000;
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        char lines[2][320] = {"", ""};
        int64_t now = mono_ms();
        expire(t, PHASE_HEAD, now, lines[0], sizeof lines[0]);
        expire(t, PHASE_BODY, now, lines[1], sizeof lines[1]);
        pthread_mutex_unlock(&t->lock);
        for (int i = 0; i < 2; i++)
            if (lines[i][0])
                log_warn("http", "%s", lines[i]);
        int64_t until = now + tick_ms;
        struct timespec at = {(time_t)(until / 1000), (long)(until % 1000) * 1000000};
        pthread_mutex_lock(&t->lock);
        if (!t->stopping)
            pthread_cond_timedwait(&t->wake, &t->lock, &at);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

conn_table *conn_table_start(const connection_settings *cs, size_t reserved_fds, char *err,
                             size_t err_cap)
{
    size_t fds = fd_limit_raise();
    size_t budget = fds > reserved_fds ? fds - reserved_fds : 0;
    unsigned max = cs->max;
    if (max && max > budget) {
        fail(err, err_cap,
             "connections.max: %u connections need %zu file descriptors, and the limit is %zu "
             "(RLIMIT_NOFILE): raise it (LimitNOFILE= in the systemd unit) or lower "
             "connections.max",
             max, max + reserved_fds, fds);
        return NULL;
    }
    if (!max)
        max = budget > AUTO_MAX_CONNECTIONS ? AUTO_MAX_CONNECTIONS : (unsigned)budget;
    if (max < 16) {
        fail(err, err_cap,
             "connections: the file-descriptor limit (RLIMIT_NOFILE) is %zu, too few to serve "
             "(herald keeps %zu for the store and deliveries): raise it (LimitNOFILE= in the "
             "systemd unit)",
             fds, reserved_fds);
        return NULL;
    }
    conn_table *t = xcalloc(1, sizeof *t);
    t->max = max;
    t->per_address = cs->per_address;
    t->waiting[PHASE_HEAD].timeout_ms = cs->head_timeout_ms;
    t->waiting[PHASE_BODY].timeout_ms = cs->body_timeout_ms;
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&t->sweeper, NULL, sweep, t);
    if (rc) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        fail_errno(err, err_cap, rc, "connections: cannot start the sweeper thread");
        return NULL;
    }
    log_info("http", "accepting up to %u connections, %u per address (%zu file descriptors)", max,
             t->per_address, fds);
    return t;
}

unsigned conn_table_max(const conn_table *t) { return t->max; }

size_t conn_table_open(conn_table *t)
{
    pthread_mutex_lock(&t->lock);
    size_t open = t->open;
    pthread_mutex_unlock(&t->lock);
    return open;
}

void conn_table_stop(conn_table *t)
{
    pthread_mutex_lock(&t->lock);
    t->stopping = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->sweeper, NULL);
    /* The daemon has stopped: every connection's CLOSED has run. What is
     * left are reservations of connections libmicrohttpd dropped. */
    for (size_t i = 0; i < ADDRESS_BUCKETS; i++)
        while (t->buckets[i]) {
            address *next = t->buckets[i]->next;
            free(t->buckets[i]);
            t->buckets[i] = next;
        }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
