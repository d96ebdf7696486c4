/* herald plugin ABI: the only header a channel plugin includes, and the
 * whole reference for writing one (plugins/README.md shows how to build and
 * test one).
 *
 * A plugin is a pure translator: it turns a rendered message into a request
 * (prepare) and a response into a verdict (classify). It never does network
 * or file I/O, never sleeps, never retries and starts no threads; the core
 * does all of that.
 *
 * Versions. Every struct that crosses the boundary starts with
 * herald_abi_header. Fields are only ever appended, each append raises
 * HERALD_ABI_MINOR, and a field's comment names the version that added it
 * ("since 1.N"; no note: 1.0). The core refuses a plugin whose major
 * differs from its own or whose minor is newer than its own, and loads
 * older minors. Whoever reads a struct the other side filled reads a field
 * added after 1.0 only through HERALD_HAS_FIELD: the core reads a
 * plugin's herald_channel so (a missing field means the default its
 * comment names), and a plugin reads the core's herald_host and
 * herald_message so. Fields are appended in order, so finding the newest
 * host service a plugin calls means every older one is there too: check
 * it in configure and fail naming it.
 *
 * When each callback runs, and on which thread:
 *  - HERALD_PLUGIN_ENTRY: once, when the plugin is loaded, on the thread
 *    loading the configuration.
 *  - configure: once per receiver at every load of the configuration
 *    (serve's start and each reload, and every command that reads it:
 *    check, render, send-test, route, plugins), on the loading thread:
 *    the main thread, or an HTTP thread for POST /-/reload.
 *  - prepare: at every such load too (but `herald plugins`), after
 *    configure and on the same thread, against the built-in samples (a
 *    firing and a resolved alert group rendered with the receiver's
 *    template); those requests are thrown away, and a failing prepare
 *    refuses the configuration, which `herald check` reports. Then once
 *    per delivery attempt, on the dispatcher thread; `herald render`
 *    calls it on the main thread.
 *  - classify: once per completed exchange, on the dispatcher thread.
 *  - instance_needs_payload: on the loading thread after configure, and on
 *    ingest workers for each incoming alert batch.
 *  - text_budget: once per instance, on the loading thread after configure.
 *  - targets, target_key: on the dispatcher thread.
 *  - destroy: when the last holder lets go of the configuration the
 *    instance belongs to: after a reload on whichever thread that is
 *    (HTTP, dispatcher or loading thread), at exit on the main thread.
 * The dispatcher is one thread, so delivery calls never overlap one
 * another; but a reload configures and prepares new instances while the
 * dispatcher prepares for the old ones, and ingest workers ask
 * instance_needs_payload at any time. So an instance is read-only after
 * configure, and a plugin keeps no mutable global state. Every host
 * service may be called from any of these threads.
 *
 * Ownership. Everything the core passes in (option values, messages,
 * responses, the host table's strings) is borrowed for the duration of
 * the call: copy what you keep. The host table itself lives as long as
 * the process. Everything a plugin hands to the core through the host
 * table (URL, headers, body, addresses) is copied, so the plugin frees its
 * own buffers afterwards. A herald_buf belongs to whoever called buf_new
 * until buf_free; a herald_request and a herald_response belong to the
 * core. The plugin's descriptors (herald_plugin, herald_channel, option
 * specs and the strings in them) must stay valid while the plugin is
 * loaded: make them static. Instances belong to the plugin and are freed
 * by its destroy().
 */
#ifndef HERALD_PLUGIN_H
#define HERALD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HERALD_ABI_MAJOR 1
#define HERALD_ABI_MINOR 7 /* the minor of the newest field below */

/* The one symbol a plugin exports. */
#define HERALD_PLUGIN_ENTRY herald_plugin_entry
#define HERALD_PLUGIN_ENTRY_NAME "herald_plugin_entry"

#if defined(__GNUC__)
#define HERALD_EXPORT __attribute__((visibility("default")))
#define HERALD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define HERALD_EXPORT
#define HERALD_PRINTF(f, a)
#endif

typedef struct herald_abi_header {
    uint16_t major;
    uint16_t minor;
    uint32_t size; /* sizeof the whole struct this header starts */
} herald_abi_header;

#define HERALD_ABI_HEADER_INIT(type) \
    { HERALD_ABI_MAJOR, HERALD_ABI_MINOR, (uint32_t)sizeof(type) }

/* Whether *ptr, a `type` filled by the other side, is long enough to hold
 * `field`: false when the other side was built against a header older
 * than the field. The one way to read a field added after 1.0:
 *     if (!HERALD_HAS_FIELD(herald_host, host, verdict)) ... */
#define HERALD_HAS_FIELD(type, ptr, field) \
    ((size_t)(ptr)->abi.size >= offsetof(type, field) + sizeof(((const type *)0)->field))

/* ---- receiver options -------------------------------------------------- */

typedef enum herald_option_type {
    HERALD_OPTION_STRING = 1,
    HERALD_OPTION_INTEGER = 2,
    HERALD_OPTION_BOOLEAN = 3,
    HERALD_OPTION_STRING_LIST = 4,
} herald_option_type;

/* A channel declares the receiver options it accepts. The core checks
 * presence, type and unknown keys against this list (naming the key path in
 * its error) before configure() runs, so configure only checks meaning. */
typedef struct herald_option_spec {
    const char *name;
    herald_option_type type;
    int required;
    int secret;         /* never printed or logged, by the core or the plugin */
    const char *help;   /* one line, shown by `herald plugins` */
} herald_option_spec;

/* The value of one declared option, passed to configure() in the same order
 * as the channel's option specs. */
typedef struct herald_option_value {
    int present;
    const char *string;            /* HERALD_OPTION_STRING */
    long long integer;             /* HERALD_OPTION_INTEGER */
    int boolean;                   /* HERALD_OPTION_BOOLEAN */
    const char *const *list;       /* HERALD_OPTION_STRING_LIST */
    size_t list_len;
} herald_option_value;

/* ---- messages ---------------------------------------------------------- */

typedef enum herald_format {
    HERALD_FORMAT_TEXT = 1u << 0,
    HERALD_FORMAT_MARKDOWN = 1u << 1,
    HERALD_FORMAT_HTML = 1u << 2,
    HERALD_FORMAT_NATIVE = 1u << 3, /* the template built the channel's own body */
} herald_format;

typedef struct herald_mentions {
    const char *const *mobiles;
    size_t mobiles_len;
    const char *const *user_ids;
    size_t user_ids_len;
    int all;
} herald_mentions;

typedef struct herald_message {
    herald_abi_header abi;
    const char *receiver;    /* receiver name from the configuration */
    const char *status;      /* "firing" or "resolved" */
    size_t alert_count;
    herald_format format;    /* exactly one format bit */
    const char *title;       /* may be "" */
    const char *text;        /* UTF-8; for NATIVE, the body: a JSON object or array on one
                                line, serialised by the host, so always well formed */
    herald_mentions mentions;
    /* since 1.2: the request body the alerts arrived in (an Alertmanager
     * webhook or a Prometheus alert list), for channels that forward it;
     * set only for channels with needs_payload, else NULL. */
    const char *payload;
    size_t payload_len;
    /* since 1.4: which of the instance's targets (robots) to send through,
     * below targets(instance); 0 for single-target channels. */
    size_t target;
} herald_message;

/* ---- requests and responses -------------------------------------------- */

/* Opaque, owned by the core; filled by prepare() through the host table. */
typedef struct herald_request herald_request;

typedef struct herald_response {
    herald_abi_header abi;
    long status;             /* HTTP status code; for SMTP the server's reply code */
    const char *body;        /* NUL-terminated copy of the body; for SMTP the error text */
    size_t body_len;
} herald_response;

typedef enum herald_verdict_kind {
    HERALD_OK = 0,     /* delivered */
    HERALD_RETRY = 1,  /* transient (throttled, 429, 5xx): try again, after
                          retry_after_ms if > 0 */
    HERALD_FAIL = 2,   /* resending cannot help (bad token or signature, too
                          long): dead-letter the message */
} herald_verdict_kind;

typedef struct herald_verdict {
    herald_abi_header abi;
    herald_verdict_kind kind;
    long retry_after_ms;     /* 0: let the core choose the backoff */
    char reason[256];        /* the service's own words ("errcode 310000: keywords not
                                in content"), for logs and dead letters */
} herald_verdict;

/* ---- host services ----------------------------------------------------- */

typedef enum herald_log_level {
    HERALD_LOG_DEBUG = 0,
    HERALD_LOG_INFO = 1,
    HERALD_LOG_WARN = 2,
    HERALD_LOG_ERROR = 3,
} herald_log_level;

/* since 1.2 */
typedef enum herald_tls {
    HERALD_TLS_DEFAULT = 0,  /* https:// and smtps:// use TLS; smtp:// upgrades with
                                STARTTLS when the server offers it */
    HERALD_TLS_REQUIRED = 1, /* smtp://: fail unless STARTTLS succeeds */
    HERALD_TLS_NONE = 2,     /* smtp://: never STARTTLS (a local relay) */
} herald_tls;

/* A growable byte buffer owned by the core, for building bodies. */
typedef struct herald_buf herald_buf;

/* since 1.1 */
typedef enum herald_json_type {
    HERALD_JSON_ABSENT = 0, /* not JSON, or nothing at that path */
    HERALD_JSON_OBJECT,
    HERALD_JSON_ARRAY,
    HERALD_JSON_STRING,
    HERALD_JSON_NUMBER,
    HERALD_JSON_BOOLEAN,
    HERALD_JSON_NULL,
} herald_json_type;

typedef struct herald_host {
    herald_abi_header abi;

    /* Logging: `who` is a prefix such as the receiver or channel name.
     * Never log a secret option. */
    void (*log)(herald_log_level level, const char *who, const char *fmt, ...)
        HERALD_PRINTF(3, 4);

    /* Wall time in milliseconds since the epoch. Use it rather than
     * time(), so that tests can fix the clock. */
    int64_t (*now_ms)(void);

    /* Crypto and encodings. Output functions return the length written
     * (excluding the NUL), or the length needed when it does not fit in
     * `cap`, like snprintf. */
    void (*hmac_sha256)(const void *key, size_t key_len, const void *data,
                        size_t data_len, unsigned char out[32]);
    size_t (*base64_encode)(const void *data, size_t len, char *out, size_t cap);
    /* RFC 3986: unreserved characters kept, every other byte %XX. */
    size_t (*url_encode)(const char *text, char *out, size_t cap);
    /* Largest length <= max_bytes that does not split a UTF-8 sequence. */
    size_t (*utf8_prefix)(const char *text, size_t len, size_t max_bytes);

    /* Buffers: a herald_buf is the caller's from buf_new to buf_free. */
    herald_buf *(*buf_new)(void);
    void (*buf_free)(herald_buf *buf);
    void (*buf_append)(herald_buf *buf, const void *data, size_t len);
    void (*buf_printf)(herald_buf *buf, const char *fmt, ...) HERALD_PRINTF(2, 3);
    /* Appends `text` (len bytes) as a quoted JSON string; UTF-8 is kept
     * as is (so byte limits measure what is sent), control characters,
     * quotes and backslashes are escaped. */
    void (*buf_json_string)(herald_buf *buf, const char *text, size_t len);
    const char *(*buf_data)(const herald_buf *buf); /* NUL-terminated */
    size_t (*buf_len)(const herald_buf *buf);

    /* Requests (all arguments are copied). The URL scheme selects the
     * transport: http/https through libcurl, file:// appends the body and a
     * newline to that file (file:///dev/stdout for standard output). */
    void (*request_set_url)(herald_request *req, const char *url);
    /* A URL for logs, shown instead of the real one: leave out tokens and
     * signatures. Without it the core shows the URL with every query value
     * and any user:password replaced. */
    void (*request_set_log_url)(herald_request *req, const char *url);
    void (*request_add_header)(herald_request *req, const char *name, const char *value);
    void (*request_set_body)(herald_request *req, const void *body, size_t len);

    /* Response headers, case-insensitive; NULL when absent. */
    const char *(*response_header)(const herald_response *resp, const char *name);

    /* since 1.1: reads a JSON document, so plugins need no JSON library (one
     * of their own would race with the core's parser): finds the value at a
     * dotted path ("errcode", "parameters.retry_after"; "" is the document
     * itself) and returns its type. If out is non-NULL the value is written
     * there as text, cut to cap - 1 bytes: strings unquoted, numbers as
     * written, true/false/null as words, objects and arrays as compact
     * JSON. */
    herald_json_type (*json_lookup)(const char *json, size_t len, const char *path, char *out,
                                    size_t cap);

    /* since 1.2: more of the request. The method defaults to POST
     * (http/https). Auth is HTTP basic auth, or SMTP AUTH for smtp/smtps.
     * For smtp:// and smtps:// URLs the body is the RFC 5322 message (CRLF
     * line ends; the core dot-stuffs and terminates it), sent from `from`
     * to every added recipient. */
    void (*request_set_method)(herald_request *req, const char *method);
    void (*request_set_auth)(herald_request *req, const char *user, const char *password);
    void (*request_set_mail_from)(herald_request *req, const char *address);
    void (*request_add_mail_recipient)(herald_request *req, const char *address);
    void (*request_set_tls)(herald_request *req, herald_tls tls);

    /* since 1.3: where to cut a message text to keep at most max_bytes:
     * like utf8_prefix, and moved back before any markdown link or image it
     * would split (half a link renders as junk, half a URL leads nowhere). */
    size_t (*text_prefix)(const char *text, size_t len, size_t max_bytes);

    /* since 1.6: verdicts, so that every channel words and cuts its reasons
     * alike. Sets kind, retry_after_ms and the reason prefix + the first
     * text_len bytes of text, cut to fit out->reason without splitting a
     * UTF-8 character, with control characters (newlines, tabs) turned
     * into spaces so that a reason is one log line. */
    void (*verdict)(herald_verdict *out, herald_verdict_kind kind, long retry_after_ms,
                    const char *prefix, const char *text, size_t text_len);
    /* since 1.6: the Retry-After header in milliseconds: delta-seconds, or
     * an HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT") counted from now_ms();
     * 0 when absent, unreadable or past, at most one day. */
    long (*retry_after_ms)(const herald_response *resp);
    /* since 1.6: the HTTP part of classify. For a status outside 200-299 it
     * sets the verdict and returns 1: 429 and 5xx are HERALD_RETRY after
     * retry_after_ms(resp), anything else HERALD_FAIL, and the reason is
     * "HTTP <status>: " and the body's first quote_bytes (cut at a
     * character). For 2xx it returns 0 and leaves out alone: the channel
     * reads the body. */
    int (*classify_http)(const herald_response *resp, size_t quote_bytes, herald_verdict *out);
} herald_host;

/* ---- channels ---------------------------------------------------------- */

typedef struct herald_channel {
    herald_abi_header abi;
    const char *name;           /* the `channel = "…"` of a receiver */
    const char *description;
    size_t max_body_bytes;      /* 0: no limit */
    unsigned rate_per_minute;   /* default per target; 0: unlimited */
    unsigned formats;           /* herald_format bits accepted by prepare */
    const char *default_template; /* template name used when a receiver sets none */
    const herald_option_spec *options;
    size_t options_len;

    /* Returns an instance, or NULL with a message in err naming the option
     * ("url: must start with https://"). The values are in the order of
     * `options`; the core has checked presence and types, so configure
     * checks meaning, and copies what it keeps. */
    void *(*configure)(const herald_host *host, const char *receiver,
                       const herald_option_value *values, char *err, size_t err_cap);
    /* Sets at least the URL and the body of req through the host table.
     * Returns 0, or -1 with a message in err (the message is
     * dead-lettered). */
    int (*prepare)(void *instance, const herald_message *msg, herald_request *req,
                   char *err, size_t err_cap);
    /* Called for completed exchanges (and SMTP replies of 400 or more);
     * connection errors and timeouts never reach it: the core retries them. */
    void (*classify)(void *instance, const herald_response *resp, herald_verdict *out);
    void (*destroy)(void *instance);
    /* since 1.2: set to have herald_message.payload filled (the webhook
     * channel). Absent: 0. */
    int needs_payload;

    /* since 1.4, optional (NULL or absent: one target): a receiver may
     * spread its messages over several targets (robots), each with its own
     * rate limit; the core picks one per message and passes it as
     * herald_message.target. */
    size_t (*targets)(void *instance);
    /* since 1.4, optional: a key naming target `index` (such as its URL),
     * so that receivers sending to the same robot share its rate limit.
     * Kept in memory only, never logged. NULL or absent: each receiver's
     * targets are its own. */
    void (*target_key)(void *instance, size_t index, char *out, size_t cap);
    /* since 1.4, optional: how many bytes of text one message can carry;
     * the core keeps digests (several queued messages merged into one)
     * within it. NULL or absent: three quarters of max_body_bytes. */
    size_t (*text_budget)(void *instance);
    /* since 1.5, optional, with needs_payload: whether this instance
     * forwards the payload (the core keeps a copy per message only for
     * those). NULL or absent: every instance does. */
    int (*instance_needs_payload)(void *instance);
    /* since 1.7: default per target, on top of rate_per_minute (Feishu: 100
     * a minute and 5 a second); 0 or absent: no per-second limit. */
    unsigned rate_per_second;
} herald_channel;

typedef struct herald_plugin {
    herald_abi_header abi;
    const char *name;
    const char *version;
    const herald_channel *const *channels;
    size_t channels_len;
} herald_plugin;

typedef const herald_plugin *(*herald_plugin_entry_fn)(void);

/* Every plugin defines this, and exports nothing else. */
HERALD_EXPORT const herald_plugin *HERALD_PLUGIN_ENTRY(void);

#ifdef __cplusplus
}
#endif

#endif
